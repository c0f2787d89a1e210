#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `scale postgres|redis|pooler --replicas N [--target T] [--cloud C] [--timeout D]`.
void setup_scale(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

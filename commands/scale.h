#pragma once

#include <CLI/CLI.hpp>

#include "commands/context.h"

namespace statectl::commands {

// `scale postgres|redis|pooler --replicas N [--target T] [--cloud C] [--timeout D]`.
void setup_scale(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

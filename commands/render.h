#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `render --target compose|k8s|terraform [--cloud C] [--out DIR] [--templates DIR]`.
void setup_render(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

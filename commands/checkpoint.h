#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `checkpoint create [--name N] | list | restore ID`: snapshots of a backend's whole key space.
void setup_checkpoint(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

#pragma once

#include <CLI/CLI.hpp>

#include "commands/context.h"

namespace statectl::commands {

// `checkpoint create [--name N] | list | restore ID`: snapshots of a backend's whole key space.
void setup_checkpoint(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `restore --to DIR [--backup ID] [target] [--start [--port P]]`: point-in-time restore into a new
// data directory (or, with --backend redis, an RDB file for a fresh server).
void setup_restore(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `wal push PATH` / `wal fetch NAME DEST`: archive_command and restore_command.
void setup_wal(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

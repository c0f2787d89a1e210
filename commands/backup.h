#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `backup create|list|info|verify|prune`: physical and logical PostgreSQL backups, Redis
// snapshots, retention.
void setup_backup(CLI::App& sub, Context& ctx);

// The absolute path of the running statectl binary (for archive_command / restore_command).
std::string self_path();

} // namespace statectl::commands

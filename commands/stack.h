#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// deploy, destroy, status, psql and redis-cli: the stack commands of CLI.md.
void setup_deploy(CLI::App& sub, Context& ctx);
void setup_destroy(CLI::App& sub, Context& ctx);
void setup_status(CLI::App& sub, Context& ctx);
void setup_psql(CLI::App& sub, Context& ctx);
void setup_redis_cli(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

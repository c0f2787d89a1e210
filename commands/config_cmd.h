#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `config show [--origin]` and `config validate`.
void setup_config(CLI::App& sub, Context& ctx);

// `init [--target T] [--force] [--file F]`: writes a commented statectl.toml.
void setup_init(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

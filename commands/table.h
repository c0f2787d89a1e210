#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "commands/context.h"

namespace statectl::commands {

// One row of the command table (ninja's subtool table): help, completions and the man page are
// all generated from the CLI11 tree these rows build, so they cannot drift apart.
struct CommandSpec {
  std::string name;
  std::string description;
  std::string group;      // help section: "Stack", "State", "Data protection", ...
  bool needs_backend;     // gets --backend postgres|redis
  // Adds the command's flags, nested subcommands and callback to `sub`.
  std::function<void(CLI::App& sub, Context& ctx)> setup;
};

// Every command, in help order.
const std::vector<CommandSpec>& command_table();

// Builds the whole CLI11 tree: global options of CLI.md plus every command of the table.
void build_app(CLI::App& app, Context& ctx);

// Names of the direct subcommands of app (for "did you mean").
std::vector<std::string> subcommand_names(const CLI::App& app);

} // namespace statectl::commands

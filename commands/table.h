#pragma once

#include <functional>
#include <string>
#include <vector>

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

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

// Builds the CLI11 tree: global options of CLI.md plus every command of the table, or only the
// command named `only` when it is not empty (see command_word()).
void build_app(CLI::App& app, Context& ctx, const std::string& only = {});

// The command args run when the tree of that command alone parses them exactly as the whole
// tree would: the first word that is not a global option or its value names a command, no other
// word names one (CLI11 would chain it as a second command), no help flag is given and the
// command is not `completion` (which walks the whole tree). Empty otherwise. Building one
// command instead of all of them is most of statectl's own start-up work for a short call.
std::string command_word(const std::vector<std::string>& args);

// Names of the direct subcommands of app (for "did you mean").
std::vector<std::string> subcommand_names(const CLI::App& app);

} // namespace statectl::commands

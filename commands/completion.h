#pragma once

#include <string>
#include <vector>

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `completion bash|zsh|fish` (and the hidden `completion man` the build uses for statectl.1).
void setup_completion(CLI::App& sub, Context& ctx);

// One command of the tree, flattened for the generators.
struct CompletionNode {
  std::vector<std::string> path; // {"statectl", "config", "show"}
  std::string description;
  std::vector<std::pair<std::string, std::string>> subcommands; // name, description
  struct Flag {
    std::vector<std::string> names; // "--output", "-o"
    std::string description;
    bool takes_value = false;
    std::vector<std::string> choices;
  };
  std::vector<Flag> flags; // including inherited global options
  std::vector<std::string> arguments; // allowed values of the command's positional argument
  // Root only: options a command takes that are also accepted before it (--backend).
  std::vector<Flag> leading;
};

// Flattens the CLI11 tree (hidden subcommands skipped), parents before children.
std::vector<CompletionNode> completion_tree(const CLI::App& app);

std::string generate_bash(const CLI::App& app);
std::string generate_zsh(const CLI::App& app);
std::string generate_fish(const CLI::App& app);
// A man page (roff) with every command, option and the exit codes.
std::string generate_man(const CLI::App& app);
// The man page's ENVIRONMENT, FILES, EXAMPLES and SEE ALSO sections (from the config key table
// and the command examples).
std::string generate_man_tail();

} // namespace statectl::commands

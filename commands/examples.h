#pragma once

#include <map>
#include <string>
#include <vector>

namespace statectl::commands {

// Example command lines per command path ("backup create", "" for statectl itself). build_app
// appends them to each command's --help as an "Examples:" block and the man page lists them
// in EXAMPLES, so every help text and the man page show the same ones.
const std::map<std::string, std::vector<std::string>>& command_examples();

} // namespace statectl::commands

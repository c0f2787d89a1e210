#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `version [-o json]`: statectl version, git commit, compiler and linked library versions.
void setup_version(CLI::App& sub, Context& ctx);

// What `version` reports: statectl's version, git commit, compiler and linked libraries.
struct VersionInfo {
  std::string version;
  std::string git_commit;
  std::string compiler;
  std::string templates_dir; // where the built-in templates were found; empty = none
  std::map<std::string, std::string> libraries; // name -> version
};

// The version of this binary and of the libraries it links (also used by tests).
VersionInfo version_info();

void to_json(nlohmann::json& j, const VersionInfo& v);
// "statectl V (commit C, COMPILER)" and the LIBRARY / VERSION table.
std::string to_text(const VersionInfo& v);

} // namespace statectl::commands

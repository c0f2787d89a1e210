#pragma once

#include <nlohmann/json_fwd.hpp>

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `version [-o json]`: statectl version, git commit, compiler and linked library versions.
void setup_version(CLI::App& sub, Context& ctx);

// The version document (also used by tests).
nlohmann::json version_info();

} // namespace statectl::commands

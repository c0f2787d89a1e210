#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands/context.h"

namespace statectl::commands {

// `version [-o json]`: statectl version, git commit, compiler and linked library versions.
void setup_version(CLI::App& sub, Context& ctx);

// The version document (also used by tests).
nlohmann::json version_info();

} // namespace statectl::commands

#pragma once

#include <CLI/CLI.hpp>

#include "commands/context.h"

namespace statectl::commands {

// `secrets generate|tls|list|get|rotate|push|keygen`: the secret store (core/secrets).
void setup_secrets(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

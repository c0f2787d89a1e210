#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `secrets generate|tls|list|get|rotate|push|keygen`: the secret store (core/secrets).
void setup_secrets(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

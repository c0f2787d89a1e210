#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `failover test|switchover|promote`: measure RTO and lost acknowledged writes under an injected
// primary failure, planned role changes, and the bare-mode promotion runbook.
void setup_failover(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `capacity plan|check|bench`: sizing math from the pgtune formulas and the seed tiers, live
// checks of the deployed stack with Nagios exit codes, and a load generator on the state backend.
void setup_capacity(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

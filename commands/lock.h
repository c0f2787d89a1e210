#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `lock NAME [--ttl D] [--wait D] [--grace D] -- CMD [ARG...]`: run CMD while holding a fenced lease.
void setup_lock(CLI::App& sub, Context& ctx);
// `locks`: current holders.
void setup_locks(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

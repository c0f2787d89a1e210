#pragma once

#include "commands/context.h"

namespace CLI {
class App;
} // namespace CLI

namespace statectl::commands {

// `get KEY`: the raw value on stdout; exit 1 when absent.
void setup_get(CLI::App& sub, Context& ctx);
// `put KEY [VALUE|-] [--ttl D] [--metadata JSON] [--if-absent]` and `put --batch FILE|- [--format tsv|ndjson]`.
void setup_put(CLI::App& sub, Context& ctx);
// `del KEY...`.
void setup_del(CLI::App& sub, Context& ctx);
// `keys [--prefix P] [--limit N]`.
void setup_keys(CLI::App& sub, Context& ctx);
// `ttl KEY`: remaining lifetime; exit 1 when absent.
void setup_ttl(CLI::App& sub, Context& ctx);
// `gc`: delete expired entries (PostgreSQL; Redis expires natively).
void setup_gc(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

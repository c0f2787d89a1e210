#pragma once

#include <memory>

#include "core/config/config_fwd.h"
#include "core/state/backend.h"

namespace statectl::state {

// The Redis backend: the value of KEY is a plain string at <key_prefix>KEY (so `redis-cli GET`
// returns it) with a native TTL; its metadata and last-write time live beside it at
// statectl#<key_prefix>meta:KEY with the same TTL. Leases, tokens and checkpoints use the same
// statectl#<key_prefix> namespace. The master is the one Sentinel reports, when Sentinels are
// configured.
// With [redis] mode = "cluster" it is make_redis_cluster_backend()'s.
std::unique_ptr<Backend> make_redis_backend(const config::Config& cfg);

// The Redis backend on a Redis Cluster: the same keys and exit codes, routed by slot (MOVED and
// ASK followed), internal keys hash-tagged into their user key's slot, `keys`, `locks` and
// checkpoints across every master (checkpoints are not one atomic snapshot there).
std::unique_ptr<Backend> make_redis_cluster_backend(const config::Config& cfg);

// The internal key namespace for a key prefix.
std::string redis_internal_prefix(const std::string& key_prefix);

// Escapes the glob characters of a Redis MATCH/KEYS pattern.
std::string redis_glob_escape(const std::string& text);

} // namespace statectl::state

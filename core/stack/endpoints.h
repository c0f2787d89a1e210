#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/config/config.h"

namespace statectl::stack {

// The address types live with the clients that connect to them (core/clients sits below stack).
using clients::HostPort;
using clients::PgEndpoint;

// The addresses statectl's commands use: those of the target the config names ([project]
// target, which --target sets; see core/targets/target.h, Target::endpoints), overridden by the
// external ones from [postgres] url / [redis] url / [redis] sentinel_addrs. A port of 0 means the
// target has no such server (e.g. no standby).
struct Endpoints {
  PgEndpoint pooler;                 // the clients' path: PgBouncer (or postgres.url)
  PgEndpoint primary;                // direct to the current primary (HAProxy rw port in patroni mode)
  std::vector<PgEndpoint> replicas;  // direct to each standby
  std::vector<HostPort> sentinels;   // empty in standalone mode
  std::string master_name;           // Sentinel master name
  // The announced Redis addresses -> the published ones (compose asks the engine, so only when
  // called: commands that do not talk to Redis never run it); unset = addresses as announced.
  std::function<clients::AddressMap()> redis_nat;
  HostPort redis;                    // the configured master (first guess; ask Sentinel when present)
  std::vector<HostPort> redis_cluster; // [redis] mode = "cluster": the nodes (seeds of the slot map)
  std::string redis_url;             // [redis] url when configured
  std::string redis_password_secret; // "redis"
  clients::ClientTls redis_tls;      // how the Redis servers and Sentinels are reached (TLS or not)
  bool redis_files_local = false;    // the Redis servers are processes of this machine whose files statectl reads (local)
  std::string unavailable;           // why the target gave no addresses (only one server named by URL)
};

// The address map of e.redis_nat, or an empty one when the target announces reachable addresses.
inline clients::AddressMap redis_address_map(const Endpoints& e) { return e.redis_nat ? e.redis_nat() : clients::AddressMap{}; }

// Resolves the endpoints of the current config through its target. Throws Error(usage) when that
// target has nothing deployed to reach; never falls back to another target's addresses.
Endpoints resolve(const config::Config& cfg);

} // namespace statectl::stack

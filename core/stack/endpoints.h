#pragma once

#include <string>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/config/config.h"

namespace statectl::stack {

// The address types live with the clients that connect to them (core/clients sits below stack).
using clients::HostPort;
using clients::PgEndpoint;

// The addresses statectl's commands use: the local stack's (from [local] ports and the state
// the local target recorded, e.g. which member is primary after a failover) or the external
// ones from [postgres] url / [redis] url / [redis] sentinel_addrs.
struct Endpoints {
  PgEndpoint pooler;                 // the clients' path: PgBouncer (or postgres.url)
  PgEndpoint primary;                // direct to the current primary (HAProxy rw port in patroni mode)
  std::vector<PgEndpoint> replicas;  // direct to each standby
  std::vector<HostPort> sentinels;   // empty in standalone mode
  std::string master_name;           // Sentinel master name
  HostPort redis;                    // the configured master (first guess; ask Sentinel when present)
  std::string redis_url;             // [redis] url when configured
  std::string redis_password_secret; // "redis"
};

// Resolves the endpoints of the current config.
Endpoints resolve(const config::Config& cfg);

} // namespace statectl::stack

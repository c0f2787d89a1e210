#pragma once

#include <string>
#include <vector>

#include "core/config/config.h"

namespace statectl::stack {

// One PostgreSQL address with the role and database to use. The password is never part of a
// connection string that could be logged: callers pass it to libpq separately (PGPASSWORD in a
// child's environment, or a 0600 passfile).
struct PgEndpoint {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user;
  std::string database;
  std::string password_secret; // name in the secret store ("postgres"), empty = none
  std::string url;             // set instead of host/port when [postgres] url is configured
};

struct HostPort {
  std::string host = "127.0.0.1";
  int port = 0;
};

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
  HostPort redis;                    // the configured master (first guess; ask Sentinel when present)
  std::string redis_url;             // [redis] url when configured
  std::string redis_password_secret; // "redis"
  std::string unavailable;           // why the target gave no addresses (only one server named by URL)
};

// Resolves the endpoints of the current config through its target. Throws Error(usage) when that
// target has nothing deployed to reach; never falls back to another target's addresses.
Endpoints resolve(const config::Config& cfg);

} // namespace statectl::stack

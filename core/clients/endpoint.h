#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"

namespace statectl::clients {

// How a client secures its link to a server of the stack: off (plain text), or TLS that
// verifies the server's certificate against ca_file only (CA pinning) and its name (the host
// connected to, or server_name when set). Filled by the target that knows how its servers run.
struct ClientTls {
  bool enabled = false;
  std::string ca_file;     // PEM CA the server's certificate must chain to
  std::string server_name; // name (or IP) to verify instead of the host; empty = the host
};

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
  ClientTls tls;               // enabled: sslmode=verify-full with tls.ca_file as sslrootcert
};

// One host and port (a Redis server or Sentinel).
struct HostPort {
  std::string host = "127.0.0.1";
  int port = 0;
};

// Addresses as servers announce them ("host:port": a container's name or address that a Sentinel
// inside a container network reports) mapped to where this machine reaches them (a published
// loopback port), as ioredis's natMap. Empty: announced addresses are used as they are.
using AddressMap = std::map<std::string, HostPort>;

// Where this machine reaches host:port under map: the mapped address, or host:port itself when
// the map is empty; nullopt when the map is not empty and has no entry (the server is not
// published: connecting to the announced address would reach something else or nothing).
std::optional<HostPort> map_address(const AddressMap& map, const std::string& host, int port);

// The addresses statectl's commands use: those of the target the config names ([project]
// target, which --target sets; see core/targets/target.h, Target::endpoints), overridden by the
// external ones from [postgres] url / [redis] url / [redis] sentinel_addrs. A port of 0 means the
// target has no such server (e.g. no standby).
struct Endpoints {
  PgEndpoint pooler;                 // the clients' path: PgBouncer (or postgres.url)
  PgEndpoint primary;                // direct to the current primary (HAProxy rw port in patroni mode)
  std::vector<PgEndpoint> replicas;  // direct to each standby
  // The state commands' PostgreSQL login when it is a client certificate (the local stack with
  // TLS): user, certificate and key files (0600) for libpq's sslcert/sslkey, no password. Empty:
  // they log in as pooler.user with its password.
  std::string pg_app_user;
  std::string pg_app_cert;
  std::string pg_app_key;
  std::vector<HostPort> sentinels;   // empty in standalone mode
  std::string master_name;           // Sentinel master name
  // The announced Redis addresses -> the published ones (compose asks the engine, so only when
  // called: commands that do not talk to Redis never run it); unset = addresses as announced.
  std::function<AddressMap()> redis_nat;
  HostPort redis;                    // the configured master (first guess; ask Sentinel when present)
  std::vector<HostPort> redis_cluster; // [redis] mode = "cluster": the nodes (seeds of the slot map)
  std::string redis_url;             // [redis] url when configured
  std::string redis_password_secret; // "redis": the operational (admin) login
  // The ACL user operational commands log in as with redis_password_secret (status, capacity,
  // failover, backup, redis-cli, rotation); empty = the default user (AUTH <password>).
  std::string redis_user;
  // The state commands' login (get/put/del/keys/ttl/lock/checkpoint): an ACL user limited to
  // [state] key_prefix and its password's secret; empty = the operational login above.
  std::string redis_app_user;
  std::string redis_app_password_secret;
  ClientTls redis_tls;               // how the Redis servers and Sentinels are reached (TLS or not)
  bool redis_files_local = false;    // the Redis servers are processes of this machine whose files statectl reads (local)
  std::string unavailable;           // why the target gave no addresses (only one server named by URL)
};

// The address map of e.redis_nat, or an empty one when the target announces reachable addresses.
inline AddressMap redis_address_map(const Endpoints& e) { return e.redis_nat ? e.redis_nat() : AddressMap{}; }

// Where the addresses of a config's target come from. The targets (core/targets/) sit above
// every operation that connects, so they are handed down instead of included: the command layer
// installs targets::endpoints_of once at start (commands/app.cpp).
using EndpointSource = std::function<Endpoints(const config::Config&)>;
void set_endpoint_source(EndpointSource source);

// Resolves the endpoints of the current config through its target. Throws Error(usage) when that
// target has nothing deployed to reach; never falls back to another target's addresses.
Endpoints resolve_endpoints(const config::Config& cfg);

} // namespace statectl::clients

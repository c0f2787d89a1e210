#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clients/endpoint.h"

namespace statectl::local {

// Connection details for a probe; the password goes to libpq/hiredis directly, never to argv.
struct ProbeAuth {
  std::string user;
  std::string password;
  std::string database = "postgres";
  std::chrono::milliseconds timeout{2000};
  clients::ClientTls tls; // the stack's client_tls()
};

// One standby as the primary's pg_stat_replication sees it.
struct PgReplica {
  std::string application_name;
  std::string state;      // streaming, catchup, ...
  std::string sync_state; // sync, quorum, potential, async
  std::int64_t lag_bytes = 0;
};

// What one query to a PostgreSQL server (or PgBouncer / HAProxy in front of one) tells.
struct PgProbe {
  bool ok = false;
  std::string error;
  bool in_recovery = false;
  std::string version;     // server_version
  std::string tls_protocol; // "TLSv1.3", empty when the link is plain text
  std::string receive_lsn; // standby: last replayed LSN
  std::vector<PgReplica> replicas; // primary: pg_stat_replication
};

// Connects to 127.0.0.1:port and asks for recovery state, version and (on a primary)
// replication; with `simple` only SELECT 1-level questions (PgBouncer, HAProxy).
PgProbe probe_postgres(int port, const ProbeAuth& auth, bool with_replication);

// PgBouncer's own version ("1.18.0"), from SHOW VERSION on its admin console (database
// "pgbouncer", auth.user must be one of its admin_users); empty when it cannot be asked.
std::string pgbouncer_version(int port, const ProbeAuth& auth);

// What INFO tells about a Redis server, or a Sentinel's view of the master.
struct RedisProbe {
  bool ok = false;
  std::string error;
  std::string role;     // master / slave (server), sentinel
  std::string version;
  bool link_up = false; // replica: master_link_status:up
  int master_port = 0;  // replica: its master; sentinel: the master it reports
  std::int64_t offset = 0; // master_repl_offset / slave_repl_offset
  std::map<int, std::int64_t> replica_offsets; // master: port -> offset acknowledged
  int sentinels_known = 0; // sentinel: other sentinels it knows of
  std::string tls_protocol; // "TLSv1.3", empty when the link is plain text
};

// INFO server + replication of a Redis server (AUTH as user, or the default user when empty,
// with password when non-empty), over TLS when tls says so.
RedisProbe probe_redis(int port, const std::string& user, const std::string& password, const clients::ClientTls& tls,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
// SENTINEL get-master-addr-by-name and the sentinel count of a Sentinel.
RedisProbe probe_sentinel(int port, const std::string& master_name, const clients::ClientTls& tls,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

} // namespace statectl::local

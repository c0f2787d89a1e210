#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/local/site.h"
#include "core/local/state.h"
#include "core/output/printer.h"

namespace statectl::local {

struct DeployOptions {
  bool rollback = true; // stop what this run started when it fails (--no-rollback turns it off)
  std::chrono::milliseconds timeout{std::chrono::seconds(120)}; // for the stack to become healthy
};

// What one deploy changed, by member name.
struct DeployResult {
  std::vector<std::string> created; // new members (initdb, basebackup, new config)
  std::vector<std::string> started; // existing members that were down and were started (repair)
  std::vector<std::string> removed; // members beyond the configured counts (scale down)
  std::vector<std::string> running; // members that were already running
  bool changed() const { return !created.empty() || !started.empty() || !removed.empty(); }
};

// One line of `status`.
struct ComponentStatus {
  std::string name;
  std::string kind;
  std::string role;    // what the server says now (primary/replica, master/replica, leader, ...)
  std::string address; // 127.0.0.1:PORT
  bool healthy = false;
  int pid = 0;         // 0 when not running
  std::optional<std::int64_t> lag_bytes; // replicas: bytes behind the primary/master
  std::optional<std::int64_t> offset;    // Redis Cluster nodes: their replication offset
  std::string slots;                     // Redis Cluster masters: the slot ranges they serve ("0-5460")
  std::string version;
  std::string error;   // why it is not healthy
  std::optional<bool> encrypted; // statectl's link to it is TLS; unset when not probed (HTTP, down)
  std::string tls_protocol;      // "TLSv1.3" when encrypted
};

struct StackStatus {
  std::string state_dir;
  std::string ha;
  bool healthy = false;
  std::vector<ComponentStatus> components;
  nlohmann::json endpoints; // pgbouncer_url, primary, sentinels, master_name, redis
  nlohmann::json to_json() const;
  std::string to_text() const;
};

// The local target: PostgreSQL (bare primary + standbys, or Patroni + etcd + HAProxy),
// PgBouncer, Redis master/replicas and Sentinels as processes under the state directory.
// Every mutating call takes an exclusive lock on the state directory and saves the state file
// after each step, so an interrupted run leaves an accurate record.
class Stack {
public:
  Stack(const config::Config& cfg, exec::Runner& runner, output::Printer& printer);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // True when a state file exists (something was deployed and not purged).
  bool deployed() const;
  // The recorded state (empty when nothing is deployed).
  const StackState& state() const { return m_state; }

  // Brings the stack to the config: creates what is missing, starts what is down (repair),
  // removes members beyond the configured counts. A second run changes nothing. On failure
  // stops what this run started (unless !opts.rollback) and rethrows.
  DeployResult deploy(const DeployOptions& opts);
  // Stops every member (fast, then immediate after timeout); purge also deletes their data,
  // the WAL archive and the state file. Idempotent. Returns the members that were running.
  std::vector<std::string> destroy(bool purge, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Probes every member.
  StackStatus status();

  // --- Primitives for failover, switchover and scale (each saves the state file). ---

  // Starts one member as its recorded role (no-op when running).
  void start_member(const std::string& name);
  // Stops one member: fast (clean) or immediate (crash-like: pg_ctl -m immediate, SIGKILL).
  void stop_member(const std::string& name, StopMode mode);
  // Bare mode: promotes standby `name` (pg_ctl promote) to primary; the other standbys are
  // repointed to it (slot, primary_conninfo, reload) and the new primary's synchronous standby
  // names are set. The old primary is recorded as a replica that must be re-made
  // (initialized=false): start it again with make_standby(). PgBouncer is left alone: call
  // repoint_pgbouncer(port) to move clients.
  void promote(const std::string& name);
  // Points PgBouncer at 127.0.0.1:port (rewrites its config and reloads it with SIGHUP).
  void repoint_pgbouncer(int port);
  // (Re)makes `name` as a standby of the current primary: stops it, deletes its data,
  // pg_basebackup through its slot, starts it. Also creates a new member postgres-N.
  void make_standby(const std::string& name);
  // Bare mode: makes the former primary `name` a standby of the current primary with pg_rewind
  // (only the blocks changed since the fork are copied), falling back to make_standby()'s fresh
  // pg_basebackup when the rewind fails. Returns how it rejoined: "pg_rewind" or
  // "pg_basebackup (pg_rewind failed)".
  std::string rejoin_standby(const std::string& name);
  // Sets the number of PostgreSQL standbys ("postgres") or Redis replicas ("redis") and
  // reconciles; the count is recorded in the state file and overrides the config's count until
  // the next `destroy --purge`. A Redis Cluster: `count` replicas per master (-1 keeps them) and,
  // with `masters`, that many masters; nodes leave the cluster (redis_cluster::shrink) before they
  // stop, and new ones join it (redis_cluster::form).
  DeployResult scale(const std::string& component, int count, std::optional<int> masters = std::nullopt);

  // The member statectl would direct writes to: the bare primary, or the Patroni leader.
  const Member* primary() const;

private:
  struct Desired; // the members the config asks for, in start order
  Desired desired() const;
  void lock();
  void save();
  bool running(Member& member);
  void create(Member& member);
  void start(Member& member);
  void stop(Member& member, StopMode mode, std::chrono::milliseconds timeout);
  void remove(const std::string& name);
  void update_sync_standbys();
  // make_standby / rejoin_standby: under the lock, stops `name` and records it as a replica of
  // the current primary (a new member record when create); returns it and a copy of the primary.
  std::pair<Member*, Member> prepare_standby(const std::string& name, bool create);
  // Saves the state, then the primary's synchronous standby names.
  void finish_standby();
  void wait_healthy(std::chrono::milliseconds timeout);
  void patroni_bootstrap_roles(std::chrono::milliseconds timeout);
  void preflight(const std::vector<Member>& to_start);
  // Throws a usage error when two planned members would listen on one port (exit 2).
  void check_port_overlaps(const std::vector<Member>& planned) const;
  DeployResult reconcile(const DeployOptions& opts);

  Site m_site;
  std::filesystem::path m_file;
  StackState m_state;
  bool m_exists = false;
  int m_lock_fd = -1;
};

// Checks [postgres] ttl/loop_wait/retry_timeout against Patroni's rule
// loop_wait + 2 * retry_timeout <= ttl; throws Error(usage) naming the values when broken.
void check_patroni_timings(const config::Config& cfg);

} // namespace statectl::local

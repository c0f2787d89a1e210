#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"

namespace statectl::local {

// One process of the local stack as statectl started it. The state file holds one per member;
// `role` is the role statectl last gave it (a failover changes it through the Stack primitives).
struct Member {
  std::string name;      // "postgres-0", "pgbouncer", "redis-1", "sentinel-2", "etcd", "patroni-0", "haproxy"
  std::string kind;      // postgres, pgbouncer, redis, sentinel, etcd, patroni, haproxy
  std::string role;      // primary, replica, pooler, master, sentinel, dcs, leader, proxy
  int port = 0;          // the port clients use (PostgreSQL port for patroni members)
  int rest_port = 0;     // Patroni REST port; 0 for other kinds
  int pid = 0;           // 0 when statectl knows it is stopped
  std::uint64_t start_time = 0; // of pid (see process_start_time): guards against pid reuse
  std::string dir;       // the member's own directory (configs, logs, pid file)
  std::string data_dir;  // PostgreSQL / etcd data directory; empty for the others
  std::string log;       // where the server logs
  std::string config;    // main config file statectl wrote
  bool initialized = false; // creation finished (initdb/basebackup done, config written)

  nlohmann::json to_json() const;
  static Member from_json(const nlohmann::json& j);
};

// The ports clients use on a deployed local stack, as its members recorded them (after a
// failover the primary is another member, and `scale` may have changed the counts). A field
// stays unset when the stack has no such member; callers fall back to the configured port.
struct ClientPorts {
  std::optional<int> pooler;  // PgBouncer
  std::optional<int> primary; // HAProxy's read-write port in patroni mode, else the PostgreSQL primary
  std::vector<int> replicas;  // PostgreSQL (or Patroni) standbys
  std::optional<int> redis;   // the Redis master
  std::vector<int> sentinels;
};

// The index in a member's name: "postgres-3" -> 3; 0 when the name has none.
int member_index(const std::string& name);

// What the local target recorded: the members and how they were configured.
struct StackState {
  int version = 1;
  std::string ha = "none";          // [postgres] ha at creation: none | patroni
  std::string redis_mode = "sentinel";
  // The Redis servers run with ACL users (local/redis_acl.h) and the default user off; false
  // for a stack deployed before ACLs, whose clients log in as the default user.
  bool redis_acl = false;
  // Patroni's REST API and etcd speak TLS (a stack deployed with [tls] enabled by a statectl
  // that did so); false for plain HTTP, which a stack deployed before keeps.
  bool patroni_tls = false;
  std::string run_as;               // user the servers run as; empty = the invoking user
  int pgbouncer_target = 0;         // port PgBouncer forwards to (primary, or HAProxy rw)
  // Counts set by `scale` ("postgres" standbys, "redis" replicas); they win over the config.
  std::map<std::string, int> scaled;
  std::vector<Member> members;

  Member* find(const std::string& name);
  const Member* find(const std::string& name) const;
  // Members of one kind, in state-file order.
  std::vector<Member*> of_kind(const std::string& kind);
  std::vector<const Member*> of_kind(const std::string& kind) const;
  // The member recorded with that role (first one), nullptr when none.
  const Member* with_role(const std::string& kind, const std::string& role) const;
  // The ports clients use, from the recorded members.
  ClientPorts client_ports() const;

  nlohmann::json to_json() const;
  static StackState from_json(const nlohmann::json& j);
};

// <state dir>/stack.json.
std::filesystem::path state_file(const config::Config& cfg);

// Reads the state file; nullopt when there is none. Throws Error(failed) when it is corrupt.
std::optional<StackState> load_state(const std::filesystem::path& file);

// Writes the state file atomically (0644: it holds no secret).
void save_state(const std::filesystem::path& file, const StackState& state);

} // namespace statectl::local

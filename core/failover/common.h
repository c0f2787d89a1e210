#pragma once

// Helpers shared by the failover test, the runbook and the switchover (not a public API).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/failover/failover.h"
#include "core/failover/probe.h"
#include "core/local/stack.h"
#include "core/output/printer.h"

namespace statectl::failover::detail {

// The PostgreSQL probe target: the clients' path (PgBouncer, or [postgres] url).
PgTarget pg_clients_path(const config::Config& cfg);
// The same credentials aimed at one server port (direct, for the runbook).
PgTarget pg_direct(const config::Config& cfg, int port);
// The Redis probe target: the Sentinels (or [redis] url / the configured master).
RedisTarget redis_clients_path(const config::Config& cfg);

// "16/B374D848" -> 0x16B374D848; nullopt when it is not an LSN.
std::optional<std::uint64_t> parse_lsn(const std::string& lsn);

// Milliseconds between two instants.
std::int64_t ms_between(Clock::time_point from, Clock::time_point to);

// Waits until `status` reports every component healthy; false after timeout.
bool wait_stack_healthy(local::Stack& stack, std::chrono::milliseconds timeout);

// The names of the unhealthy components with their errors ("postgres-1: not streaming").
std::string unhealthy_summary(local::Stack& stack);

// After the primary moved: RELOAD PgBouncer on its admin console and set server_login_retry = 0,
// so clients do not wait out the 15 s PgBouncer waits after a failed connect to the old primary.
void pgbouncer_retry_now(const config::Config& cfg, int bouncer_port, output::Printer& printer);

// The switchover of Redis with Sentinel: CLIENT PAUSE WRITE on the master, wait until a replica
// (--to, one of servers) has its offset, SENTINEL FAILOVER, wait until every Sentinel names the new
// master and the old one follows it, unpause. servers: the Redis servers by name with the loopback
// port this machine reaches each on; `where` names the stack in errors ("local", "compose").
void redis_sentinel_switchover(const config::Config& cfg, const std::vector<std::pair<std::string, int>>& servers, const std::string& where,
                               output::Printer& printer, const SwitchoverOptions& opts, SwitchoverReport& rep);

// The switchover of a local Redis Cluster: CLUSTER FAILOVER on --to (a replica) or on a replica
// of the master of the probe's slot; returns when the replica is master and the old one follows.
void redis_cluster_switchover(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const SwitchoverOptions& opts,
                              SwitchoverReport& rep);

// How a trial ends when --no-heal told statectl to leave the fault in place: heal "platform"
// where the platform brings the killed member back by itself anyway (platform_restarts: k8s),
// else "skipped" (the killed process or container stays down). promoted: statectl promoted
// new_primary itself (bare PostgreSQL on compose), which leaves a stack no deploy may touch yet:
// that is a problem of the trial, naming victim and new_primary.
struct Unhealed {
  std::string heal;
  std::optional<std::string> problem;
};
Unhealed unhealed(bool platform_restarts, bool promoted, const std::string& victim, const std::string& new_primary);

// A run id unique enough for probe tables/keys: "<unix ms>-<pid>".
std::string new_run_id();

} // namespace statectl::failover::detail

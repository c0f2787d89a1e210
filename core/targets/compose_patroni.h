#pragma once

// The compose target with [postgres] ha = "patroni" (not a public API): the Patroni members are
// the services patroni-1..N of the render (templates/compose/docker-compose.yml), their cluster
// view comes from Patroni's REST API inside a member (`docker exec MEMBER curl`), and a planned
// switchover is a POST /switchover there.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/deploy/tools.h"
#include "core/targets/common.h"

namespace statectl::targets::detail::compose_patroni {

// Whether the compose render runs PostgreSQL under Patroni ([postgres] ha = "patroni").
bool enabled(const config::Config& cfg);

// The member services of the render, "patroni-1".."patroni-N" (N = the standbys + 1).
std::vector<std::string> member_services(Remote& t);

// One member as Patroni's /cluster and the engine report it.
struct Member {
  std::string name;      // Patroni's member name: the service ("patroni-2")
  std::string container; // the container the engine runs it in; empty when none
  bool running = false;  // the container runs
  bool listed = false;   // /cluster lists the member
  std::string role;      // "leader", "sync_standby", "replica" (Patroni's words); "" when not listed
  std::string state;     // "running", "streaming", "starting", ...
  std::int64_t timeline = 0;
  std::optional<std::int64_t> lag; // bytes behind the leader (replicas)
};

// The cluster as one running member's REST API describes it (/cluster), joined with the member
// containers; members without a running container are listed with running = false. Empty
// members' roles when no member answers. Throws Error(external) when the engine does not answer.
std::vector<Member> members(Remote& t, const deploy::Compose& compose);

// The member Patroni names leader with its PostgreSQL running, or nullopt.
std::optional<Member> leader(const std::vector<Member>& members);

// Fills in the status rows of the member containers (services[i] is rows[i]'s service) from
// Patroni's view: role (leader, sync_standby, replica), state, timeline and lag; a member that is
// not in the cluster or not running is unhealthy. Returns the leader's service when its row is
// healthy, else "".
std::string annotate(const std::vector<Member>& members, const std::vector<std::string>& services, std::vector<ComponentRow>& rows);

// Waits up to timeout until a member leads; returns it. Throws Error(failed) naming the members'
// states when none does in time.
Member wait_leader(Remote& t, const deploy::Compose& compose, std::chrono::milliseconds timeout);

// Whether killing the leader now can be survived without losing acknowledged writes: a member
// leads and another streams from it; with `synchronous` (Patroni's synchronous_mode) that one must be
// the member Patroni names sync_standby, since Patroni promotes no other (right after a failover or
// a rejoin it has not named one yet, and a fault then stops writes until the old leader returns).
bool failover_ready(const std::vector<Member>& members, bool synchronous);

// Whether the render runs Patroni in synchronous_mode ([postgres] synchronous with standbys).
bool synchronous(Remote& t);

// Waits up to timeout until failover_ready(); returns the leader. Throws Error(failed) naming the
// members' roles and states when the cluster is not ready in time.
Member wait_failover_ready(Remote& t, const deploy::Compose& compose, std::chrono::milliseconds timeout);

// A planned switchover: POST /switchover {"leader": L[, "candidate": to]} to the leader's REST
// API (`docker exec LEADER curl`), asked again while Patroni answers 412 or 503 (no synchronous
// standby named yet), then waits until another member leads. Under --dry-run plans the POST only.
// Throws Error(usage) for an unknown or leading `to`, Error(failed) when no member leads,
// Patroni refuses, or no new leader appears within timeout.
Switched switchover(Remote& t, const deploy::Compose& compose, const std::string& to, std::chrono::milliseconds timeout);

// The member a scale to `count` members hands the leadership to when the leader's member goes:
// Patroni's sync_standby when it stays (in synchronous mode Patroni refuses any other candidate,
// HTTP 412), else patroni-1.
std::string staying_candidate(const std::vector<Member>& members, std::int64_t count);

// `scale postgres --replicas N` with Patroni: `members` members (N + 1). A scale-down that
// removes the leader's member switches over to staying_candidate() first; then rerender() records the
// count and renders patroni-1..members, `up -d --remove-orphans` starts the new members (they
// clone from the leader) and removes the dropped ones, the HAProxies are recreated one after the
// other (their server list changed), the dropped members' volumes are removed, and it waits until
// every member runs in Patroni's view. Under --dry-run plans the commands only. Throws
// Error(failed) when the members do not come up within timeout, Error(external) when a command
// fails.
void scale(Remote& t, const deploy::Compose& compose, std::int64_t members, std::chrono::milliseconds timeout,
           const std::function<void()>& rerender);

// After `failover test` killed the leader's container: starts it again and waits until Patroni
// lists its member as a running replica of the new leader (pg_rewind or a new clone is Patroni's
// job) and the cluster is failover_ready() again, so the next trial measures a redundant cluster. Returns what was done. Throws Error(failed) when it does not rejoin within timeout.
std::string rejoin(Remote& t, const deploy::Compose& compose, const std::string& container, std::chrono::milliseconds timeout);

} // namespace statectl::targets::detail::compose_patroni

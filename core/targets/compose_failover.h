#pragma once

// Bare-mode PostgreSQL failover on a Compose project, driven through the engine (not a public
// API): statectl is the failover manager there, as on the local target.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/clients/postgres.h"
#include "core/config/config_fwd.h"
#include "core/deploy/tools.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/targets/target.h"

namespace statectl::targets::detail {

// One container of a compose project's service.
struct PgContainer {
  std::string id;
  std::string name;    // the container name, which the project's network resolves
  std::string service; // postgres-primary | postgres-replica
  std::string image;
  bool running = false;
};

// The containers of one service of the project, running or not, asked of the engine directly
// (`docker ps` answers in milliseconds, `compose ps` in a second). Throws Error(external).
std::vector<PgContainer> service_containers(exec::Runner& runner, const std::string& project, const std::string& service);

// The volumes mounted by the service's containers numbered above `keep` (what a scale-down
// leaves behind). Throws Error(external).
std::vector<std::string> volumes_beyond(exec::Runner& runner, const deploy::Compose& compose, const std::string& service, std::int64_t keep);

// How statectl logs in to the admin console of the PgBouncer published on 127.0.0.1:port.
clients::PgParams pooler_admin(const config::Config& cfg, const std::filesystem::path& dir, int port);

// The PostgreSQL side of a deployed compose stack in bare mode: the primary is the
// postgres-primary container, the standbys stream from it, every PgBouncer points at it.
class ComposePostgres {
public:
  ComposePostgres(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, deploy::Compose compose,
                  std::filesystem::path dir);

  // The postgres-primary container when it runs as a primary with at least one standby that
  // streams from it; notes the standbys and the poolers for promote_after_kill. Throws
  // Error(failed) naming what is not in its deployed shape.
  PgContainer ready_primary();

  // After the primary was killed: promotes the running standby that received the most WAL
  // (synchronous_standby_names cleared first, so its commits do not wait for a standby that is
  // gone), then repoints every PgBouncer at it (its configuration copy, RELOAD, retry at once).
  // Returns the promoted container's name. Throws Error(failed) when no standby can be promoted.
  std::string promote_after_kill(const std::string& killed);

  // After promote_after_kill: brings the deployed roles back. The promoted standby is stopped
  // cleanly, its data copied into postgres-primary's volume, postgres-primary started as the
  // primary and the poolers pointed at it again, the standby started as its standby, and
  // synchronous_standby_names set again once it streams. The killed primary's own data is
  // replaced (it forked off when the standby was promoted). Returns what was done. Throws
  // Error(failed) naming the step that failed.
  std::string restore_roles(const std::string& killed, std::chrono::milliseconds timeout);

  // The container `failover switchover --to to` hands the primary role to (empty: the standby
  // that replayed the most WAL is chosen later) and the one that holds it now (recorded by the
  // last switchover, else postgres-primary's). Throws Error(usage) for a name that is no
  // PostgreSQL container of the project, or names the primary; Error(failed) when the primary's
  // container does not run.
  std::pair<PgContainer, std::string> switchover_members(const std::string& to);

  // `failover switchover` in bare mode, statectl driving the engine (compose_switchover.cpp):
  // the old primary gets primary_conninfo and standby.signal for the new one; every PgBouncer
  // PAUSEs; the chosen standby replays the old primary's last LSN; the old primary stops cleanly
  // (its shutdown checkpoint reaches the streaming standbys); the standby is promoted with
  // synchronous_standby_names as configured; the poolers (their running copy and the applied
  // pgbouncer.ini they start from) point at it; it is recorded as the primary
  // (compose_roles); the other standbys follow it; the old primary starts again as its standby;
  // RESUME once it streams (with synchronous replication, else right after the repoint). A
  // failure before the promotion puts the old primary back as it was. Under --dry-run plans only.
  Switched switchover(const std::string& to, std::chrono::milliseconds timeout);

private:
  std::vector<PgContainer> containers(const std::string& service) { return service_containers(m_runner, m_compose.project, service); }
  std::string sql(const std::string& container, const std::string& statements, std::chrono::milliseconds timeout);
  void find_poolers();
  // Points every PgBouncer (m_poolers) at host: its running copy of pgbouncer.ini and RELOAD;
  // persist: the applied pgbouncer.ini too, which a restarted or added PgBouncer starts from.
  void repoint_poolers(const std::string& host, bool persist = false);
  void pause_poolers(const std::string& command);
  void wait_streaming(const PgContainer& primary, const std::string& standby, std::chrono::milliseconds timeout);
  void docker(std::vector<std::string> args, const std::string& what, std::chrono::milliseconds timeout);
  std::string data_volume(const std::string& container);

  const config::Config& m_cfg;
  exec::Runner& m_runner;
  output::Printer& m_printer;
  deploy::Compose m_compose;
  std::filesystem::path m_dir;
  std::string m_promoted; // the container promote_after_kill promoted
  // Found by ready_primary, before the fault: after it every millisecond counts in the RTO.
  std::vector<PgContainer> m_standbys;
  std::vector<std::pair<std::string, int>> m_poolers; // container id, published port
};

} // namespace statectl::targets::detail

// The operations on single members that failover and scale use: start, stop, promote, repoint
// PgBouncer, make or rejoin a standby, and resize.
#include "core/local/stack.h"

#include <csignal>
#include <fmt/format.h>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/local/components.h"
#include "core/local/process.h"

namespace statectl::local {

using namespace std::chrono;

void Stack::start_member(const std::string& name)
{
  lock();
  Member* m = m_state.find(name);
  if (!m) throw Error(ExitCode::usage, fmt::format("no member '{}' in the local stack", name));
  if (!running(*m)) start(*m);
  save();
}

void Stack::stop_member(const std::string& name, StopMode mode)
{
  lock();
  Member* m = m_state.find(name);
  if (!m) throw Error(ExitCode::usage, fmt::format("no member '{}' in the local stack", name));
  stop(*m, mode, 30s);
  save();
}

void Stack::promote(const std::string& name)
{
  lock();
  Member* m = m_state.find(name);
  if (!m || m->kind != "postgres")
    throw Error(ExitCode::usage, fmt::format("'{}' is not a PostgreSQL member of the local stack", name),
                m_state.ha == "patroni" ? "in patroni mode Patroni promotes; use failover switchover" : "");
  if (m->role == "primary") return;
  postgres::promote(m_site, *m);
  for (auto& other : m_state.members) {
    if (other.kind != "postgres" || other.name == name) continue;
    if (other.role == "primary") {
      // The old primary's timeline forked: it comes back only as a freshly made standby.
      other.role = "replica";
      other.initialized = false;
    }
  }
  save();
  for (auto& other : m_state.members) {
    if (other.kind != "postgres" || other.name == name || !other.initialized) continue;
    postgres::ensure_slot(m_site, *m, postgres::slot_name(other.name));
    postgres::write_conf(m_site, other, m->port, {});
    if (running(other)) postgres::reload(m_site, other);
  }
  update_sync_standbys();
  save();
}

void Stack::repoint_pgbouncer(int port)
{
  lock();
  Member* b = m_state.find("pgbouncer");
  if (!b) throw Error(ExitCode::failed, "the local stack has no PgBouncer");
  pgbouncer::configure(m_site, *b, port);
  m_state.pgbouncer_target = port;
  if (!m_site.planning() && running(*b)) signal_member(*b, SIGHUP);
  else if (m_site.planning()) m_site.note(fmt::format("kill -HUP {} (pgbouncer reload)", b->pid));
  save();
}

std::pair<Member*, Member> Stack::prepare_standby(const std::string& name, bool create)
{
  lock();
  if (m_state.ha == "patroni") throw Error(ExitCode::usage, "in patroni mode Patroni makes and rejoins the standbys");
  const Member* p = primary();
  if (!p) throw Error(ExitCode::failed, "the local stack has no primary to follow");
  Member* m = m_state.find(name);
  if (!m && !create) throw Error(ExitCode::usage, fmt::format("no member {} in the local stack", name));
  if (!m) {
    int idx = member_index(name);
    m_state.members.push_back(postgres::describe(m_site, idx, static_cast<int>(config::settings(m_site.cfg).local.postgres_port) + idx, "replica"));
    m = &m_state.members.back();
    p = primary(); // the push may have moved the members
  }
  if (m->name == p->name) throw Error(ExitCode::usage, fmt::format("{} is the primary", name));
  if (running(*m)) stop(*m, StopMode::fast, 30s);
  m->role = "replica";
  m->initialized = false;
  save();
  return {m, *p};
}

void Stack::finish_standby()
{
  save();
  update_sync_standbys();
  save();
}

void Stack::make_standby(const std::string& name)
{
  auto [m, prim] = prepare_standby(name, true);
  postgres::create_standby(m_site, *m, prim);
  finish_standby();
}

std::string Stack::rejoin_standby(const std::string& name)
{
  auto [m, prim] = prepare_standby(name, false);
  std::string how = "pg_rewind";
  try {
    postgres::rewind_standby(m_site, *m, prim);
  } catch (const Error& e) {
    if (m_site.planning()) throw;
    m_site.printer.warn(fmt::format("pg_rewind of {} failed: {}; copying it again with pg_basebackup", name,
                                    e.why().empty() ? e.what_failed() : e.why()));
    if (running(*m)) stop(*m, StopMode::immediate, 10s);
    postgres::create_standby(m_site, *m, prim);
    how = "pg_basebackup (pg_rewind failed)";
  }
  finish_standby();
  return how;
}

DeployResult Stack::scale(const std::string& component, int count, std::optional<int> masters)
{
  if (component != "postgres" && component != "redis")
    throw Error(ExitCode::usage, fmt::format("cannot scale '{}' on the local target", component), "", "scale postgres or redis");
  bool cluster = component == "redis" && m_state.redis_mode == "cluster";
  if (masters && !cluster) throw Error(ExitCode::usage, "--masters applies to a Redis Cluster only", "", "scale redis --replicas N");
  if (!cluster && (count < 0 || count > 15))
    throw Error(ExitCode::usage, "invalid replica count", fmt::format("must be between 0 and 15, got {}", count));
  lock();
  DeployOptions opts;
  if (!cluster) {
    m_state.scaled[component] = count;
    return reconcile(opts);
  }
  redis_cluster::Shape want = redis_cluster::shape(m_site.cfg, m_state);
  if (count >= 0) want.replicas = count;
  if (masters) want.masters = *masters;
  if (want.replicas > 5 || want.masters < 3 || want.masters > 100)
    throw Error(ExitCode::usage, "invalid Redis Cluster size",
                fmt::format("{} masters with {} replicas each; masters must be 3-100, replicas 0-5", want.masters, want.replicas));
  std::vector<std::string> gone = redis_cluster::shrink(m_site, m_state, want, opts.timeout);
  for (const auto& name : gone) remove(name);
  m_state.scaled["redis"] = want.replicas;
  m_state.scaled["redis_masters"] = want.masters;
  save();
  DeployResult res = reconcile(opts);
  res.removed.insert(res.removed.begin(), gone.begin(), gone.end());
  return res;
}

} // namespace statectl::local

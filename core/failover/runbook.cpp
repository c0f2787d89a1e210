// The bare-mode recovery runbook (`failover promote`, rejoin) and the helpers it shares with the
// failover test. Everything that changes the stack goes through the local target's primitives
// (core/local/stack.h), so the state file keeps recording who is primary.
#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>
#include <unistd.h>

#include "core/clients/postgres.h"
#include "core/clients/redis.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/failover/common.h"
#include "core/failover/failover.h"
#include "core/local/probe.h"
#include "core/local/site.h"
#include "core/secrets/store.h"
#include "core/stack/clients.h"
#include "core/stack/endpoints.h"
#include "core/util/strings.h"

namespace statectl::failover {

using namespace std::chrono;

namespace detail {

namespace {

std::string stored_password(const config::Config& cfg, const std::string& name)
{
  if (name.empty()) return "";
  secrets::Store store(cfg);
  return store.get(name).value_or("");
}

} // namespace

PgTarget pg_clients_path(const config::Config& cfg)
{
  auto e = stack::resolve(cfg);
  PgTarget t;
  if (!e.pooler.url.empty()) {
    auto [url, password] = stack::split_url_password(e.pooler.url);
    t.url = url;
    t.password = password;
    return t;
  }
  t.host = e.pooler.host;
  t.port = e.pooler.port;
  t.user = e.pooler.user;
  t.database = e.pooler.database;
  t.password = stored_password(cfg, e.pooler.password_secret);
  if (e.pooler.tls.enabled) t.tls = clients::pg_tls(e.pooler.tls);
  return t;
}

PgTarget pg_direct(const config::Config& cfg, int port)
{
  PgTarget t = pg_clients_path(cfg);
  t.url.clear();
  t.host = "127.0.0.1";
  t.port = port;
  t.user = config::settings(cfg).postgres.superuser;
  t.database = "postgres";
  t.password = stored_password(cfg, "postgres");
  return t;
}

RedisTarget redis_clients_path(const config::Config& cfg)
{
  auto e = stack::resolve(cfg);
  RedisTarget t;
  t.master_name = e.master_name;
  t.user = e.redis_user; // the operational login (an ACL stack's admin user)
  t.password = stored_password(cfg, e.redis_password_secret);
  t.tls = clients::redis_tls(e.redis_tls);
  if (!e.redis_url.empty()) {
    auto u = clients::parse_redis_url(e.redis_url);
    if (!u.password.empty()) t.password = u.password;
    t.user = u.user;
    t.host = u.host;
    t.port = u.port;
    return t;
  }
  for (const auto& s : e.sentinels) t.sentinels.emplace_back(s.host, s.port);
  if (config::settings(cfg).redis.mode == "cluster") {
    for (const auto& n : e.redis_cluster) t.cluster.emplace_back(n.host, n.port);
    if (t.cluster.empty()) t.cluster.emplace_back(e.redis.host, e.redis.port);
  }
  t.nat = stack::redis_address_map(e);
  t.host = e.redis.host;
  t.port = e.redis.port;
  return t;
}

std::optional<std::uint64_t> parse_lsn(const std::string& lsn)
{
  auto slash = lsn.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= lsn.size()) return std::nullopt;
  try {
    std::size_t a = 0, b = 0;
    std::uint64_t hi = std::stoull(lsn.substr(0, slash), &a, 16);
    std::uint64_t lo = std::stoull(lsn.substr(slash + 1), &b, 16);
    if (a != slash || b != lsn.size() - slash - 1 || hi > 0xffffffffULL || lo > 0xffffffffULL) return std::nullopt;
    return (hi << 32) | lo;
  } catch (...) {
    return std::nullopt;
  }
}

std::int64_t ms_between(Clock::time_point from, Clock::time_point to) { return duration_cast<milliseconds>(to - from).count(); }

bool wait_stack_healthy(local::Stack& stack, milliseconds timeout)
{
  auto end = Clock::now() + timeout;
  while (true) {
    if (stack.status().healthy) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(250ms);
  }
}

std::string unhealthy_summary(local::Stack& stack)
{
  std::vector<std::string> out;
  for (const auto& c : stack.status().components)
    if (!c.healthy) out.push_back(c.name + ": " + (c.error.empty() ? "unhealthy" : c.error));
  return util::join(out, "; ");
}

std::string new_run_id()
{
  auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return fmt::format("{}-{}", ms, ::getpid());
}

// PgBouncer stops trying a server for server_login_retry (15 s by default) after a failed
// connect, and the probe (like any client) made it try the dead primary. After the repoint:
// RELOAD synchronously on the admin console, then let it retry at once.
void pgbouncer_retry_now(const config::Config& cfg, int bouncer_port, output::Printer& printer)
{
  clients::PgParams p = pg_direct(cfg, bouncer_port);
  p.application_name = "statectl-failover";
  p.dbname_override = "pgbouncer";
  p.connect_timeout_s = 5;
  clients::PgConnection c;
  try {
    c = clients::PgConnection::connect(p);
  } catch (const clients::PgError& e) {
    printer.warn(std::string("cannot reach the PgBouncer admin console: ") + e.what());
    return;
  }
  for (const char* sql : {"RELOAD", "SET server_login_retry = 0"}) {
    try {
      c.exec(sql);
    } catch (const clients::PgError& e) {
      printer.detail(fmt::format("pgbouncer {}: {}", sql, e.what()));
    }
  }
}

} // namespace detail

nlohmann::json PromoteResult::to_json() const
{
  nlohmann::json c = nlohmann::json::array();
  for (const auto& [name, lsn] : candidates) c.push_back({{"member", name}, {"replay_lsn", lsn}});
  return {{"old_primary", old_primary}, {"new_primary", new_primary}, {"replay_lsn", replay_lsn}, {"took_ms", took_ms}, {"candidates", c}};
}

namespace {

local::Stack& require_bare(local::Stack& stack, const std::string& what)
{
  if (!stack.deployed())
    throw Error(ExitCode::usage, fmt::format("cannot {}: no local stack is deployed", what), "", "run 'statectl deploy' first");
  if (stack.state().ha == "patroni")
    throw Error(ExitCode::usage, fmt::format("cannot {} in patroni mode", what), "Patroni elects and promotes the leader itself",
                "use 'statectl failover switchover' for a planned change");
  return stack;
}

} // namespace

PromoteResult promote(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const std::string& member, bool force)
{
  auto started = Clock::now();
  local::Stack stack(cfg, runner, printer);
  require_bare(stack, "promote a standby");
  PromoteResult res;
  const local::Member* old = stack.primary();
  if (old) res.old_primary = old->name;
  if (!member.empty()) {
    const local::Member* m = stack.state().find(member);
    if (!m || m->kind != "postgres")
      throw Error(ExitCode::usage, fmt::format("no PostgreSQL member '{}' in the local stack", member), "",
                  "'statectl status' lists the members");
    if (m->role == "primary") throw Error(ExitCode::usage, fmt::format("{} is already the primary", member));
  }
  // Promoting stops the primary: when it still answers as a primary, that is an outage nobody
  // needed, so it takes --force (a planned change is a switchover).
  if (old && !force) {
    auto t = detail::pg_direct(cfg, old->port);
    auto p = local::probe_postgres(old->port, local::ProbeAuth{t.user, t.password, "postgres", 2000ms, local::client_tls(cfg)}, false);
    if (p.ok && !p.in_recovery)
      throw Error(ExitCode::usage, fmt::format("refusing to promote: the primary {} is healthy", old->name),
                  fmt::format("it answers at 127.0.0.1:{}; promoting would stop it (nothing was changed)", old->port),
                  "for a planned, lossless change run 'statectl failover switchover'; to fence it anyway add --force");
  }

  // Every standby that answers, with how far it replayed: the most advanced one loses nothing
  // that a synchronous commit acknowledged.
  std::string best;
  std::uint64_t best_lsn = 0;
  std::vector<std::string> why_not;
  for (const local::Member* m : stack.state().of_kind("postgres")) {
    if (m->role != "replica" || !m->initialized) continue;
    auto t = detail::pg_direct(cfg, m->port);
    local::ProbeAuth auth{t.user, t.password, "postgres", 2000ms, local::client_tls(cfg)};
    auto p = local::probe_postgres(m->port, auth, false);
    if (!p.ok || !p.in_recovery) {
      why_not.push_back(fmt::format("{}: {}", m->name, p.ok ? "not in recovery" : p.error));
      continue;
    }
    res.candidates.emplace_back(m->name, p.receive_lsn);
    auto lsn = detail::parse_lsn(p.receive_lsn).value_or(0);
    if ((member.empty() && (best.empty() || lsn > best_lsn)) || m->name == member) {
      if (member.empty() || m->name == member) {
        best = m->name;
        best_lsn = lsn;
        res.replay_lsn = p.receive_lsn;
      }
    }
  }
  if (best.empty())
    throw Error(ExitCode::failed, member.empty() ? "no standby can be promoted" : fmt::format("{} cannot be promoted", member),
                why_not.empty() ? "the stack has no initialized standby" : util::join(why_not, "; "),
                "run 'statectl status'; a standby must be running and in recovery");

  // Fence first: the old primary must not take writes once another server is primary.
  if (old) {
    printer.info(fmt::format("fencing {} (stopped with -m immediate)", old->name));
    stack.stop_member(old->name, local::StopMode::immediate);
  }
  printer.info(fmt::format("promoting {} (replayed up to {})", best, res.replay_lsn));
  stack.promote(best);
  const local::Member* np = stack.state().find(best);
  printer.info(fmt::format("repointing PgBouncer to {} (127.0.0.1:{})", best, np->port));
  stack.repoint_pgbouncer(np->port);
  if (const local::Member* b = stack.state().find("pgbouncer"); b && runner.dry_run() != exec::DryRun::plan)
    detail::pgbouncer_retry_now(cfg, b->port, printer);
  res.new_primary = best;
  res.took_ms = detail::ms_between(started, Clock::now());
  return res;
}

std::string rejoin(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const std::string& member)
{
  local::Stack stack(cfg, runner, printer);
  require_bare(stack, "rejoin a former primary");
  // The old primary ran ahead on its own timeline: pg_rewind copies back only what changed since
  // the fork (a fresh pg_basebackup when that fails).
  printer.info(fmt::format("rejoining {} as a standby of {} (pg_rewind)", member, stack.primary() ? stack.primary()->name : "?"));
  return stack.rejoin_standby(member);
}

} // namespace statectl::failover

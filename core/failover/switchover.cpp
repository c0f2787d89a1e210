// `failover switchover`: a planned, lossless role change while the write probe runs.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "core/clients/postgres.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/failover/common.h"
#include "core/failover/failover.h"
#include "core/local/components.h"
#include "core/local/probe.h"
#include "core/local/process.h"
#include "core/clients/redis.h"
#include "core/targets/target.h"
#include "core/util/strings.h"

namespace statectl::failover {

using namespace std::chrono;

namespace {

// One SQL statement on a simple-protocol connection (PgBouncer's admin console accepts nothing
// else); returns the first column of the first row, throws Error on failure.
class SimpleConn {
public:
  SimpleConn(const PgTarget& target, const std::string& what) : m_what(what)
  {
    PgTarget t = target;
    t.url.clear();
    t.connect_timeout_s = 5;
    t.application_name = "statectl-switchover";
    try {
      m_conn = clients::PgConnection::connect(t);
    } catch (const clients::PgError& e) {
      throw clients::to_error(e.failure(), "cannot connect to " + m_what);
    }
  }

  std::string exec(const std::string& sql)
  {
    try {
      clients::PgResult r = m_conn.exec(sql);
      return r.empty() || r.columns() == 0 || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
    } catch (const clients::PgError& e) {
      throw clients::to_error(e.failure(), fmt::format("{} on {} failed", sql, m_what));
    }
  }

private:
  std::string m_what;
  clients::PgConnection m_conn;
};

// The longest interval without an acknowledged write, from the probe's records.
std::int64_t longest_gap_ms(const std::vector<WriteRecord>& records)
{
  std::vector<Clock::time_point> acks;
  for (const auto& r : records)
    if (r.outcome == Outcome::acked) acks.push_back(r.finished);
  std::sort(acks.begin(), acks.end());
  std::int64_t best = 0;
  for (std::size_t i = 1; i < acks.size(); ++i) best = std::max(best, detail::ms_between(acks[i - 1], acks[i]));
  return best;
}

std::string pick_standby(const config::Config& cfg, const local::Stack& stack, const std::string& to)
{
  std::string best;
  std::uint64_t best_lsn = 0;
  if (!to.empty()) {
    // An unknown name is a usage error (exit 2), as for `failover promote --member`.
    const local::Member* named = nullptr;
    for (const local::Member* m : stack.state().of_kind("postgres"))
      if (m->name == to) named = m;
    if (!named)
      throw Error(ExitCode::usage, fmt::format("no PostgreSQL member '{}' in the local stack", to), "", "'statectl status' lists them");
    if (named->role == "primary") throw Error(ExitCode::usage, fmt::format("{} is already the primary", to));
  }
  for (const local::Member* m : stack.state().of_kind("postgres")) {
    if (m->role != "replica" || !m->initialized) continue;
    if (!to.empty() && m->name != to) continue;
    auto t = detail::pg_direct(cfg, m->port);
    auto p = local::probe_postgres(m->port, {t.user, t.password, "postgres", 2000ms, local::client_tls(cfg)}, false);
    if (!p.ok || !p.in_recovery) continue;
    auto lsn = detail::parse_lsn(p.receive_lsn).value_or(0);
    if (best.empty() || lsn > best_lsn) {
      best = m->name;
      best_lsn = lsn;
    }
  }
  if (best.empty())
    throw Error(ExitCode::failed, to.empty() ? "no standby to switch over to" : fmt::format("{} is not a streaming standby", to),
                "", "run 'statectl status'");
  return best;
}

// Bare mode: PAUSE at PgBouncer, wait for the standby to replay everything, fence the old
// primary with a clean shutdown, promote, repoint, RESUME, rejoin the old primary.
void pg_bare(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const SwitchoverOptions& opts, SwitchoverReport& rep)
{
  std::string target, old_name;
  int old_port = 0, target_port = 0, bouncer_port = 0;
  {
    local::Stack stack(cfg, runner, printer);
    const local::Member* p = stack.primary();
    if (!p) throw Error(ExitCode::failed, "the local stack has no primary");
    old_name = p->name;
    old_port = p->port;
    target = pick_standby(cfg, stack, opts.to);
    target_port = stack.state().find(target)->port;
    const local::Member* b = stack.state().find("pgbouncer");
    if (!b) throw Error(ExitCode::failed, "the local stack has no PgBouncer to pause");
    bouncer_port = b->port;
  }
  rep.old_primary = old_name;
  PgTarget admin = detail::pg_direct(cfg, bouncer_port);
  admin.database = "pgbouncer";
  SimpleConn bouncer(admin, "the PgBouncer admin console");
  PgTarget old_direct = detail::pg_direct(cfg, old_port);
  PgTarget new_direct = detail::pg_direct(cfg, target_port);

  printer.info("pausing writes at PgBouncer (PAUSE)");
  auto pause = Clock::now();
  bouncer.exec("PAUSE");
  bool resumed = false;
  try {
    std::string lsn;
    {
      SimpleConn old(old_direct, old_name);
      lsn = old.exec("SELECT pg_current_wal_lsn()::text");
    }
    printer.info(fmt::format("waiting for {} to replay up to {}", target, lsn));
    auto want = detail::parse_lsn(lsn).value_or(0);
    bool caught_up = local::wait_for(
      [&] {
        try {
          SimpleConn s(new_direct, target);
          return detail::parse_lsn(s.exec("SELECT pg_last_wal_replay_lsn()::text")).value_or(0) >= want;
        } catch (const Error&) {
          return false;
        }
      },
      opts.timeout, 20ms);
    if (!caught_up) throw Error(ExitCode::failed, fmt::format("{} did not replay up to {} within {}", target, lsn, util::format_duration(opts.timeout)));
    local::Stack stack(cfg, runner, printer);
    printer.info(fmt::format("stopping {} (clean shutdown; it stays fenced until it rejoins)", old_name));
    stack.stop_member(old_name, local::StopMode::fast);
    printer.info(fmt::format("promoting {}", target));
    stack.promote(target);
    stack.repoint_pgbouncer(target_port);
    // The repoint signalled a reload; RELOAD here as well so it is applied before RESUME.
    bouncer.exec("RELOAD");
    bouncer.exec("RESUME");
    resumed = true;
    rep.pause_ms = detail::ms_between(pause, Clock::now());
  } catch (...) {
    if (!resumed) {
      try {
        bouncer.exec("RESUME");
      } catch (const Error& e) {
        printer.warn("could not RESUME PgBouncer: " + e.message() + "; run RESUME on its admin console");
      }
    }
    throw;
  }
  rep.new_primary = target;
  printer.info(fmt::format("writes resumed after {} ms", rep.pause_ms));
}

void pg_patroni(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const SwitchoverOptions& opts, SwitchoverReport& rep)
{
  local::Stack stack(cfg, runner, printer);
  std::vector<const local::Member*> members = stack.state().of_kind("patroni");
  std::string ca = local::patroni::rest_ca(cfg, stack.state()); // the REST API is verified against the stack's CA
  const local::Member* leader = local::patroni::leader(members, ca);
  if (!leader) throw Error(ExitCode::failed, "no Patroni leader answers", "", "run 'statectl status'");
  rep.old_primary = leader->name;
  nlohmann::json body = {{"leader", leader->name}};
  if (!opts.to.empty()) {
    const local::Member* c = stack.state().find(opts.to);
    if (!c || c->kind != "patroni") throw Error(ExitCode::usage, fmt::format("no Patroni member '{}'", opts.to), "", "'statectl status' lists them");
    if (c->name == leader->name) throw Error(ExitCode::usage, fmt::format("{} is already the leader", opts.to));
    body["candidate"] = opts.to;
  }
  printer.info(fmt::format("asking Patroni to switch over from {} (POST /switchover)", leader->name));
  // Right after a failover or a rejoin Patroni has not yet named a synchronous standby (it does so
  // on its next loop) and answers 412; like patronictl's scheduled retry, ask again until it has.
  std::optional<local::HttpResponse> r;
  bool told = false;
  local::wait_for(
    [&] {
      r = local::http_request(leader->rest_port, "POST", "/switchover", opts.timeout, ca, body.dump());
      bool waiting = r && r->status == 412 && r->body.find("sync_standby") != std::string::npos;
      if (waiting && !told) {
        printer.info("Patroni has no synchronous standby yet; waiting for it to name one");
        told = true;
      }
      return !waiting;
    },
    opts.timeout, 500ms);
  if (!r || r->status != 200)
    throw Error(ExitCode::external, "Patroni refused the switchover", r ? fmt::format("HTTP {}: {}", r->status, util::trim(r->body)) : "no answer",
                "check 'statectl status': a switchover needs a healthy synchronous candidate");
  std::string old = leader->name;
  const local::Member* now = nullptr;
  if (!local::wait_for([&] { return (now = local::patroni::leader(members, ca)) != nullptr && now->name != old; }, opts.timeout, 100ms))
    throw Error(ExitCode::failed, fmt::format("no new Patroni leader within {}", util::format_duration(opts.timeout)));
  rep.new_primary = now->name;
  rep.rejoin = "patroni (pg_rewind)";
  // HAProxy now routes to the new leader; PgBouncer must not wait out its login retry.
  if (const local::Member* b = stack.state().find("pgbouncer")) detail::pgbouncer_retry_now(cfg, b->port, printer);
}

} // namespace

nlohmann::json SwitchoverReport::to_json() const
{
  return {{"backend", backend}, {"mode", mode},       {"old_primary", old_primary}, {"new_primary", new_primary},
          {"pause_ms", pause_ms}, {"took_ms", took_ms}, {"acked", acked},           {"lost", lost},
          {"unknown", unknown}, {"rejoin", rejoin},   {"healthy", healthy},         {"passed", passed},
          {"reasons", reasons}};
}

std::string SwitchoverReport::to_text() const
{
  std::string out = fmt::format("switchover ({} {}): {} -> {} in {} ms; writes paused {} ms\n", backend, mode, old_primary, new_primary,
                                took_ms, pause_ms);
  out += fmt::format("probe: {} acknowledged, {} lost, {} unknown; old primary rejoined via {}; stack {}\n", acked, lost, unknown,
                     rejoin.empty() ? "-" : rejoin, healthy ? "healthy" : "NOT healthy");
  if (passed) out += "passed\n";
  for (const auto& r : reasons) out += "FAILED: " + r + "\n";
  return out;
}

SwitchoverReport switchover(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const SwitchoverOptions& opts)
{
  SwitchoverReport rep;
  rep.backend = opts.backend;
  auto started = Clock::now();
  auto target = targets::make(cfg, runner, printer);
  // On the local target statectl runs the change itself; elsewhere the platform's failover
  // manager does (k8s: Patroni) and statectl asks it and measures.
  const bool local = target->statectl_heals();
  // Redis with Sentinel on a target that names its servers (compose): statectl's own Sentinel
  // switchover, through the published ports.
  std::vector<std::pair<std::string, int>> redis_servers;
  if (!local && opts.backend == "redis" && config::settings(cfg).redis.mode == "sentinel") redis_servers = target->redis_servers();
  const bool sentinel = !redis_servers.empty();
  if (!local) {
    rep.mode = sentinel ? "sentinel" : config::settings(cfg).postgres.ha == "patroni" ? "patroni" : "bare";
    // Refused (exit 2) before the probe writes anything.
    if (!sentinel) target->check_switchover(opts.backend, opts.to);
    if (runner.dry_run() == exec::DryRun::plan) {
      if (sentinel) printer.plan("CLIENT PAUSE WRITE, wait for the replica, SENTINEL FAILOVER, wait for agreement");
      else target->switchover(opts.backend, opts.to, opts.timeout);
      return rep;
    }
  }
  if (local) {
    local::Stack stack(cfg, runner, printer);
    if (!stack.deployed()) throw Error(ExitCode::usage, "no local stack is deployed", "", "run 'statectl deploy' first");
    if (opts.backend == "redis") rep.mode = stack.state().redis_mode;
    else rep.mode = stack.state().ha == "patroni" ? "patroni" : "bare";
    if (runner.dry_run() == exec::DryRun::plan) {
      printer.plan(rep.mode == "bare" ? "PAUSE at PgBouncer, wait for replay, stop the primary, promote, repoint, RESUME, rejoin"
                   : rep.mode == "patroni" ? "POST /switchover to the Patroni leader, wait for the new leader"
                   : rep.mode == "cluster" ? "CLUSTER FAILOVER on a replica, wait until it is master and the old master follows it"
                                           : "CLIENT PAUSE WRITE, wait for the replica, SENTINEL FAILOVER, wait for agreement");
      return rep;
    }
    if (!detail::wait_stack_healthy(stack, 30s))
      throw Error(ExitCode::failed, "the local stack is not healthy; a switchover needs a caught-up standby", detail::unhealthy_summary(stack),
                  "run 'statectl deploy' to repair it");
  }

  // The probe runs through the whole change; writes may wait (up to the timeout) but must not be lost.
  std::string run_id = detail::new_run_id();
  std::unique_ptr<Probe> probe;
  if (opts.backend == "redis") {
    auto t = detail::redis_clients_path(cfg);
    probe = std::make_unique<Probe>([t, run_id] { return make_redis_writer(t, run_id); }, opts.rate, 2, opts.timeout);
  } else {
    auto t = detail::pg_clients_path(cfg);
    pg_prepare(t, 30s);
    probe = std::make_unique<Probe>([t, run_id] { return make_pg_writer(t, run_id); }, opts.rate, 2, opts.timeout);
  }
  probe->start();
  std::this_thread::sleep_for(500ms);
  try {
    if (sentinel) {
      detail::redis_sentinel_switchover(cfg, redis_servers, target->name(), printer, opts, rep);
    } else if (!local) {
      targets::Switched sw = target->switchover(opts.backend, opts.to, opts.timeout);
      rep.old_primary = sw.old_primary;
      rep.new_primary = sw.new_primary;
      rep.pause_ms = sw.pause_ms;
      rep.rejoin = sw.rejoin;
    } else if (opts.backend == "redis" && rep.mode == "cluster") detail::redis_cluster_switchover(cfg, runner, printer, opts, rep);
    else if (opts.backend == "redis") {
      local::Stack stack(cfg, runner, printer);
      for (const local::Member* r : stack.state().of_kind("redis")) redis_servers.emplace_back(r->name, r->port);
      detail::redis_sentinel_switchover(cfg, redis_servers, "local", printer, opts, rep);
    }
    else if (rep.mode == "patroni") pg_patroni(cfg, runner, printer, opts, rep);
    else pg_bare(cfg, runner, printer, opts, rep);
  } catch (...) {
    probe->stop();
    throw;
  }
  // Keep writing until the new primary acknowledges, then read everything back.
  auto after = Clock::now();
  local::wait_for([&] { return probe->first_ack_after(after, "").has_value(); }, opts.timeout, 20ms);
  std::this_thread::sleep_for(500ms);
  probe->stop();
  auto records = probe->records();
  if (rep.pause_ms < 0) rep.pause_ms = longest_gap_ms(records);
  std::set<std::uint64_t> found = opts.backend == "redis" ? redis_read_back(detail::redis_clients_path(cfg), run_id, 5s)
                                                          : pg_read_back(detail::pg_clients_path(cfg), run_id, 10s);
  for (const auto& r : records) {
    if (r.outcome == Outcome::acked) {
      ++rep.acked;
      if (!found.count(r.seq)) ++rep.lost;
    } else if (r.outcome == Outcome::unknown) {
      ++rep.unknown;
    }
  }
  if (rep.lost == 0) {
    if (opts.backend == "redis") redis_cleanup(detail::redis_clients_path(cfg), run_id);
    else pg_cleanup(detail::pg_clients_path(cfg), run_id);
  }
  rep.took_ms = detail::ms_between(started, Clock::now());

  if (!local) {
    // The old primary rejoins by itself (Patroni with pg_rewind; Sentinel's conversion, which
    // redis_sentinel_switchover already waited for) or the target's switchover made it a standby
    // (bare compose); the platform's status says when.
    if (!sentinel && rep.rejoin.empty()) rep.rejoin = "patroni";
    targets::StatusResult st = target->status();
    auto deadline = Clock::now() + opts.timeout;
    while (!st.healthy && Clock::now() < deadline) {
      std::this_thread::sleep_for(2s);
      st = target->status();
    }
    rep.healthy = st.healthy;
    if (rep.lost > 0) rep.reasons.push_back(fmt::format("{} acknowledged writes were lost", rep.lost));
    if (rep.acked == 0) rep.reasons.push_back("the probe wrote nothing");
    if (!rep.healthy) rep.reasons.push_back("the stack is not healthy afterwards: " + util::join(st.problems, "; "));
    rep.passed = rep.reasons.empty();
    return rep;
  }
  if (opts.backend == "postgres" && rep.mode == "bare") rep.rejoin = rejoin(cfg, runner, printer, rep.old_primary);
  local::Stack stack(cfg, runner, printer);
  rep.healthy = detail::wait_stack_healthy(stack, opts.timeout);
  if (rep.lost > 0) rep.reasons.push_back(fmt::format("{} acknowledged writes were lost", rep.lost));
  if (rep.acked == 0) rep.reasons.push_back("the probe wrote nothing");
  if (!rep.healthy) rep.reasons.push_back("the stack is not healthy afterwards: " + detail::unhealthy_summary(stack));
  rep.passed = rep.reasons.empty();
  return rep;
}

} // namespace statectl::failover

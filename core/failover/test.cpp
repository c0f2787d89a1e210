// `failover test`: write probe, fault, recovery by its owner, measurement, heal.
#include <algorithm>
#include <csignal>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "core/config/settings.h"
#include "core/failover/common.h"
#include "core/failover/failover.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/targets/target.h"
#include "core/util/strings.h"

namespace statectl::failover {

using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Probe> make_probe(const config::Config& cfg, const TestOptions& opts, const std::string& run_id, int rate, int threads)
{
  if (opts.backend == "redis") {
    auto t = detail::redis_clients_path(cfg);
    return std::make_unique<Probe>([t, run_id] { return make_redis_writer(t, run_id); }, rate, threads, opts.write_timeout);
  }
  auto t = detail::pg_clients_path(cfg);
  pg_prepare(t, 30s);
  return std::make_unique<Probe>([t, run_id] { return make_pg_writer(t, run_id); }, rate, threads, opts.write_timeout);
}

// Local target: every PostgreSQL member must have the probe table before the fault, asked of
// each server directly. Whichever member is promoted then has it; without this a standby that
// had not replayed the CREATE yet (not streaming at that moment, or not the synchronous one)
// could win the election, and no write could succeed after the failover.
void wait_probe_table_everywhere(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
{
  local::Stack stack(cfg, runner, printer);
  std::vector<std::string> missing;
  bool all = local::wait_for(
    [&] {
      missing.clear();
      for (const auto& m : stack.state().members) {
        if (m.kind != "postgres" && m.kind != "patroni") continue;
        PgTarget t = detail::pg_direct(cfg, m.port);
        t.database = config::settings(cfg).postgres.database;
        if (!pg_has_probe_table(t, 5s)) missing.push_back(m.name);
      }
      return missing.empty();
    },
    30s, 200ms);
  if (!all)
    throw Error(ExitCode::failed, "the failover test cannot start", fmt::format("{} did not replay the probe table within 30s", util::join(missing, ", ")),
                "check replication with 'statectl status'");
}

std::set<std::uint64_t> read_back(const config::Config& cfg, const TestOptions& opts, const std::string& run_id)
{
  if (opts.backend == "redis") return redis_read_back(detail::redis_clients_path(cfg), run_id, 5s);
  return pg_read_back(detail::pg_clients_path(cfg), run_id, 10s);
}

void cleanup(const config::Config& cfg, const TestOptions& opts, const std::string& run_id)
{
  if (opts.backend == "redis") redis_cleanup(detail::redis_clients_path(cfg), run_id);
  else pg_cleanup(detail::pg_clients_path(cfg), run_id);
}

// Polls until the component that owns recovery has put a new primary in charge; returns its name.
std::optional<std::string> wait_new_primary(const config::Config& cfg, exec::Runner& runner, output::Printer& printer,
                                            const TestOptions& opts, const targets::Fault& v, Clock::time_point deadline)
{
  while (Clock::now() < deadline) {
    if (opts.backend == "redis") {
      auto m = redis_master(detail::redis_clients_path(cfg), 500ms);
      if (m && m->second != v.port) {
        local::Stack stack(cfg, runner, printer);
        for (const local::Member* r : stack.state().of_kind("redis"))
          if (r->port == m->second) return r->name;
        return fmt::format("{}:{}", m->first, m->second);
      }
    } else {
      local::Stack stack(cfg, runner, printer);
      std::vector<const local::Member*> members = stack.state().of_kind("patroni");
      if (const local::Member* l = local::patroni::leader(members, local::patroni::rest_ca(cfg, stack.state())); l && l->name != v.victim) return l->name;
    }
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

void tally(Trial& t, const std::vector<WriteRecord>& records, const std::set<std::uint64_t>& found)
{
  for (const auto& r : records) {
    ++t.attempted;
    switch (r.outcome) {
    case Outcome::acked:
      ++t.acked;
      if (!found.count(r.seq)) {
        ++t.lost;
        if (t.lost_seqs.size() < 20) t.lost_seqs.push_back(r.seq);
      }
      break;
    case Outcome::failed: ++t.failed; break;
    case Outcome::unknown:
      ++t.unknown;
      if (found.count(r.seq)) ++t.unknown_found;
      else ++t.unknown_missing;
      break;
    }
  }
}

Trial run_trial(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, targets::Target& target,
                const TestOptions& opts, const TestReport& report, int number)
{
  Trial t;
  t.number = number;
  // The local target's failover is statectl's own (the runbook, Patroni, Sentinel, all here):
  // it is measured and healed here; on containers both are the platform's.
  bool local = target.statectl_heals();
  if (local) {
    local::Stack stack(cfg, runner, printer);
    if (!stack.deployed()) throw Error(ExitCode::usage, "no local stack is deployed", "", "run 'statectl deploy' first");
    if (!detail::wait_stack_healthy(stack, 30s))
      throw Error(ExitCode::failed, "the local stack is not healthy, so a failover test would measure the wrong thing",
                  detail::unhealthy_summary(stack), "run 'statectl deploy' to repair it, then 'statectl status'");
    // Patroni: a standby it may promote streams (with synchronous_mode, the one it names).
    if (opts.backend == "postgres" && stack.state().ha == "patroni") {
      bool sync = config::settings(cfg).postgres.synchronous;
      auto members = stack.state().of_kind("patroni");
      std::string ca = local::patroni::rest_ca(cfg, stack.state());
      if (!local::wait_for([&] { return local::patroni::failover_ready(members, sync, ca); }, 60s, 500ms))
        throw Error(ExitCode::failed,
                    sync ? "Patroni named no synchronous standby within 1m: with synchronous_mode it promotes no other member, so losing "
                           "the leader now stops writes until it returns"
                         : "no Patroni replica streams from the leader within 1m",
                    "", "run 'statectl status'");
    }
  }
  targets::Fault v = target.find_fault(opts.backend);
  t.old_primary = v.victim;
  t.fault = v.description;

  std::string run_id = detail::new_run_id();
  auto probe = make_probe(cfg, opts, run_id, opts.rate, opts.threads);
  if (local && opts.backend == "postgres") wait_probe_table_everywhere(cfg, runner, printer);
  printer.info(fmt::format("trial {}: probe writing {} records/s through the clients' path; warm-up {}", number, opts.rate,
                           util::format_duration(opts.warmup)));
  probe->start();
  std::this_thread::sleep_for(opts.warmup);
  if (probe->acked() == 0) {
    probe->stop();
    auto recs = probe->records();
    throw Error(ExitCode::unavailable, "the probe could not write during the warm-up",
                recs.empty() ? "no write finished" : recs.back().error, "run 'statectl status'; the stack must accept writes before a fault");
  }

  printer.info(fmt::format("trial {}: fault: {}", number, v.description));
  auto fault = Clock::now();
  target.inject(v);
  auto deadline = fault + opts.timeout;
  bool promoted = false; // by statectl through the target (compose)

  // Recovery, by whoever owns it.
  if (local && opts.backend == "postgres" && report.mode == "bare") {
    // statectl is the failover manager in bare mode: detect, then run the runbook.
    local::wait_for([&] { return !local::port_open(v.port, 100ms); }, 10s, 20ms);
    try {
      auto pr = promote(cfg, runner, printer, "", true); // the primary was just killed
      t.new_primary = pr.new_primary;
      t.promote_ms = detail::ms_between(fault, Clock::now());
    } catch (const Error& e) {
      t.problems.push_back("the runbook failed: " + e.message());
    }
  } else if (!local && opts.backend == "postgres" && report.mode == "bare") {
    // A platform without a failover manager (compose): statectl promotes through the engine.
    try {
      if (auto np = target.promote_after(v)) {
        t.new_primary = *np;
        t.promote_ms = detail::ms_between(fault, Clock::now());
        promoted = true;
      }
    } catch (const Error& e) {
      t.problems.push_back("the promotion failed: " + e.message());
    }
  } else if (local) {
    if (auto np = wait_new_primary(cfg, runner, printer, opts, v, deadline)) {
      t.new_primary = *np;
      t.promote_ms = detail::ms_between(fault, Clock::now());
    } else {
      t.problems.push_back(fmt::format("no new primary within {}", util::format_duration(opts.timeout)));
    }
  }

  // RTO: the first acknowledged write that started after the fault on another server (for
  // containers the server is unknown: the first one after the outage began).
  std::optional<WriteRecord> first_ack;
  while (Clock::now() < deadline) {
    if (!v.server.empty()) {
      first_ack = probe->first_ack_after(fault, v.server);
    } else if (auto err = probe->first_error_after(fault)) {
      first_ack = probe->first_ack_after(err->finished, "");
    }
    if (first_ack) break;
    std::this_thread::sleep_for(20ms);
  }
  if (first_ack) {
    t.rto_ms = detail::ms_between(fault, first_ack->finished);
    if (t.new_primary.empty()) t.new_primary = target.server_name(first_ack->server);
    std::this_thread::sleep_for(opts.settle);
  } else if (v.server.empty() && !probe->first_error_after(fault)) {
    t.problems.push_back(fmt::format("no write failed within {} after the fault: the fault had no visible effect", util::format_duration(opts.timeout)));
  } else {
    t.problems.push_back(fmt::format("no write was acknowledged within {} after the fault", util::format_duration(opts.timeout)));
  }
  probe->stop();
  if (auto err = probe->first_error_after(fault)) t.detect_ms = detail::ms_between(fault, err->finished);

  auto records = probe->records();
  try {
    auto found = read_back(cfg, opts, run_id);
    tally(t, records, found);
    t.read_back = true;
    if (t.lost == 0 && first_ack) cleanup(cfg, opts, run_id);
  } catch (const Error& e) {
    for (const auto& r : records) {
      ++t.attempted;
      if (r.outcome == Outcome::acked) ++t.acked;
    }
    t.problems.push_back("the read-back failed: " + e.message());
  }

  // Heal: the old primary comes back as a replica.
  auto heal_start = Clock::now();
  if (!local && promoted && opts.heal) {
    // The killed primary's container comes back as the primary, the promoted one as its
    // standby: the next trial (and every command) finds the roles the render deployed.
    try {
      t.heal = target.restore_after(v, opts.timeout);
      t.healthy_after = true;
    } catch (const Error& e) {
      t.heal = "failed";
      t.problems.push_back("restoring the deployed roles failed: " + e.message());
    }
    t.heal_ms = detail::ms_between(heal_start, Clock::now());
  } else if (!opts.heal) {
    detail::Unhealed u = detail::unhealed(target.platform_restarts_killed(), promoted, v.victim, t.new_primary);
    t.heal = u.heal;
    if (u.problem) t.problems.push_back(*u.problem);
  } else if (!local) {
    // The platform recovered; where its failover manager does not bring the killed member back
    // by itself (Patroni on compose: a killed container stays down), the target does.
    try {
      t.heal = target.restore_after(v, opts.timeout);
      t.healthy_after = t.heal != "platform";
    } catch (const Error& e) {
      t.heal = "failed";
      t.problems.push_back("bringing the killed member back failed: " + e.message());
    }
    t.heal_ms = t.heal == "platform" ? -1 : detail::ms_between(heal_start, Clock::now());
  } else {
    try {
      if (opts.backend == "postgres" && report.mode == "bare") {
        if (!t.new_primary.empty()) t.heal = rejoin(cfg, runner, printer, v.victim);
      } else {
        local::Stack stack(cfg, runner, printer);
        bool cluster = opts.backend == "redis" && stack.state().redis_mode == "cluster";
        printer.info(fmt::format("restarting {}; {} makes it a replica", v.victim,
                                 cluster ? "the cluster" : opts.backend == "redis" ? "Sentinel" : "Patroni"));
        stack.start_member(v.victim);
        t.heal = cluster ? "cluster" : opts.backend == "redis" ? "sentinel" : "patroni (pg_rewind)";
      }
      // Healthy, and the old primary is back as a replica (a restarted Redis master is briefly a
      // master of its own until Sentinel converts it, then resyncs).
      local::Stack stack(cfg, runner, printer);
      t.healthy_after = local::wait_for(
        [&] {
          auto st = stack.status();
          if (!st.healthy) return false;
          for (const auto& c : st.components)
            if (c.name == v.victim) return c.role == "replica";
          return false;
        },
        opts.timeout, 250ms);
      if (t.healthy_after) t.healthy_after = detail::wait_stack_healthy(stack, 10s); // still healthy after the resync
      if (!t.healthy_after) t.problems.push_back("the stack is not healthy after healing: " + detail::unhealthy_summary(stack));
    } catch (const Error& e) {
      t.problems.push_back("healing failed: " + e.message());
    }
    t.heal_ms = detail::ms_between(heal_start, Clock::now());
  }
  return t;
}

} // namespace

namespace detail {

Unhealed unhealed(bool platform_restarts, bool promoted, const std::string& victim, const std::string& new_primary)
{
  if (promoted)
    return {"skipped", fmt::format("--no-heal: {} stays down and {} is the primary; PgBouncer points at it. Run 'statectl deploy' only "
                                   "after making {} a standby (it would start as a second primary)",
                                   victim, new_primary, victim)};
  if (platform_restarts) return {"platform", std::nullopt};
  return {"skipped", std::nullopt};
}

} // namespace detail

namespace {

std::string ms_text(std::int64_t ms) { return ms < 0 ? "-" : fmt::format("{}", ms); }

nlohmann::json ms_json(std::int64_t ms) { return ms < 0 ? nlohmann::json(nullptr) : nlohmann::json(ms); }

} // namespace

nlohmann::json Trial::to_json() const
{
  return {{"trial", number},          {"old_primary", old_primary},   {"new_primary", new_primary},     {"fault", fault},
          {"detect_ms", ms_json(detect_ms)}, {"promote_ms", ms_json(promote_ms)}, {"rto_ms", ms_json(rto_ms)},
          {"attempted", attempted},   {"acked", acked},               {"failed", failed},
          {"lost", read_back ? nlohmann::json(lost) : nlohmann::json(nullptr)}, {"read_back", read_back},
          {"lost_seqs", lost_seqs},   {"unknown", unknown},           {"unknown_found", unknown_found}, {"unknown_missing", unknown_missing},
          {"heal", heal},             {"heal_ms", ms_json(heal_ms)},  {"healthy_after", healthy_after}, {"problems", problems}};
}

nlohmann::json TestReport::to_json() const
{
  nlohmann::json tr = nlohmann::json::array();
  for (const auto& t : trials) tr.push_back(t.to_json());
  return {{"backend", backend},       {"target", target},
          {"mode", mode},             {"lossless", lossless},
          {"lossless_how", lossless_how},
          {"max_lost", max_lost < 0 ? nlohmann::json(nullptr) : nlohmann::json(max_lost)},
          {"max_rto_ms", max_rto_ms ? nlohmann::json(*max_rto_ms) : nlohmann::json(nullptr)},
          {"trials", tr},             {"rto_ms_p50", ms_json(rto_ms_p50)},
          {"rto_ms_max", ms_json(rto_ms_max)},
          {"lost_total", lost_known ? nlohmann::json(lost_total) : nlohmann::json(nullptr)},
          {"passed", passed},         {"reasons", reasons}};
}

std::string TestReport::to_text() const
{
  std::string out = fmt::format("failover test: {} on {} ({} mode)\n", backend, target, mode);
  out += fmt::format("configured lossless: {} ({})\n", lossless ? "yes" : "no", lossless_how);
  output::Table table;
  table.headers = {"TRIAL", "OLD", "NEW", "DETECT_MS", "PROMOTE_MS", "RTO_MS", "ACKED", "LOST", "UNKNOWN(FOUND/MISSING)", "HEAL", "HEALTHY"};
  for (const auto& t : trials)
    table.rows.push_back({std::to_string(t.number), t.old_primary, t.new_primary.empty() ? "-" : t.new_primary, ms_text(t.detect_ms),
                          ms_text(t.promote_ms), ms_text(t.rto_ms), std::to_string(t.acked), t.read_back ? std::to_string(t.lost) : "?",
                          fmt::format("{} ({}/{})", t.unknown, t.unknown_found, t.unknown_missing), t.heal.empty() ? "-" : t.heal,
                          t.healthy_after ? "yes" : "no"});
  out += table.render();
  out += fmt::format("rto p50 {} ms, max {} ms; lost acknowledged writes: {}\n", ms_text(rto_ms_p50), ms_text(rto_ms_max),
                     lost_known ? std::to_string(lost_total) : "unknown (a read-back failed)");
  if (lost_total > 0 && !lossless) out += "loss is expected: " + lossless_how + "\n";
  if (passed) out += "passed\n";
  else
    for (const auto& r : reasons) out += "FAILED: " + r + "\n";
  return out;
}

std::int64_t percentile50(std::vector<std::int64_t> values)
{
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  return values[(values.size() - 1) / 2];
}

void summarize(TestReport& report)
{
  std::vector<std::int64_t> rtos;
  report.lost_total = 0;
  report.lost_known = true;
  report.reasons.clear();
  for (const auto& t : report.trials) {
    if (!t.read_back) report.lost_known = false;
    if (t.rto_ms >= 0) rtos.push_back(t.rto_ms);
    report.lost_total += t.lost;
    for (const auto& p : t.problems) report.reasons.push_back(fmt::format("trial {}: {}", t.number, p));
    if (report.max_rto_ms && t.rto_ms >= 0 && t.rto_ms > *report.max_rto_ms)
      report.reasons.push_back(fmt::format("trial {}: RTO {} ms exceeds --max-rto {} ms", t.number, t.rto_ms, *report.max_rto_ms));
    if (report.max_lost >= 0 && static_cast<std::int64_t>(t.lost) > report.max_lost)
      report.reasons.push_back(fmt::format("trial {}: {} acknowledged writes lost, more than --max-lost {}", t.number, t.lost, report.max_lost));
  }
  report.rto_ms_p50 = percentile50(rtos);
  report.rto_ms_max = rtos.empty() ? -1 : *std::max_element(rtos.begin(), rtos.end());
  report.passed = report.reasons.empty() && !report.trials.empty();
}

TestReport run_test(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const TestOptions& opts)
{
  auto target = targets::make(cfg, runner, printer);
  bool local = target->statectl_heals();
  TestReport rep;
  rep.backend = opts.backend;
  rep.target = target->name();
  if (opts.backend == "redis") {
    rep.mode = config::settings(cfg).redis.mode;
    auto min = config::settings(cfg).redis.min_replicas_to_write;
    rep.lossless = false;
    rep.lossless_how = min > 0 ? fmt::format("asynchronous replication; min-replicas-to-write {} narrows but does not close the loss window", min)
                               : "asynchronous replication and min-replicas-to-write 0: a failover may lose acknowledged writes";
  } else {
    std::string ha = config::settings(cfg).postgres.ha;
    if (local) {
      local::Stack stack(cfg, runner, printer);
      if (stack.deployed()) ha = stack.state().ha;
    }
    rep.mode = ha == "patroni" ? "patroni" : "bare";
    rep.lossless = config::settings(cfg).postgres.synchronous;
    rep.lossless_how = rep.lossless ? (ha == "patroni" ? "Patroni synchronous_mode" : "synchronous replication (ANY 1 standby, remote flush)")
                                    : "asynchronous replication ([postgres] synchronous = false)";
  }
  if (!local && rep.mode == "cluster")
    throw Error(ExitCode::usage, "failover test of a Redis Cluster is supported on the local target only", "", "use --target local");
  if (opts.backend == "redis" && rep.mode != "sentinel" && rep.mode != "cluster")
    throw Error(ExitCode::usage, "failover test --backend redis needs Sentinel", fmt::format("[redis] mode is \"{}\"", rep.mode),
                "set [redis] mode = \"sentinel\" and deploy");
  rep.max_lost = opts.max_lost.value_or(rep.lossless ? 0 : -1);
  if (opts.max_rto) rep.max_rto_ms = opts.max_rto->count();

  if (runner.dry_run() == exec::DryRun::plan) {
    printer.plan(fmt::format("write {} probe records/s through the clients' path, then inject the fault:", opts.rate));
    bool deployed = true;
    if (local) deployed = local::Stack(cfg, runner, printer).deployed();
    if (deployed) target->inject(target->find_fault(opts.backend));
    return rep;
  }

  for (int i = 1; i <= opts.trials; ++i) {
    rep.trials.push_back(run_trial(cfg, runner, printer, *target, opts, rep, i));
    const auto& t = rep.trials.back();
    printer.info(fmt::format("trial {}: {} -> {}, rto {} ms, acked {}, lost {}, unknown {}", i, t.old_primary,
                             t.new_primary.empty() ? "?" : t.new_primary, ms_text(t.rto_ms), t.acked, t.lost, t.unknown));
    if (local && !t.healthy_after && i < opts.trials) {
      printer.warn("the stack did not heal; skipping the remaining trials");
      break;
    }
  }
  summarize(rep);
  return rep;
}

} // namespace statectl::failover

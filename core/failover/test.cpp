// `failover test`: write probe, fault, recovery by its owner, measurement, heal.
#include <algorithm>
#include <csignal>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/deploy/tools.h"
#include "core/error.h"
#include "core/failover/common.h"
#include "core/failover/failover.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/util/strings.h"

namespace statectl::failover {

using namespace std::chrono;
namespace fs = std::filesystem;

std::vector<std::string> compose_kill_argv(const std::vector<std::string>& compose_base, const std::string& container)
{
  (void)compose_base; // the kill goes to the engine, not to Compose
  return {"docker", "kill", "--signal", "KILL", container};
}

std::vector<std::string> k8s_delete_argv(const std::vector<std::string>& kubectl_base, const std::string& pod)
{
  std::vector<std::string> argv = kubectl_base;
  argv.insert(argv.end(), {"delete", "pod", pod, "--grace-period=0", "--force", "--wait=false"});
  return argv;
}

std::string k8s_primary_selector(const std::string& backend)
{
  return backend == "redis" ? "app.kubernetes.io/name=redis,app.kubernetes.io/component=master"
                            : "app.kubernetes.io/name=postgres,app.kubernetes.io/component=primary";
}

std::string compose_primary_service(const std::string& backend) { return backend == "redis" ? "redis-master" : "postgres-primary"; }

namespace {

// Who holds the writable role before the fault, and how to kill it.
struct Victim {
  std::string name;   // member, container or pod
  std::string server; // "127.0.0.1:PORT" as the probe sees it; empty when unknown (containers)
  int port = 0;
  std::vector<int> pids;            // local: SIGKILL these
  std::vector<std::string> argv;    // containers: the fault command
  std::string fault;                // description
};

std::unique_ptr<Probe> make_probe(const config::Config& cfg, const TestOptions& opts, const std::string& run_id, int rate, int threads)
{
  if (opts.backend == "redis") {
    auto t = detail::redis_clients_path(cfg);
    return std::make_unique<Probe>([t, run_id] { return make_redis_writer(t, run_id); }, rate, threads, opts.write_timeout);
  }
  auto t = detail::pg_clients_path(cfg);
  pg_prepare(t, 10s);
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
        t.database = cfg.get_string("postgres.database");
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

Victim local_victim(const config::Config& cfg, local::Stack& stack, const TestOptions& opts)
{
  Victim v;
  const auto& st = stack.state();
  if (opts.backend == "redis") {
    auto m = redis_master(detail::redis_clients_path(cfg), 1s);
    if (!m) throw Error(ExitCode::unavailable, "no Sentinel reports a Redis master", "", "run 'statectl status'");
    for (const local::Member* r : st.of_kind("redis"))
      if (r->port == m->second) {
        v.name = r->name;
        v.port = r->port;
        if (local::process_matches(r->pid, r->start_time)) v.pids.push_back(r->pid);
      }
    if (v.name.empty()) throw Error(ExitCode::failed, fmt::format("the Redis master 127.0.0.1:{} is not a member of the local stack", m->second));
    v.server = fmt::format("127.0.0.1:{}", v.port);
    v.fault = fmt::format("SIGKILL {} (redis-server {})", v.name, v.pids.empty() ? 0 : v.pids[0]);
    return v;
  }
  const local::Member* p = stack.primary();
  if (!p) throw Error(ExitCode::failed, "the local stack has no PostgreSQL primary", "", "run 'statectl status'");
  v.name = p->name;
  v.port = p->port;
  v.server = fmt::format("127.0.0.1:{}", p->port);
  std::vector<std::string> what;
  if (p->kind == "patroni" && local::process_matches(p->pid, p->start_time)) {
    v.pids.push_back(p->pid); // Patroni first, so it cannot restart its PostgreSQL
    what.push_back(fmt::format("patroni {}", p->pid));
  }
  if (auto pm = local::read_pidfile(fs::path(p->data_dir) / "postmaster.pid"); pm && local::process_start_time(*pm)) {
    v.pids.push_back(*pm);
    what.push_back(fmt::format("postmaster {}", *pm));
  }
  if (v.pids.empty()) throw Error(ExitCode::failed, fmt::format("the primary {} is not running", p->name), "", "run 'statectl deploy' to repair");
  v.fault = fmt::format("SIGKILL {} ({})", v.name, util::join(what, ", "));
  return v;
}

Victim container_victim(const config::Config& cfg, exec::Runner& runner, const TestOptions& opts)
{
  Victim v;
  if (opts.target == "compose") {
    auto compose = deploy::Compose::detect(cfg, runner, cfg.state_dir() / "compose" / "docker-compose.yml");
    std::string service = compose_primary_service(opts.backend);
    auto r = deploy::run_checked(runner, deploy::command(compose.argv({"ps", "-q", service}), false, 30s), "finding the " + service + " container");
    v.name = util::trim(util::split(r.out, '\n').empty() ? "" : util::split(r.out, '\n')[0]);
    if (v.name.empty() && !r.planned)
      throw Error(ExitCode::failed, fmt::format("no running {} container in Compose project {}", service, compose.project), "",
                  "run 'statectl deploy --target compose' first");
    if (v.name.empty()) v.name = "<" + service + ">";
    v.argv = compose_kill_argv(compose.base, v.name);
  } else {
    auto kubectl = deploy::Kubectl::detect(cfg);
    auto r = deploy::run_checked(runner,
                                 deploy::command(kubectl.argv({"get", "pods", "-l", k8s_primary_selector(opts.backend), "-o",
                                                               "jsonpath={.items[*].metadata.name}"}),
                                                 false, 30s),
                                 "finding the primary pod");
    auto names = util::split(util::trim(r.out), ' ');
    v.name = names.empty() ? "" : util::trim(names[0]);
    if (v.name.empty() && !r.planned)
      throw Error(ExitCode::failed, fmt::format("no pod matches {}", k8s_primary_selector(opts.backend)), "",
                  "run 'statectl deploy --target k8s' first");
    if (v.name.empty()) v.name = "<pod>";
    v.argv = k8s_delete_argv(kubectl.base, v.name);
  }
  v.fault = exec::display(v.argv);
  return v;
}

// Polls until the component that owns recovery has put a new primary in charge; returns its name.
std::optional<std::string> wait_new_primary(const config::Config& cfg, exec::Runner& runner, output::Printer& printer,
                                            const TestOptions& opts, const Victim& v, Clock::time_point deadline)
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
      if (const local::Member* l = local::patroni::leader(members); l && l->name != v.name) return l->name;
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

Trial run_trial(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const TestOptions& opts,
                const TestReport& report, int number)
{
  Trial t;
  t.number = number;
  bool local = opts.target == "local";
  Victim v;
  if (local) {
    local::Stack stack(cfg, runner, printer);
    if (!stack.deployed()) throw Error(ExitCode::usage, "no local stack is deployed", "", "run 'statectl deploy' first");
    if (!detail::wait_stack_healthy(stack, 30s))
      throw Error(ExitCode::failed, "the local stack is not healthy, so a failover test would measure the wrong thing",
                  detail::unhealthy_summary(stack), "run 'statectl deploy' to repair it, then 'statectl status'");
    v = local_victim(cfg, stack, opts);
  } else {
    v = container_victim(cfg, runner, opts);
  }
  t.old_primary = v.name;
  t.fault = v.fault;

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

  printer.info(fmt::format("trial {}: fault: {}", number, v.fault));
  auto fault = Clock::now();
  if (local) {
    for (int pid : v.pids) ::kill(pid, SIGKILL);
  } else {
    auto c = deploy::command(v.argv, true, 60s);
    deploy::run_checked(runner, c, "injecting the fault");
  }
  auto deadline = fault + opts.timeout;

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
    if (t.new_primary.empty()) t.new_primary = first_ack->server;
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
  if (!local) {
    t.heal = "platform";
  } else if (!opts.heal) {
    t.heal = "skipped";
  } else {
    try {
      if (opts.backend == "postgres" && report.mode == "bare") {
        if (!t.new_primary.empty()) t.heal = rejoin(cfg, runner, printer, v.name);
      } else {
        local::Stack stack(cfg, runner, printer);
        printer.info(fmt::format("restarting {}; {} makes it a replica", v.name, opts.backend == "redis" ? "Sentinel" : "Patroni"));
        stack.start_member(v.name);
        t.heal = opts.backend == "redis" ? "sentinel" : "patroni (pg_rewind)";
      }
      // Healthy, and the old primary is back as a replica (a restarted Redis master is briefly a
      // master of its own until Sentinel converts it, then resyncs).
      local::Stack stack(cfg, runner, printer);
      t.healthy_after = local::wait_for(
        [&] {
          auto st = stack.status();
          if (!st.healthy) return false;
          for (const auto& c : st.components)
            if (c.name == v.name) return c.role == "replica";
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

std::string ms_text(std::int64_t ms) { return ms < 0 ? "-" : fmt::format("{}", ms); }

nlohmann::json ms_json(std::int64_t ms) { return ms < 0 ? nlohmann::json(nullptr) : nlohmann::json(ms); }

} // namespace

nlohmann::json Trial::to_json() const
{
  return {{"trial", number},          {"old_primary", old_primary},   {"new_primary", new_primary},     {"fault", fault},
          {"detect_ms", ms_json(detect_ms)}, {"promote_ms", ms_json(promote_ms)}, {"rto_ms", ms_json(rto_ms)},
          {"attempted", attempted},   {"acked", acked},               {"failed", failed},               {"lost", lost},
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
          {"rto_ms_max", ms_json(rto_ms_max)}, {"lost_total", lost_total},
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
                          ms_text(t.promote_ms), ms_text(t.rto_ms), std::to_string(t.acked), std::to_string(t.lost),
                          fmt::format("{} ({}/{})", t.unknown, t.unknown_found, t.unknown_missing), t.heal.empty() ? "-" : t.heal,
                          t.healthy_after ? "yes" : "no"});
  out += table.render();
  out += fmt::format("rto p50 {} ms, max {} ms; lost acknowledged writes: {}\n", ms_text(rto_ms_p50), ms_text(rto_ms_max), lost_total);
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
  report.reasons.clear();
  for (const auto& t : report.trials) {
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
  TestReport rep;
  rep.backend = opts.backend;
  rep.target = opts.target;
  if (opts.backend == "redis") {
    rep.mode = cfg.get_string("redis.mode");
    auto min = cfg.get_int("redis.min_replicas_to_write");
    rep.lossless = false;
    rep.lossless_how = min > 0 ? fmt::format("asynchronous replication; min-replicas-to-write {} narrows but does not close the loss window", min)
                               : "asynchronous replication and min-replicas-to-write 0: a failover may lose acknowledged writes";
  } else {
    std::string ha = cfg.get_string("postgres.ha");
    if (opts.target == "local") {
      local::Stack stack(cfg, runner, printer);
      if (stack.deployed()) ha = stack.state().ha;
    }
    rep.mode = ha == "patroni" ? "patroni" : "bare";
    rep.lossless = cfg.get_bool("postgres.synchronous");
    rep.lossless_how = rep.lossless ? (ha == "patroni" ? "Patroni synchronous_mode" : "synchronous replication (ANY 1 standby, remote flush)")
                                    : "asynchronous replication ([postgres] synchronous = false)";
  }
  if (rep.mode == "cluster") throw Error(ExitCode::usage, "failover test does not support Redis Cluster yet", "", "use [redis] mode = \"sentinel\"");
  if (opts.target == "local" && opts.backend == "redis" && rep.mode != "sentinel")
    throw Error(ExitCode::usage, "failover test --backend redis needs Sentinel", fmt::format("[redis] mode is \"{}\"", rep.mode),
                "set [redis] mode = \"sentinel\" and deploy");
  rep.max_lost = opts.max_lost.value_or(rep.lossless ? 0 : -1);
  if (opts.max_rto) rep.max_rto_ms = opts.max_rto->count();

  if (runner.dry_run() == exec::DryRun::plan) {
    printer.info("dry run: the probe would write through the clients' path, then:");
    if (opts.target == "local") {
      local::Stack stack(cfg, runner, printer);
      if (stack.deployed()) printer.info("  " + local_victim(cfg, stack, opts).fault);
    } else {
      auto v = container_victim(cfg, runner, opts);
      runner.run(deploy::command(v.argv, true, 60s));
    }
    return rep;
  }

  for (int i = 1; i <= opts.trials; ++i) {
    rep.trials.push_back(run_trial(cfg, runner, printer, opts, rep, i));
    const auto& t = rep.trials.back();
    printer.info(fmt::format("trial {}: {} -> {}, rto {} ms, acked {}, lost {}, unknown {}", i, t.old_primary,
                             t.new_primary.empty() ? "?" : t.new_primary, ms_text(t.rto_ms), t.acked, t.lost, t.unknown));
    if (opts.target == "local" && !t.healthy_after && i < opts.trials) {
      printer.warn("the stack did not heal; skipping the remaining trials");
      break;
    }
  }
  summarize(rep);
  return rep;
}

} // namespace statectl::failover

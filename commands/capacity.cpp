#include "commands/capacity.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "core/capacity/bench.h"
#include "core/capacity/check.h"
#include "core/capacity/plan.h"
#include "core/config/config.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::commands {

namespace {

std::uint64_t size_option(const std::string& flag, const std::string& text)
{
  auto v = util::parse_size(text);
  if (!v) throw Error(ExitCode::usage, fmt::format("invalid {}", flag), v.error());
  return *v;
}

void setup_plan(CLI::App& parent, Context& ctx)
{
  struct Opts {
    std::string ram, storage = "ssd", workload = "web", data_size = "0", growth, disk, format = "text";
    int cpus = 0, connections = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = parent.add_subcommand("plan", "Size PostgreSQL (equal to pgtune for PostgreSQL 15 on Linux), PgBouncer and Redis, pick a tier, lint HA timings");
  sub->add_option("--ram", o->ram, "RAM of one server (default [postgres] memory), e.g. 16GB");
  sub->add_option("--cpus", o->cpus, "CPUs of one server (default [postgres] cpu)")->check(CLI::Range(1, 1024));
  sub->add_option("--storage", o->storage, "Storage kind: random_page_cost and effective_io_concurrency")
    ->check(CLI::IsMember(capacity::storage_kinds()))
    ->default_str("ssd");
  sub->add_option("--workload", o->workload, "web, oltp, dw (data warehouse), mixed or desktop (pgtune's DB types)")
    ->check(CLI::IsMember(capacity::workload_kinds()))
    ->default_str("web");
  sub->add_option("--connections", o->connections, "max_connections (default by workload: web 200, oltp 300, dw 40, mixed 100, desktop 20)")
    ->check(CLI::Range(1, 100000));
  sub->add_option("--data-size", o->data_size, "Current data size, e.g. 50GB; compared with --ram it is pgtune's total data size (less than RAM, "
                  "1x-3x RAM, more than 3x), which changes work_mem and random_page_cost; 0 = unknown (1x-3x)")->default_str("0");
  sub->add_option("--growth", o->growth, "Data growth per month, e.g. 10GB/month");
  sub->add_option("--disk", o->disk, "Volume size for months-until-full (default: the tier's storage)");
  sub->add_option("--format", o->format, "text, json (same as -o json) or postgresql.conf (a snippet to include)")
    ->check(CLI::IsMember({"text", "json", "postgresql.conf"}))
    ->default_str("text");
  sub->footer("Exit status: 0, or 1 when the HA lint finds an error (a broken Patroni or Sentinel rule).");
  sub->callback([&ctx, o] {
    auto& cfg = ctx.config();
    capacity::PlanInput in;
    in.ram = size_option("--ram", o->ram.empty() ? cfg.get_string("postgres.memory") : o->ram);
    if (o->cpus > 0) {
      in.cpus = o->cpus;
    } else {
      std::string cpu = cfg.get_string("postgres.cpu");
      try {
        in.cpus = std::max(1, static_cast<int>(std::stod(cpu)));
      } catch (...) {
        throw Error(ExitCode::usage, "invalid [postgres] cpu", fmt::format("'{}' is not a number of CPUs", cpu), "pass --cpus N");
      }
    }
    in.storage = o->storage;
    in.workload = o->workload;
    in.connections = o->connections;
    in.data_size = size_option("--data-size", o->data_size);
    if (!o->growth.empty()) {
      std::string g = util::to_lower(o->growth);
      bool per_month = false;
      for (const char* suffix : {"/month", "/mo", "/m"})
        if (util::ends_with(g, suffix)) {
          g.resize(g.size() - std::string(suffix).size());
          per_month = true;
          break;
        }
      // A rate without its period is ambiguous ("5GB" a day? a year?): ask for it.
      if (!per_month)
        throw Error(ExitCode::usage, "invalid --growth", fmt::format("'{}' has no period", o->growth),
                    fmt::format("give a rate per month, e.g. --growth {}/month", o->growth));
      in.growth_per_month = size_option("--growth", g);
    }
    if (!o->disk.empty()) in.disk = size_option("--disk", o->disk);

    capacity::Plan plan = capacity::make_plan(in, cfg);
    auto& printer = ctx.printer();
    if (o->format == "postgresql.conf" && !printer.json()) {
      printer.out(capacity::to_postgresql_conf(plan));
      for (const auto& f : plan.lint) printer.warn(fmt::format("{}: {}: {}", f.severity, f.component, f.message));
    } else if (o->format == "json" || printer.json()) {
      printer.out(capacity::to_json(plan).dump(2) + "\n");
    } else {
      printer.result(capacity::to_json(plan), [&] { return capacity::to_text(plan); });
    }
    if (plan.has_lint_errors()) throw Exit(1);
  });
}


void setup_check(CLI::App& parent, Context& ctx)
{
  struct Opts {
    std::vector<std::string> warn, crit, skip;
    std::string format = "text";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = parent.add_subcommand("check", "Check the deployed stack against thresholds; Nagios exit codes");
  sub->add_option("--warn", o->warn,
                  "Warning threshold in percent for connections, database_size, wraparound and redis_memory "
                  "(default [capacity] warn); NAME=PCT sets one check's")
    ->take_all()
    ->allow_extra_args(false);
  sub->add_option("--crit", o->crit, "Critical threshold in percent (default [capacity] crit); NAME=PCT sets one check's")
    ->take_all()
    ->allow_extra_args(false);
  // The names in the type name are what the completions offer; the callback validates them
  // (with "did you mean").
  sub->add_option("--skip", o->skip, "Leave out checks by name (comma-separated or repeated)")
    ->delimiter(',')
    ->type_name("NAME:{" + util::join(capacity::check_names(), ",") + "}");
  sub->add_option("--format", o->format,
                  "text (Nagios plugin output with perfdata), json (same as -o json) or prometheus (text exposition "
                  "for the node exporter's textfile collector)")
    ->check(CLI::IsMember({"text", "json", "prometheus"}))
    ->default_str("text");
  sub->footer(
    "Checks: connections, database_size, replication_replicas, replication_lag (per standby), wraparound,\n"
    "archive_ready, archive_failure, longest_transaction, idle_in_transaction, pgbouncer_waiting, redis_memory,\n"
    "redis_evictions, redis_replicas, sentinel_quorum, redis_cluster (cluster mode: every master's cluster_state\n"
    "and slots; memory and evictions per master), backup_age, certificate_expiry (the store's tls.crt and ca.crt:\n"
    "WARNING within 30 days, CRITICAL within 7; only when a certificate or [tls] exists). Other thresholds come from [capacity] in the\n"
    "config. A server that cannot be reached makes its checks UNKNOWN. Thresholds alert only when a value is\n"
    "beyond them (equal is OK); --warn/--crit also take Nagios ranges (10:, ~:90, @10:20).\n"
    "\n"
    "Text output is a Nagios plugin's: one status line with performance data after '|'\n"
    "('label'=value[UOM];warn;crit;min;max for every measured value), then one line per check; -q keeps the\n"
    "status line and only the checks that are not OK. --format prometheus prints statectl_capacity_check_status\n"
    "and the measured values for the node exporter's textfile collector and then exits 0 (the states are in\n"
    "the metrics; usage errors still exit 3).\n"
    "\n"
    "Exit status (Nagios plugin convention, an exception to statectl's usual codes): the worst check's state,\n"
    "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN - also for a usage error (bad option or threshold) or a config\n"
    "error, which other commands report with 2; then stdout has a 'CAPACITY UNKNOWN: <error>' status line.");
  sub->callback([&ctx, o] {
    capacity::Thresholds t;
    std::set<std::string> skip;
    try {
      auto& cfg = ctx.config();
      t = capacity::thresholds_from_config(cfg);
      for (const auto& w : o->warn) capacity::apply_threshold_flag(t, "--warn", w);
      for (const auto& c : o->crit) capacity::apply_threshold_flag(t, "--crit", c);
      const auto& names = capacity::check_names();
      for (auto n : o->skip) {
        n = util::trim(n);
        if (std::find(names.begin(), names.end(), n) == names.end()) {
          auto m = util::closest_match(n, names);
          throw Error(ExitCode::usage, fmt::format("invalid --skip '{}'", n), "no such check",
                      m ? fmt::format("did you mean '{}'?", *m) : "see `statectl capacity check --help` for the names");
        }
        skip.insert(n);
      }
    } catch (const Error& e) {
      // Nagios reads 2 as CRITICAL: a check that could not even start is UNKNOWN.
      throw Error(ExitCode::unavailable, e.what_failed(), e.why(), e.hint());
    }
    auto report = capacity::run_checks(ctx.config(), t, skip);
    auto& printer = ctx.printer();
    if (o->format == "prometheus" && !printer.json()) {
      printer.out(capacity::to_prometheus(
        report, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()));
      return;
    }
    if (o->format == "json" && !printer.json()) {
      printer.out(capacity::to_json(report).dump(2) + "\n");
    } else {
      printer.result(capacity::to_json(report), [&] { return capacity::to_text(report, printer.quiet()); });
    }
    int code = static_cast<int>(report.worst());
    if (code != 0) throw Exit(code);
  });
}

void setup_bench(CLI::App& parent, Context& ctx)
{
  struct Opts {
    capacity::BenchOptions bench;
    std::string duration = "10s", value_size = "100";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = parent.add_subcommand("bench", "Load-test the state backend with the get/put code: ops/s and latency percentiles");
  sub->add_option("--clients", o->bench.clients, "Threads, one connection each")->check(CLI::Range(1, 1024))->default_str("4");
  sub->add_option("--duration", o->duration, "How long to run, e.g. 30s")->default_str("10s");
  sub->add_option("--read-ratio", o->bench.read_ratio, "Share of gets (the rest are puts), 0 to 1")
    ->check(CLI::Range(0.0, 1.0))
    ->default_str("0.9");
  sub->add_option("--value-size", o->value_size, "Bytes per value written, e.g. 100 or 4KB")->default_str("100");
  sub->add_option("--keys", o->bench.keys, "Distinct keys, written once before the run and deleted after it")
    ->check(CLI::Range(1, 10000000))
    ->default_str("10000");
  sub->footer(
    "Uses --backend (default [state] backend) with the same code as get/put. Latency percentiles come from a\n"
    "histogram with under 1% error. The ratio compares ops/s with the seed's reference: Redis 100K ops/s\n"
    "(p99 < 1 ms), PostgreSQL 10K ops/s (p99 1-5 ms), PostgreSQL + PgBouncer 50K ops/s.\n"
    "Exit status: 0, 1 when any operation failed, 3 when the backend cannot be reached.");
  sub->callback([&ctx, o] {
    auto& cfg = ctx.config();
    auto opts = o->bench;
    opts.backend = ctx.backend();
    auto d = util::parse_duration(o->duration);
    if (!d) throw Error(ExitCode::usage, "invalid --duration", d.error());
    opts.duration = *d;
    opts.value_size = size_option("--value-size", o->value_size);
    auto& printer = ctx.printer();
    capacity::validate(opts, cfg);
    printer.info(fmt::format("benchmarking {} for {} with {} clients", opts.backend, util::format_duration(opts.duration),
                             opts.clients));
    auto result = capacity::run_bench(cfg, opts, [&](const std::string& line) { printer.detail(line); });
    printer.result(capacity::to_json(result), [&] { return capacity::to_text(result); });
    if (result.errors > 0) throw Exit(1);
  });
}

} // namespace

void setup_capacity(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  setup_plan(sub, ctx);
  setup_check(sub, ctx);
  setup_bench(sub, ctx);
}

} // namespace statectl::commands

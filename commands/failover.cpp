#include "commands/failover.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/error.h"
#include "core/failover/failover.h"
#include "core/failover/metrics.h"
#include "core/util/strings.h"

namespace statectl::commands {

using namespace std::chrono;

namespace {

void setup_test(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string backend;
    int rate = 200;
    int threads = 4;
    int trials = 1;
    std::string warmup = "2s";
    std::string settle = "2s";
    std::string write_timeout = "1s";
    std::string timeout = "60s";
    std::string max_rto;
    std::int64_t max_lost = -1;
    bool no_heal = false;
    std::string format = "text";
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--backend", o->backend, "Backend whose primary is killed")->required()->check(CLI::IsMember({"postgres", "redis"}));
  sub.add_option("--rate", o->rate, "Probe writes per second")->capture_default_str()->check(CLI::Range(1, 100000));
  sub.add_option("--threads", o->threads, "Probe threads sharing the write schedule")->capture_default_str()->check(CLI::Range(1, 64));
  sub.add_option("--trials", o->trials, "Failures to inject, one after the other (the stack heals in between)")->capture_default_str()->check(CLI::Range(1, 100));
  sub.add_option("--warmup", o->warmup, "Probe writes before the fault")->capture_default_str();
  sub.add_option("--settle", o->settle, "Probe writes after recovery before the read-back")->capture_default_str();
  sub.add_option("--write-timeout", o->write_timeout, "A write without answer by then counts as unknown")->capture_default_str();
  sub.add_option("--timeout", o->timeout, "Longest wait for recovery and for healing")->capture_default_str();
  sub.add_option("--max-rto", o->max_rto, "Exit 1 when a trial's RTO is longer (e.g. 5s)");
  sub.add_option("--max-lost", o->max_lost, "Exit 1 when a trial loses more acknowledged writes (default 0 for PostgreSQL with synchronous replication, else no limit)")
    ->check(CLI::Range(static_cast<std::int64_t>(0), static_cast<std::int64_t>(1) << 40));
  sub.add_flag("--no-heal", o->no_heal, "Leave the old primary down after the trial (local and compose: heal says skipped; k8s recreates the pod anyway: heal says platform)");
  sub.add_option("--format", o->format, "text, json (same as -o json) or prometheus (the last RTO and loss, for the node "
                                        "exporter's textfile collector; the exit status is unchanged)")
    ->check(CLI::IsMember({"text", "json", "prometheus"}))
    ->default_str("text");
  sub.footer(
    "RTO = fault -> first acknowledged write on the new primary; lost = acknowledged writes missing after the\n"
    "settle; unknown = writes that timed out in flight (found / missing on read-back). Exit 1 when a limit is\n"
    "exceeded or a trial could not recover or heal; lost is unknown (never 0) when the read-back failed.\n"
    "compose: the fault is `docker kill`; bare PostgreSQL: statectl promotes the standby that received the most WAL\n"
    "(docker exec ... pg_promote) and repoints PgBouncer, then brings the deployed roles back (the promoted standby\n"
    "stopped cleanly and copied into postgres-primary, which becomes the primary again; --no-heal leaves it down);\n"
    "[postgres] ha = \"patroni\" on compose: the leader's container is killed, Patroni elects a new leader, HAProxy\n"
    "follows its REST health, then the killed container is started again and rejoins as a replica (--no-heal: left\n"
    "down). Redis: Sentinel recovers (compose: the container of the master the Sentinels name is killed and stays\n"
    "down, as restart: unless-stopped leaves a killed container; then it is started again and follows the new\n"
    "master as a replica); a local Redis Cluster ([redis] mode = \"cluster\"): the master of the probe's slot is\n"
    "killed, its replica takes over, the killed node rejoins as its replica. k8s: the fault is `kubectl delete pod --grace-period=0 --force`, recovery and healing\n"
    "are left to the platform.");
  sub.callback([&ctx, o] {
    failover::TestOptions opts;
    opts.backend = o->backend;
    opts.target = ctx.config().get_string("project.target");
    opts.rate = o->rate;
    opts.threads = o->threads;
    opts.trials = o->trials;
    opts.warmup = duration_flag("--warmup", o->warmup);
    opts.settle = duration_flag("--settle", o->settle, true);
    opts.write_timeout = duration_flag("--write-timeout", o->write_timeout);
    opts.timeout = duration_flag("--timeout", o->timeout);
    if (!o->max_rto.empty()) opts.max_rto = duration_flag("--max-rto", o->max_rto);
    if (o->max_lost >= 0) opts.max_lost = o->max_lost;
    opts.heal = !o->no_heal;
    auto report = failover::run_test(ctx.config(), ctx.runner(), ctx.printer(), opts);
    if (ctx.globals().dry_run) return; // the plan is the result
    if (o->format == "prometheus" && !ctx.printer().json())
      ctx.printer().out(failover::test_to_prometheus(
        report, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()));
    else if (o->format == "json" && !ctx.printer().json())
      ctx.printer().out(report.to_json().dump(2) + "\n");
    else
      ctx.printer().result(report.to_json(), [&] { return report.to_text(); });
    if (!report.passed) {
      for (const auto& r : report.reasons) ctx.printer().warn(r);
      throw Exit(static_cast<int>(ExitCode::failed));
    }
  });
}

void setup_switchover(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string backend = "postgres";
    std::string to;
    int rate = 100;
    std::string timeout = "60s";
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--backend", o->backend, "Backend whose roles change")->capture_default_str()->check(CLI::IsMember({"postgres", "redis"}));
  sub.add_option("--to", o->to, "Member to promote (default: the most caught-up standby / replica)");
  sub.add_option("--rate", o->rate, "Probe writes per second during the change")->capture_default_str()->check(CLI::Range(1, 100000));
  sub.add_option("--timeout", o->timeout, "Longest wait for catch-up, promotion and health")->capture_default_str();
  sub.footer(
    "bare PostgreSQL: PgBouncer PAUSE, wait for replay, stop the primary, promote, repoint, RESUME, rejoin the old\n"
    "primary as a standby. Patroni: POST /switchover. Redis: CLIENT PAUSE WRITE, wait for the replica, SENTINEL\n"
    "FAILOVER, wait until every Sentinel agrees; a local Redis Cluster: CLUSTER FAILOVER on a replica (--to names\n"
    "it), wait until it is master and the old master follows it. --target k8s with [postgres] ha = \"patroni\": POST /switchover to\n"
    "the leader pod's REST API (kubectl exec ... curl), then wait until another pod is labelled role=master; --to\n"
    "names a member pod. --target compose with [postgres] ha = \"patroni\": POST /switchover to the leader's REST\n"
    "API (docker exec ... curl), then wait until another member leads; --to names a member (patroni-N).\n"
    "--target compose --backend redis: the Sentinel switchover above through the published ports (--to names a\n"
    "Redis container). --target compose, bare PostgreSQL: statectl drives the engine: PAUSE every PgBouncer, wait\n"
    "until the standby replayed the primary's last LSN, stop the primary's container cleanly, promote the standby\n"
    "(docker exec ... pg_promote), point PgBouncer (and its applied pgbouncer.ini) at it, RESUME once the old primary\n"
    "streams from it as a standby (no rewind: its shutdown checkpoint reached the standby); --to names a container or\n"
    "a service with one container (postgres-primary to switch back). The new primary is recorded in\n"
    "<state dir>/compose-primary: status, psql and the next switchover follow it; deploy, scale postgres, failover\n"
    "test and destroy without --purge are refused (exit 2) until a switchover back to postgres-primary.\n"
    "A write probe runs throughout; exit 1 when a write was lost.");
  sub.callback([&ctx, o] {
    failover::SwitchoverOptions opts;
    opts.backend = o->backend;
    opts.to = o->to;
    opts.rate = o->rate;
    opts.timeout = duration_flag("--timeout", o->timeout);
    auto report = failover::switchover(ctx.config(), ctx.runner(), ctx.printer(), opts);
    if (ctx.globals().dry_run) return;
    ctx.printer().result(report.to_json(), [&] { return report.to_text(); });
    if (!report.passed) throw Exit(static_cast<int>(ExitCode::failed));
  });
}

void setup_promote(CLI::App& sub, Context& ctx)
{
  auto member = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  sub.add_option("--member", *member, "Standby to promote (default: the one with the highest replay LSN)");
  sub.add_flag("--force", *force, "Promote even though the primary is healthy (it is stopped)");
  sub.footer("Bare mode only: fences the old primary (stop -m immediate), promotes, repoints PgBouncer (RELOAD).\n"
             "The old primary stays down until `statectl deploy` re-makes it as a standby. While the primary still\n"
             "answers, promote refuses (exit 2, nothing changed) unless --force is given; a planned change is\n"
             "`failover switchover`.");
  sub.callback([&ctx, member, force] {
    auto r = failover::promote(ctx.config(), ctx.runner(), ctx.printer(), *member, *force);
    if (ctx.globals().dry_run) return; // the plan is the result
    ctx.printer().result(r.to_json(), [&] {
      return fmt::format("promoted {} (replayed up to {}) in {} ms; PgBouncer now points at it; {} is fenced\n", r.new_primary,
                         r.replay_lsn, r.took_ms, r.old_primary.empty() ? "no old primary" : r.old_primary);
    });
  });
}

} // namespace

void setup_failover(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  setup_test(*sub.add_subcommand("test", "Kill the primary under a write probe; measure RTO and lost acknowledged writes"), ctx);
  setup_switchover(*sub.add_subcommand("switchover", "Planned, lossless role change (verified by a write probe)"), ctx);
  setup_promote(*sub.add_subcommand("promote", "Bare mode runbook step: promote the most caught-up standby, repoint PgBouncer"), ctx);
}

} // namespace statectl::commands

#include "commands/stack.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "commands/deploy_targets.h"
#include "core/deploy/clients.h"
#include "core/deploy/status.h"
#include "core/render/render.h"
#include "core/error.h"
#include "core/local/stack.h"
#include "core/stack/secrets_apply.h"
#include "core/secrets/store.h"
#include "core/stack/clients.h"
#include "core/util/strings.h"

namespace statectl::commands {

using namespace std::chrono;

namespace {

// Finishes or rolls back a password rotation a killed `secrets rotate --apply` left behind, so
// the store and the running servers agree again (issue 20: nobody locked out).
void settle_rotations(Context& ctx)
{
  if (ctx.globals().dry_run) return;
  secrets::Store store(ctx.config(), ctx.environment());
  try {
    for (const auto& line : stack::settle_rotations(ctx.config(), store, ctx.runner(), ctx.printer())) ctx.printer().info(line);
  } catch (const Error& e) {
    ctx.printer().warn("settling an interrupted password rotation failed: " + e.message());
  }
}

milliseconds parse_timeout(const std::string& text)
{
  auto d = util::parse_duration(text);
  if (!d || d->count() <= 0)
    throw Error(ExitCode::usage, "invalid --timeout", fmt::format("expected a duration like 90s or 5m, got '{}'", text));
  return *d;
}

std::string names(const std::vector<std::string>& v) { return util::join(v, ", "); }

// A client gets a terminal when statectl has one on both ends.
bool interactive() { return ::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1; }

} // namespace

void setup_deploy(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string target;
    std::string cloud;
    bool wait = false;
    std::string timeout = "2m";
    bool no_rollback = false;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--target", o->target, "Where to deploy (default [project] target, itself local)")
    ->check(CLI::IsMember({"local", "compose", "k8s", "terraform"}));
  sub.add_option("--cloud", o->cloud, "Cloud of the terraform target (default [terraform] cloud)")->check(CLI::IsMember({"aws", "gcp", "azure"}));
  sub.add_flag("--wait", o->wait, "Wait until every component is healthy (the local target always waits)");
  sub.add_option("--timeout", o->timeout, "How long to wait for the stack to become healthy")->capture_default_str();
  sub.add_flag("--no-rollback", o->no_rollback, "On failure, leave running what this run started (for debugging)");
  sub.callback([&ctx, o] {
    if (!o->target.empty()) ctx.set_flag("project.target", o->target);
    if (!o->cloud.empty()) ctx.set_flag("terraform.cloud", o->cloud);
    auto& cfg = ctx.config();
    local::DeployOptions opts;
    opts.timeout = parse_timeout(o->timeout);
    opts.rollback = !o->no_rollback;
    // compose, k8s and terraform: core/deploy (commands/deploy_targets.h).
    if (deploy_to_target(ctx, cfg.get_string("project.target"), o->cloud, opts.timeout, opts.rollback)) return;

    auto started = steady_clock::now();
    local::Stack stack(cfg, ctx.runner(), ctx.printer());
    local::DeployResult r = stack.deploy(opts);
    settle_rotations(ctx);
    auto took = duration_cast<milliseconds>(steady_clock::now() - started);
    if (ctx.globals().dry_run) {
      ctx.printer().info("dry run: nothing was changed");
      return;
    }
    nlohmann::json doc = {{"target", "local"},   {"changed", r.changed()}, {"created", r.created}, {"started", r.started},
                          {"removed", r.removed}, {"running", r.running}, {"state_dir", cfg.state_dir().string()},
                          {"seconds", static_cast<double>(took.count()) / 1000.0}};
    ctx.printer().result(doc, [&] {
      if (!r.changed())
        return fmt::format("local stack is up to date: {} components running, nothing to do\n", r.running.size());
      std::string out;
      if (!r.created.empty()) out += fmt::format("created: {}\n", names(r.created));
      if (!r.started.empty()) out += fmt::format("restarted: {}\n", names(r.started));
      if (!r.removed.empty()) out += fmt::format("removed: {}\n", names(r.removed));
      out += fmt::format("local stack is up ({} components, {:.1f}s); 'statectl status' shows it\n",
                         r.created.size() + r.started.size() + r.running.size(), static_cast<double>(took.count()) / 1000.0);
      return out;
    });
  });
}

void setup_destroy(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string target;
    std::string cloud;
    bool purge = false;
    std::string timeout = "30s";
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--target", o->target, "What to tear down (default [project] target, itself local)")
    ->check(CLI::IsMember({"local", "compose", "k8s", "terraform"}));
  sub.add_option("--cloud", o->cloud, "Cloud of the terraform target (default [terraform] cloud)")->check(CLI::IsMember({"aws", "gcp", "azure"}));
  sub.add_flag("--purge", o->purge,
               "Also delete the data: local databases, WAL archive and state file; compose volumes; k8s volume claims and Secret. "
               "Required for terraform, whose managed databases are their data");
  sub.add_option("--timeout", o->timeout, "How long a clean shutdown may take before it is forced")->capture_default_str();
  sub.callback([&ctx, o] {
    if (!o->target.empty()) ctx.set_flag("project.target", o->target);
    if (!o->cloud.empty()) ctx.set_flag("terraform.cloud", o->cloud);
    auto& cfg = ctx.config();
    // compose, k8s and terraform: core/deploy/destroy (commands/deploy_targets.h).
    if (destroy_target(ctx, cfg.get_string("project.target"), o->cloud, o->purge, parse_timeout(o->timeout))) return;
    local::Stack stack(cfg, ctx.runner(), ctx.printer());
    auto stopped = stack.destroy(o->purge, parse_timeout(o->timeout));
    if (ctx.globals().dry_run) {
      ctx.printer().info("dry run: nothing was changed");
      return;
    }
    nlohmann::json doc = {{"target", "local"}, {"stopped", stopped}, {"purged", o->purge}, {"state_dir", cfg.state_dir().string()}};
    ctx.printer().result(doc, [&] {
      std::string out = stopped.empty() ? "nothing was running\n" : fmt::format("stopped: {}\n", names(stopped));
      if (o->purge) out += fmt::format("deleted the data in {}\n", cfg.state_dir().string());
      return out;
    });
  });
}

void setup_status(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string target;
    std::string cloud;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--target", o->target, "Which deploy to report on (default [project] target, itself local)")
    ->check(CLI::IsMember({"local", "compose", "k8s", "terraform"}));
  sub.add_option("--cloud", o->cloud, "Cloud of the terraform target (default [terraform] cloud)")->check(CLI::IsMember({"aws", "gcp", "azure"}));
  sub.callback([&ctx, o] {
    if (!o->target.empty()) ctx.set_flag("project.target", o->target);
    if (!o->cloud.empty()) ctx.set_flag("terraform.cloud", o->cloud);
    auto& cfg = ctx.config();
    std::string target = cfg.get_string("project.target");
    if (target != "local") {
      nlohmann::json doc =
        deploy::remote_status(cfg, ctx.runner(), {render::parse_target(target), target == "terraform" ? cfg.get_string("terraform.cloud") : ""});
      std::string text = doc["text"].get<std::string>();
      doc.erase("text");
      ctx.printer().result(doc, [&] { return text; });
      if (!doc["healthy"].get<bool>()) throw Exit(static_cast<int>(ExitCode::failed));
      return;
    }
    settle_rotations(ctx);
    local::Stack stack(cfg, ctx.runner(), ctx.printer());
    local::StackStatus st = stack.status();
    ctx.printer().result(st.to_json(), [&] { return st.to_text(); });
    if (!st.healthy) throw Exit(static_cast<int>(ExitCode::failed));
  });
}

void setup_psql(CLI::App& sub, Context& ctx)
{
  struct Opts {
    stack::PsqlTarget target;
    std::vector<std::string> args;
  };
  auto o = std::make_shared<Opts>();
  auto direct = sub.add_flag("--direct", o->target.direct, "Connect to the primary itself, not through PgBouncer");
  auto replica = sub.add_flag("--replica", o->target.replica, "Connect to a standby");
  direct->excludes(replica);
  sub.add_option("--host", o->target.host, "Another server of the same cluster (e.g. a restored copy)");
  sub.add_option("--port", o->target.port, "Its port")->check(CLI::Range(1, 65535));
  sub.add_option("args", o->args, "Arguments for psql, after --");
  sub.footer("The password reaches psql through its environment, never its command line. On the compose and k8s targets psql\n"
             "runs inside the primary's container (--replica: a standby's) with `docker compose exec` / `kubectl exec`.\n"
             "Exit code is psql's.");
  sub.callback([&ctx, o] {
    auto& cfg = ctx.config();
    bool remote = cfg.get_string("project.target") != "local" && cfg.get_string("postgres.url").empty() && o->target.host.empty() &&
                  o->target.port == 0;
    auto cmd = remote ? deploy::psql_exec(cfg, ctx.runner(), o->target.replica, o->args, interactive())
                      : stack::psql_command(cfg, o->target, o->args);
    auto r = ctx.runner().run(cmd);
    if (r.exit_code != 0 && !r.planned) throw Exit(r.exit_code);
  });
}

void setup_redis_cli(CLI::App& sub, Context& ctx)
{
  struct Opts {
    bool replica = false;
    std::vector<std::string> args;
  };
  auto o = std::make_shared<Opts>();
  sub.add_flag("--replica", o->replica, "Connect to a replica instead of the current master");
  sub.add_option("args", o->args, "Arguments for redis-cli, after --");
  sub.footer("The password reaches redis-cli through REDISCLI_AUTH, never its command line. On the compose and k8s targets\n"
             "redis-cli runs inside the stack's containers and reads the password from the mounted secret file.\n"
             "Exit code is redis-cli's.");
  sub.callback([&ctx, o] {
    auto& cfg = ctx.config();
    bool remote = cfg.get_string("project.target") != "local" && cfg.get_string("redis.url").empty();
    auto cmd = remote ? deploy::redis_cli_exec(cfg, ctx.runner(), o->replica, o->args, interactive())
                      : stack::redis_cli_command(cfg, o->replica, o->args);
    auto r = ctx.runner().run(cmd);
    if (r.exit_code != 0 && !r.planned) throw Exit(r.exit_code);
  });
}

} // namespace statectl::commands

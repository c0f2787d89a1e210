#include "commands/stack.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/config/config.h"
#include "core/error.h"
#include "core/secrets/store.h"
#include "core/stack/secrets_apply.h"
#include "core/targets/target.h"
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

// A client gets a terminal when statectl has one on both ends.
bool interactive() { return ::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1; }

// Runs a client command; its exit code becomes statectl's.
void run_client(Context& ctx, const exec::Command& cmd)
{
  auto r = ctx.runner().run(cmd);
  if (r.exit_code != 0 && !r.planned) throw Exit(r.exit_code);
}

} // namespace

void setup_deploy(CLI::App& sub, Context& ctx)
{
  struct Opts {
    bool wait = false;
    std::string timeout = "2m";
    bool no_rollback = false;
  };
  auto o = std::make_shared<Opts>();
  add_target_option(sub, ctx, "Where to deploy (default [project] target, itself local)");
  add_cloud_option(sub, ctx);
  sub.add_flag("--wait", o->wait, "Wait until every component is healthy (the local target always waits)");
  sub.add_option("--timeout", o->timeout, "How long to wait for the stack to become healthy")->capture_default_str();
  sub.add_flag("--no-rollback", o->no_rollback, "On failure, leave running what this run started (for debugging)");
  sub.footer("With [tls] enabled (the default) the local stack and the compose render speak TLS 1.3 only, with the certificate\n"
             "statectl's CA issues (into the secret store on the first deploy; compose mounts it from ./secrets/), the local Redis\n"
             "Cluster included. On the local stack with [postgres] ha = \"patroni\" that includes Patroni's REST API and etcd\n"
             "(https only; HAProxy's checks and statectl verify them against the CA). Not yet: compose with [postgres] ha =\n"
             "\"patroni\" or [redis] mode = \"cluster\" deploys plain text and warns; an explicit [tls] enabled = true there exits 2.");
  sub.callback([&ctx, o] {
    targets::DeployOptions opts;
    opts.timeout = parse_timeout(o->timeout);
    opts.rollback = !o->no_rollback;
    auto r = ctx.target().deploy(opts);
    if (ctx.config().get_string("project.target") == "local") settle_rotations(ctx);
    ctx.printer().result(r.to_json(), [&] { return r.to_text(); });
  });
}

void setup_destroy(CLI::App& sub, Context& ctx)
{
  struct Opts {
    bool purge = false;
    std::string timeout = "30s";
  };
  auto o = std::make_shared<Opts>();
  add_target_option(sub, ctx, "What to tear down (default [project] target, itself local)");
  add_cloud_option(sub, ctx);
  sub.add_flag("--purge", o->purge,
               "Also delete the data: local databases, WAL archive and state file; compose volumes; k8s volume claims and Secret. "
               "Required for terraform, whose managed databases are their data");
  sub.add_option("--timeout", o->timeout, "How long a clean shutdown may take before it is forced")->capture_default_str();
  sub.callback([&ctx, o] {
    targets::DestroyOptions opts;
    opts.purge = o->purge;
    opts.timeout = parse_timeout(o->timeout);
    auto r = ctx.target().destroy(opts);
    ctx.printer().result(r.to_json(), [&] { return r.to_text(); });
  });
}

void setup_status(CLI::App& sub, Context& ctx)
{
  add_target_option(sub, ctx, "Which deploy to report on (default [project] target, itself local)");
  add_cloud_option(sub, ctx);
  sub.callback([&ctx] {
    if (ctx.config().get_string("project.target") == "local") settle_rotations(ctx);
    auto st = ctx.target().status();
    ctx.printer().result(st.to_json(), [&] { return st.to_text(); });
    if (!st.healthy) throw Exit(static_cast<int>(ExitCode::failed));
  });
}

void setup_psql(CLI::App& sub, Context& ctx)
{
  auto o = std::make_shared<targets::ClientOptions>();
  add_target_option(sub, ctx);
  auto direct = sub.add_flag("--direct", o->direct, "Connect to the primary itself, not through PgBouncer");
  auto replica = sub.add_flag("--replica", o->replica, "Connect to a standby");
  direct->excludes(replica);
  sub.add_option("--host", o->host, "Another server of the same cluster (e.g. a restored copy)");
  sub.add_option("--port", o->port, "Its port")->check(CLI::Range(1, 65535));
  sub.add_option("args", o->args, "Arguments for psql, after --");
  sub.footer("The password reaches psql through its environment, never its command line. On the compose and k8s targets psql\n"
             "runs inside the primary's container (--replica: a standby's) with `docker compose exec` / `kubectl exec`.\n"
             "With [tls] enabled (local target) psql verifies the server: PGSSLMODE=verify-full and PGSSLROOTCERT=<state dir>/tls/ca.crt\n"
             "in its environment.\n"
             "Exit code is psql's.");
  sub.callback([&ctx, o] {
    o->tty = interactive();
    run_client(ctx, ctx.target().psql(*o));
  });
}

void setup_redis_cli(CLI::App& sub, Context& ctx)
{
  auto o = std::make_shared<targets::ClientOptions>();
  add_target_option(sub, ctx);
  sub.add_flag("--replica", o->replica, "Connect to a replica instead of the current master");
  sub.add_option("args", o->args, "Arguments for redis-cli, after --");
  sub.footer("The password reaches redis-cli through REDISCLI_AUTH, never its command line. On a local stack with Redis ACL\n"
             "users ([redis] acl, the default) redis-cli logs in as statectl-admin (--user statectl-admin). On the compose and k8s targets\n"
             "redis-cli runs inside the stack's containers and reads the password from the mounted secret file.\n"
             "With [redis] mode = \"cluster\" it runs redis-cli -c, which follows the cluster's MOVED redirects.\n"
             "With [tls] enabled (local target) redis-cli gets --tls --cacert <state dir>/tls/ca.crt (the servers speak TLS only); on\n"
             "compose the one inside the containers gets --tls --cacert /run/secrets/ca.crt.\n"
             "Exit code is redis-cli's.");
  sub.callback([&ctx, o] {
    o->tty = interactive();
    run_client(ctx, ctx.target().redis_cli(*o));
  });
}

} // namespace statectl::commands

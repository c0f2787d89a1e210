#include "core/targets/common.h"

#include <fmt/format.h>
#include <system_error>

#include "core/config/config.h"
#include "core/config/keys.h"
#include "core/error.h"
#include "core/render/recorded.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

namespace fs = std::filesystem;

fs::path applied_dir(const config::Config& cfg, const render::Request& req)
{
  if (req.target == render::Target::terraform) return cfg.state_dir() / "terraform" / req.cloud;
  return cfg.state_dir() / render::target_name(req.target);
}

fs::path previous_dir(const config::Config& cfg, const render::Request& req)
{
  fs::path d = applied_dir(cfg, req);
  return d.parent_path() / (d.filename().string() + ".previous");
}

bool applied(const fs::path& dir)
{
  std::error_code ec;
  return fs::exists(dir / ".applied", ec);
}

Remote::Remote(const config::Config& c, exec::Runner& r, output::Printer& p, render::Target t)
  : cfg(c), runner(r), printer(p), req(render::request_for(c, t)), dir(applied_dir(c, req))
{
}

// The fields every target result starts with.
template <class R>
R Remote::headed() const
{
  R r;
  r.target = render::target_name(req.target);
  r.project = cfg.get_string("project.name");
  r.dir = dir.string();
  r.cloud = req.cloud;
  return r;
}

DeployResult Remote::deploy_result() const
{
  auto d = headed<DeployResult>();
  d.dry_run = planning();
  return d;
}

DestroyResult Remote::destroy_result() const
{
  auto d = headed<DestroyResult>();
  d.dry_run = planning();
  return d;
}

StatusResult Remote::status_result() const { return headed<StatusResult>(); }

RenderRun::RenderRun(Remote& target, const DeployOptions& o) : t(target), opts(o), prev(previous_dir(target.cfg, target.req))
{
  result = t.deploy_result();
  // TLS is on by default, but some renders have none yet (Patroni and Redis Cluster on compose):
  // say so rather than imply it (an explicit [tls] enabled = true is refused by render).
  if (t.cfg.get_bool("tls.enabled") && !t.cfg.is_set("tls.enabled") && t.req.target == render::Target::compose &&
      !render::tls_rendered(t.cfg, t.req)) {
    std::string mode = t.cfg.get_string("postgres.ha") == "patroni" ? "[postgres] ha = \"patroni\"" : "[redis] mode = \"cluster\"";
    t.printer.warn(fmt::format("the compose stack speaks plain text inside its network: the compose render with {} has no TLS "
                               "yet ([tls] enabled is for the local stack, k8s and compose in bare PostgreSQL mode with Sentinel "
                               "or standalone Redis)",
                               mode));
  }
}

void RenderRun::install_render()
{
  std::error_code ec;
  if (fs::exists(t.dir / ".applied", ec)) {
    fs::remove_all(prev, ec);
    fs::copy(t.dir, prev, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) throw Error(ExitCode::failed, fmt::format("cannot keep the previous render in {}", prev.string()), ec.message());
  }
  render::write_tree(t.dir, files, {"secrets"});
}

void RenderRun::mark_applied()
{
  if (auto r = util::write_file_atomic(t.dir / ".applied", "", 0644); !r) t.printer.warn(r.error());
}

bool RenderRun::has_previous() const
{
  std::error_code ec;
  return fs::exists(prev / ".applied", ec);
}

void RenderRun::restore_previous()
{
  std::error_code ec;
  fs::path failed = t.dir.parent_path() / (t.dir.filename().string() + ".failed");
  fs::remove_all(failed, ec);
  fs::rename(t.dir, failed, ec);
  if (ec) throw Error(ExitCode::failed, "cannot restore the previous render", ec.message());
  fs::rename(prev, t.dir, ec);
  if (ec) throw Error(ExitCode::failed, "cannot restore the previous render", ec.message());
  // Keep the secret files of the failed tree: they are the current passwords, owned by the
  // containers' uid (the previous tree's are a copy from before this deploy).
  if (fs::exists(failed / "secrets", ec)) {
    fs::remove_all(t.dir / "secrets", ec);
    fs::rename(failed / "secrets", t.dir / "secrets", ec);
  }
  fs::remove_all(failed, ec);
}

void RenderRun::fail_with_rollback(const Error& e, const std::function<void()>& apply_previous)
{
  if (!opts.rollback)
    throw Error(e.code(), e.what_failed(), e.why(),
                fmt::format("the new render was left applied (--no-rollback); it is in {}", t.dir.string()));
  if (!has_previous())
    throw Error(e.code(), e.what_failed(), e.why(),
                "there is no previous render to roll back to; inspect the stack, fix the config and deploy again, or destroy it");
  t.printer.warn(fmt::format("{}: {}; rolling back to the previous render", e.what_failed(), e.why()));
  restore_previous();
  try {
    apply_previous();
  } catch (const Error& again) {
    throw Error(again.code(), fmt::format("{}, and the rollback failed too", e.what_failed()), again.why(),
                fmt::format("the previous render is in {}; apply it by hand", t.dir.string()));
  }
  result.rolled_back = true;
  throw Error(e.code(), e.what_failed(), fmt::format("{}; rolled back to the previous render", e.why()),
              fmt::format("the stack runs the previous render ({}) again; fix the config and deploy again", t.dir.string()));
}

namespace {

// Every standby with its state and how far behind the primary it replays (bytes), one line each.
const char* k_replication_query = "SELECT application_name, state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint "
                                  "FROM pg_stat_replication ORDER BY application_name";

// The replication and Sentinel probes; returns the problems found.
std::vector<std::string> probe_servers(Remote& t, const deploy::Expect& p,
                                       const std::function<std::vector<std::string>(const std::string&)>& prefix,
                                       const std::string& primary, const std::string& sentinel, StatusResult& s)
{
  std::vector<std::string> problems;
  auto exec_in = [&](const std::string& where, std::vector<std::string> cmd) {
    std::vector<std::string> argv = prefix(where);
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    return t.runner.run(deploy::command(argv, false, std::chrono::seconds(30)));
  };
  exec::Result r = exec_in(primary, {"psql", "-U", t.cfg.get_string("postgres.superuser"), "-d", t.cfg.get_string("postgres.database"),
                                     "-tA", "-F", "|", "-c", k_replication_query});
  Replication rep;
  rep.expected = p.pg_replicas;
  if (r.ok()) {
    for (const auto& line : util::split(r.out, '\n')) {
      auto f = util::split(util::trim(line), '|');
      if (f.size() < 3) continue;
      std::int64_t lag = 0;
      try {
        lag = std::stoll(f[2]);
      } catch (...) {
      }
      rep.standbys.push_back({f[0], f[1], lag});
      if (f[1] == "streaming") ++rep.streaming;
      if (lag > k_max_lag_bytes)
        problems.push_back(fmt::format("standby {} is {} behind the primary", f[0], util::format_size(static_cast<std::uint64_t>(lag))));
    }
    if (rep.streaming < p.pg_replicas) problems.push_back(fmt::format("{} of {} standbys stream from the primary", rep.streaming, p.pg_replicas));
  } else {
    problems.push_back(fmt::format("cannot read pg_stat_replication on the primary: {}", deploy::tool_error(r)));
  }
  s.replication = rep;

  if (p.redis_mode == "sentinel") {
    std::vector<std::string> ask = p.redis_cli;
    ask.insert(ask.end(), {"-p", "26379", "sentinel", "get-master-addr-by-name", t.cfg.get_string("redis.master_name")});
    exec::Result q = exec_in(sentinel, ask);
    std::string addr = q.ok() ? util::trim(q.out) : "";
    s.has_sentinel = true;
    if (addr.empty() || addr.find("nil") != std::string::npos)
      problems.push_back(q.ok() ? "Sentinel does not know the master" : fmt::format("cannot ask Sentinel for the master: {}", deploy::tool_error(q)));
    else
      s.sentinel_master = util::join(util::split(addr, '\n'), ":");
  }
  return problems;
}

} // namespace

StatusResult container_status(Remote& t, std::vector<ComponentRow> components,
                              const std::function<std::vector<std::string>(const std::string&)>& prefix, const std::string& primary,
                              const std::string& sentinel)
{
  StatusResult s = t.status_result();
  std::sort(components.begin(), components.end(), [](const ComponentRow& a, const ComponentRow& b) { return a.name < b.name; });
  std::vector<std::string> problems;
  if (primary.empty()) {
    problems.push_back("the PostgreSQL primary is not running");
  } else {
    deploy::Expect e = deploy::expectations(t.cfg, t.req);
    bool sentinel_missing = e.redis_mode == "sentinel" && sentinel.empty();
    if (sentinel_missing) e.redis_mode = "none";
    problems = probe_servers(t, e, prefix, primary, sentinel, s);
    if (sentinel_missing) problems.push_back("no Sentinel is running");
  }
  for (const auto& c : components)
    if (!c.error.empty()) problems.insert(problems.begin(), fmt::format("{}: {}", c.name, c.error));
  if (components.empty()) problems.insert(problems.begin(), "no containers or workloads found");
  s.components = std::move(components);
  s.problems = problems;
  s.healthy = problems.empty();
  return s;
}

void forget_applied_render(Remote& t, bool purge)
{
  if (t.planning()) return;
  std::error_code ec;
  if (purge) {
    fs::remove_all(t.dir, ec);
    if (ec) t.printer.warn(fmt::format("cannot remove {}: {}", t.dir.string(), ec.message()));
    fs::remove_all(previous_dir(t.cfg, t.req), ec);
    render::forget_counts(t.cfg, render::target_name(t.req.target));
  } else {
    fs::remove(t.dir / ".applied", ec);
  }
}

stack::Endpoints base_endpoints(const config::Config& cfg)
{
  stack::Endpoints e;
  stack::PgEndpoint pg;
  pg.user = cfg.get_string("postgres.superuser");
  pg.database = cfg.get_string("postgres.database");
  pg.password_secret = "postgres";
  e.pooler = pg;
  e.primary = pg;
  e.master_name = cfg.get_string("redis.master_name");
  e.redis_password_secret = "redis";
  return e;
}

exec::Command client_command(std::vector<std::string> argv)
{
  exec::Command c;
  c.argv = std::move(argv);
  c.io = exec::Io::inherit;
  c.mutating = true; // the client may change anything: --dry-run shows it instead
  return c;
}

exec::Command redis_cli_in(const config::Config& cfg, const render::Request& req, const ClientOptions& o,
                           const std::function<std::vector<std::string>(const std::string&)>& prefix, const std::string& secrets_dir)
{
  deploy::Expect expect = deploy::expectations(cfg, req);
  const std::string& mode = expect.redis_mode;
  std::string cli = util::join(expect.redis_cli, " "); // with the TLS options when the servers speak TLS
  if (o.replica && mode == "standalone") throw Error(ExitCode::usage, "redis.mode 'standalone' has no replica");
  std::string service = mode == "cluster"                  ? "redis-cluster"
                        : o.replica && mode == "sentinel" ? "redis-replica"
                        : mode == "sentinel"               ? "redis-sentinel"
                                                           : "redis-master";
  std::string auth = fmt::format("REDISCLI_AUTH=\"$(cat {}/redis)\"", secrets_dir);
  // The script gets the master name (or a placeholder) as $0 and the user's arguments as "$@".
  std::string script, zero = "redis-cli";
  if (service == "redis-sentinel") {
    script = "m=$(" + cli + " -p 26379 sentinel get-master-addr-by-name \"$0\" | head -n 1) && [ -n \"$m\" ] && " + auth + " exec " + cli +
             " -h \"$m\" \"$@\"";
    zero = cfg.get_string("redis.master_name");
  } else {
    script = auth + " exec " + cli + " " + (mode == "cluster" ? "-c " : "") + "\"$@\"";
  }
  std::vector<std::string> argv = prefix(service);
  argv.insert(argv.end(), {"sh", "-c", script, zero});
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  return client_command(argv);
}

std::string image_tag(const std::string& image)
{
  auto colon = image.rfind(':');
  auto slash = image.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return image + ":latest";
  return image;
}

std::string scale_key(const std::string& component)
{
  if (component == "postgres") return "postgres.replicas";
  if (component == "redis") return "redis.replicas";
  if (component == "pooler") return "pgbouncer.replicas";
  throw Error(ExitCode::usage, fmt::format("cannot scale '{}'", component), "", "scale postgres, redis or pooler");
}

void refuse_cluster_redis_scale(const config::Config& cfg, const ScaleOptions& opts, const std::string& target)
{
  if (opts.component == "redis" && cfg.get_string("redis.mode") == "cluster")
    throw Error(ExitCode::usage, fmt::format("cannot resize a Redis Cluster on the {} target yet", target),
                "its nodes are set by [redis] cluster_masters and cluster_replicas (the local target resizes a running cluster)",
                "change those and deploy again");
}

std::string check_scale_common(const config::Config& cfg, const ScaleOptions& opts)
{
  std::string key = scale_key(opts.component);
  bool cluster = opts.component == "redis" && cfg.get_string("redis.mode") == "cluster";
  if (opts.masters && !cluster)
    throw Error(ExitCode::usage, "--masters applies to a Redis Cluster only", fmt::format("{} is not one", opts.component),
                "scale it with --replicas N");
  if (cluster) {
    key = "redis.cluster_replicas";
    if (opts.masters)
      if (std::string why = config::validate_value(*config::find_key("redis.cluster_masters"), std::to_string(*opts.masters)); !why.empty())
        throw Error(ExitCode::usage, fmt::format("invalid --masters {}", *opts.masters), why);
  }
  if (opts.replicas < 0 && !opts.masters) throw Error(ExitCode::usage, "--replicas is required", "", fmt::format("scale {} --replicas N", opts.component));
  const config::KeySpec* spec = config::find_key(key);
  if (opts.replicas >= 0)
    if (std::string why = config::validate_value(*spec, std::to_string(opts.replicas)); !why.empty())
      throw Error(ExitCode::usage, fmt::format("invalid --replicas {} for {}", opts.replicas, cluster ? "a Redis Cluster (per master)" : opts.component), why);
  if (opts.component == "redis" && cfg.get_string("redis.mode") == "standalone")
    throw Error(ExitCode::usage, "cannot scale redis in standalone mode", "a standalone Redis has no replicas",
                "set [redis] mode = \"sentinel\" and deploy again");
  return key;
}

} // namespace statectl::targets::detail

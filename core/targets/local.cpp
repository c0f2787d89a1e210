// The local target: processes under the state directory (core/local does the work).
#include <csignal>
#include <fmt/format.h>

#include "core/clients/credentials.h"
#include "core/clients/redis_cluster.h"
#include "core/error.h"
#include "core/config/settings.h"
#include "core/local/probe.h"
#include "core/local/process.h"
#include "core/local/redis_acl.h"
#include "core/local/stack.h"
#include "core/local/state.h"
#include "core/stack/clients.h"
#include "core/targets/common.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

class LocalTarget final : public Target {
public:
  LocalTarget(const config::Config& c, exec::Runner& r, output::Printer& p) : m_cfg(c), m_runner(r), m_printer(p) {}

  std::string name() const override { return "local"; }

  bool planning() const { return m_runner.dry_run() == exec::DryRun::plan; }

  DeployResult deploy(const DeployOptions& opts) override
  {
    local::DeployOptions o;
    o.timeout = opts.timeout;
    o.rollback = opts.rollback;
    auto started = steady_clock::now();
    local::Stack stack(m_cfg, m_runner, m_printer);
    DeployResult res;
    res.local = stack.deploy(o);
    res.target = "local";
    res.project = config::settings(m_cfg).project.name;
    res.dir = config::settings(m_cfg).state_dir.string();
    res.dry_run = planning();
    res.applied = res.verified = !planning();
    res.seconds = static_cast<double>(duration_cast<milliseconds>(steady_clock::now() - started).count()) / 1000.0;
    return res;
  }

  DestroyResult destroy(const DestroyOptions& opts) override
  {
    local::Stack stack(m_cfg, m_runner, m_printer);
    DestroyResult res;
    res.stopped = stack.destroy(opts.purge, opts.timeout);
    res.target = "local";
    res.project = config::settings(m_cfg).project.name;
    res.dir = config::settings(m_cfg).state_dir.string();
    res.dry_run = planning();
    res.destroyed = !planning();
    res.purged = opts.purge;
    return res;
  }

  StatusResult status() override
  {
    local::Stack stack(m_cfg, m_runner, m_printer);
    StatusResult res;
    res.target = "local";
    res.local = stack.status();
    res.healthy = res.local->healthy;
    return res;
  }

  void check_scale(const ScaleOptions& opts) const override
  {
    check_scale_common(m_cfg, opts);
    if (opts.component == "pooler")
      throw Error(ExitCode::usage, "cannot scale the pooler on the local target", "the local stack runs one PgBouncer",
                  "scale the pooler on compose or k8s");
  }

  ScaleResult scale(const ScaleOptions& opts) override
  {
    check_scale(opts);
    local::Stack stack(m_cfg, m_runner, m_printer);
    if (!stack.deployed()) throw Error(ExitCode::usage, "nothing deployed on the local target", "", "run `statectl deploy` first");
    std::optional<int> masters;
    if (opts.masters) masters = static_cast<int>(*opts.masters);
    auto r = stack.scale(opts.component, static_cast<int>(opts.replicas), masters);
    ScaleResult res{opts.component, opts.replicas, opts.masters, "local", planning(), !planning()};
    res.created = r.created;
    res.removed = r.removed;
    return res;
  }

  // The [local] ports, overridden by what the local target recorded: after a failover the
  // primary is another member, and `scale` may have changed the counts.
  stack::Endpoints endpoints() override
  {
    const config::Config& cfg = m_cfg;
    stack::Endpoints e = base_endpoints(cfg);
    e.redis_files_local = true;
    e.primary.tls = e.pooler.tls = e.redis_tls = local::client_tls(cfg);
    if (local::pg_cert_login(cfg)) {
      local::TlsFiles f = local::tls_files(cfg);
      e.pg_app_user = config::settings(cfg).postgres.app_user;
      e.pg_app_cert = f.app_cert.string();
      e.pg_app_key = f.app_key.string();
    }
    auto pg = [&](int port) {
      stack::PgEndpoint p = e.primary;
      p.port = port;
      return p;
    };
    int base = static_cast<int>(config::settings(cfg).local.postgres_port);
    e.pooler.port = static_cast<int>(config::settings(cfg).local.pgbouncer_port);
    e.primary.port = config::settings(cfg).postgres.ha == "patroni" ? static_cast<int>(config::settings(cfg).local.haproxy_port) : base;
    for (int i = 1; i <= static_cast<int>(config::settings(cfg).postgres.replicas); ++i) e.replicas.push_back(pg(base + i));

    std::optional<local::StackState> st;
    try {
      st = local::load_state(local::state_file(cfg));
    } catch (const Error&) {
      st.reset(); // a damaged state file: the configured ports are the best guess
    }
    if (st && !st->members.empty()) {
      e.replicas.clear();
      for (const auto& m : st->members) {
        if (m.kind == "pgbouncer") e.pooler.port = m.port;
        if (m.kind == "haproxy") e.primary.port = m.port;
        if (m.kind == "postgres" && m.role == "primary") e.primary.port = m.port;
        if ((m.kind == "postgres" || m.kind == "patroni") && m.role == "replica") e.replicas.push_back(pg(m.port));
      }
    }

    e.redis.port = static_cast<int>(config::settings(cfg).local.redis_port);
    if (config::settings(cfg).redis.mode == "sentinel") {
      int sport = static_cast<int>(config::settings(cfg).local.sentinel_port);
      for (int i = 0; i < config::settings(cfg).redis.sentinels; ++i) e.sentinels.push_back({"127.0.0.1", sport + i});
    }
    if (st && !st->members.empty()) {
      std::vector<stack::HostPort> recorded;
      for (const auto& m : st->members) {
        if (m.kind == "sentinel") recorded.push_back({"127.0.0.1", m.port});
        if (m.kind == "redis" && m.role == "master") e.redis.port = m.port;
        if (m.kind == "redis" && st->redis_mode == "cluster") e.redis_cluster.push_back({"127.0.0.1", m.port});
      }
      e.sentinels = recorded;
      if (st->redis_acl) {
        e.redis_user = local::redis_acl::k_admin_user;
        e.redis_app_user = local::redis_acl::k_app_user;
        e.redis_app_password_secret = local::redis_acl::k_app_secret;
      }
    }
    return e;
  }

  exec::Command psql(const ClientOptions& o) override { return stack::psql_command(m_cfg, {o.direct, o.replica, o.host, o.port}, o.args); }

  exec::Command redis_cli(const ClientOptions& o) override { return stack::redis_cli_command(m_cfg, o.replica, o.args); }

  Fault find_fault(const std::string& backend) override
  {
    local::Stack stack(m_cfg, m_runner, m_printer);
    const auto& st = stack.state();
    Fault f;
    if (backend == "redis") {
      stack::Endpoints e = endpoints();
      int master = 0;
      if (st.redis_mode == "cluster") master = cluster_probe_master(e);
      for (const auto& s : e.sentinels)
        if (auto p = local::probe_sentinel(s.port, e.master_name, e.redis_tls, seconds(1)); p.master_port) {
          master = p.master_port;
          break;
        }
      if (!master)
        throw Error(ExitCode::unavailable, st.redis_mode == "cluster" ? "no Redis Cluster node reports the master of the probe's slot" : "no Sentinel reports a Redis master", "",
                    "run 'statectl status'");
      for (const local::Member* r : st.of_kind("redis"))
        if (r->port == master) {
          f.victim = r->name;
          f.port = r->port;
          if (local::process_matches(r->pid, r->start_time)) f.pids.push_back(r->pid);
        }
      if (f.victim.empty()) throw Error(ExitCode::failed, fmt::format("the Redis master 127.0.0.1:{} is not a member of the local stack", master));
      f.server = fmt::format("127.0.0.1:{}", f.port);
      f.description = fmt::format("SIGKILL {} (redis-server {})", f.victim, f.pids.empty() ? 0 : f.pids[0]);
      return f;
    }
    const local::Member* p = stack.primary();
    if (!p) throw Error(ExitCode::failed, "the local stack has no PostgreSQL primary", "", "run 'statectl status'");
    f.victim = p->name;
    f.port = p->port;
    f.server = fmt::format("127.0.0.1:{}", p->port);
    std::vector<std::string> what;
    if (p->kind == "patroni" && local::process_matches(p->pid, p->start_time)) {
      f.pids.push_back(p->pid); // Patroni first, so it cannot restart its PostgreSQL
      what.push_back(fmt::format("patroni {}", p->pid));
    }
    if (auto pm = local::read_pidfile(fs::path(p->data_dir) / "postmaster.pid"); pm && local::process_start_time(*pm)) {
      f.pids.push_back(*pm);
      what.push_back(fmt::format("postmaster {}", *pm));
    }
    if (f.pids.empty()) throw Error(ExitCode::failed, fmt::format("the primary {} is not running", p->name), "", "run 'statectl deploy' to repair");
    f.description = fmt::format("SIGKILL {} ({})", f.victim, util::join(what, ", "));
    return f;
  }

  void inject(const Fault& f) override
  {
    if (planning()) {
      m_printer.plan(f.description);
      return;
    }
    for (int pid : f.pids) ::kill(pid, SIGKILL);
  }

  bool statectl_heals() const override { return true; }
  bool platform_restarts_killed() const override { return false; }

  stack::PgEndpoint backup_source() override { return endpoints().primary; }

private:
  // The master of the slot the failover probe writes to (its key is tagged {failover}, see
  // failover::redis_probe_key): the one master whose loss the probe can measure. 0 when unknown.
  int cluster_probe_master(const stack::Endpoints& e) const
  {
    clients::RedisOptions o;
    o.user = e.redis_user;
    o.password = clients::stored_password(m_cfg, e.redis_password_secret, true).value_or("");
    o.tls = clients::redis_tls(e.redis_tls);
    o.connect_timeout = o.command_timeout = seconds(1);
    clients::RedisCluster c(e.redis_cluster, o);
    try {
      c.refresh();
    } catch (const clients::RedisError&) {
      return 0;
    }
    std::string node = c.master_of(clients::key_slot("failover"));
    auto colon = node.rfind(':');
    return colon == std::string::npos ? 0 : std::atoi(node.c_str() + colon + 1);
  }

  const config::Config& m_cfg;
  exec::Runner& m_runner;
  output::Printer& m_printer;
};

} // namespace

std::unique_ptr<Target> make_local(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
{
  return std::make_unique<LocalTarget>(cfg, runner, printer);
}

} // namespace statectl::targets::detail

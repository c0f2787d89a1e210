#include "core/local/stack.h"

#include "core/backup/repository.h"

#include <algorithm>
#include <csignal>
#include <fcntl.h>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <pwd.h>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/local/archive.h"
#include "core/local/components.h"
#include "core/local/monitoring.h"
#include "core/local/process.h"
#include "core/local/redis_acl.h"
#include "core/local/probe.h"
#include "core/secrets/store.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::local {

namespace fs = std::filesystem;
using namespace std::chrono;

struct Stack::Desired {
  std::vector<Member> members; // start order
};

void check_patroni_timings(const config::Config& cfg)
{
  auto ttl = config::settings(cfg).postgres.ttl;
  auto loop_wait = config::settings(cfg).postgres.loop_wait;
  auto retry = config::settings(cfg).postgres.retry_timeout;
  if (loop_wait + 2 * retry > ttl)
    throw Error(ExitCode::usage, "invalid Patroni timings",
                fmt::format("loop_wait + 2 * retry_timeout must not exceed ttl, got {} + 2 * {} = {} > {}", loop_wait, retry,
                            loop_wait + 2 * retry, ttl),
                "lower [postgres] loop_wait or retry_timeout, or raise [postgres] ttl (e.g. ttl = 30, loop_wait = 10, retry_timeout = 10)");
}

Stack::Stack(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
  : m_site(cfg, runner, printer), m_file(state_file(cfg))
{
  if (auto s = load_state(m_file)) {
    m_state = *s;
    m_exists = true;
  } else {
    m_state.ha = config::settings(cfg).postgres.ha;
    m_state.redis_mode = config::settings(cfg).redis.mode;
  }
}

Stack::~Stack()
{
  if (m_lock_fd >= 0) ::close(m_lock_fd);
}

bool Stack::deployed() const { return m_exists; }

void Stack::lock()
{
  if (m_lock_fd >= 0 || m_site.planning()) return;
  if (auto r = util::make_dirs(m_site.state_dir(), 0755); !r) throw Error(ExitCode::failed, "cannot create the state directory", r.error());
  fs::path lock_path = m_site.state_dir() / ".lock";
  m_lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (m_lock_fd < 0) throw Error(ExitCode::failed, fmt::format("cannot open {}", lock_path.string()), std::strerror(errno));
  if (::flock(m_lock_fd, LOCK_EX | LOCK_NB) != 0) {
    m_site.printer.info("waiting for another statectl working on " + m_site.state_dir().string());
    if (::flock(m_lock_fd, LOCK_EX) != 0) throw Error(ExitCode::failed, "cannot lock the state directory", std::strerror(errno));
  }
  // Another run may have changed the stack while we waited.
  if (auto s = load_state(m_file)) {
    m_state = *s;
    m_exists = true;
  }
}

void Stack::save()
{
  if (m_site.planning()) return;
  save_state(m_file, m_state);
  m_exists = true;
}

const Member* Stack::primary() const
{
  if (m_state.ha == "patroni") {
    std::vector<const Member*> members = std::as_const(m_state).of_kind("patroni");
    if (auto* l = patroni::leader(members, patroni::rest_ca(m_site.cfg, m_state))) return l;
    return m_state.with_role("patroni", "leader");
  }
  return m_state.with_role("postgres", "primary");
}

namespace {

// The members of one kind the config asks for: the lead (primary/master) first when it exists,
// then existing members by index, then new ones on the lowest free indexes.
template <typename Fresh>
void pick(const StackState& state, const std::string& kind, int count, const std::string& lead_role, Fresh fresh,
          std::vector<Member>& out)
{
  std::vector<const Member*> existing = state.of_kind(kind);
  std::sort(existing.begin(), existing.end(), [](auto* a, auto* b) { return member_index(a->name) < member_index(b->name); });
  std::vector<Member> chosen;
  const Member* lead = nullptr;
  for (auto* e : existing)
    if (!lead_role.empty() && e->role == lead_role) lead = e;
  if (lead && count > 0) chosen.push_back(*lead);
  for (auto* e : existing) {
    if (static_cast<int>(chosen.size()) >= count) break;
    if (e != lead) chosen.push_back(*e);
  }
  for (int idx = 0; static_cast<int>(chosen.size()) < count; ++idx) {
    bool taken = std::any_of(chosen.begin(), chosen.end(), [&](const Member& c) { return member_index(c.name) == idx; });
    if (taken) continue;
    bool lead_missing = !lead_role.empty() && std::none_of(chosen.begin(), chosen.end(), [&](const Member& c) { return c.role == lead_role; });
    chosen.push_back(fresh(idx, lead_missing && !lead_role.empty() ? lead_role : std::string("replica")));
  }
  // The lead first (it must run before its replicas), the rest by index.
  std::stable_sort(chosen.begin(), chosen.end(), [&](const Member& a, const Member& b) {
    bool la = !lead_role.empty() && a.role == lead_role, lb = !lead_role.empty() && b.role == lead_role;
    if (la != lb) return la;
    return member_index(a.name) < member_index(b.name);
  });
  out.insert(out.end(), chosen.begin(), chosen.end());
}

} // namespace

Stack::Desired Stack::desired() const
{
  const auto& cfg = m_site.cfg;
  Desired d;
  auto count = [&](const std::string& component, std::int64_t configured) {
    auto it = m_state.scaled.find(component);
    return it != m_state.scaled.end() ? it->second : static_cast<int>(configured);
  };
  int pg_base = static_cast<int>(config::settings(cfg).local.postgres_port);
  if (m_state.ha == "patroni") {
    Member etcd = patroni::describe_etcd(m_site, static_cast<int>(config::settings(cfg).local.etcd_port));
    d.members.push_back(m_state.find(etcd.name) ? *m_state.find(etcd.name) : etcd);
    int rest_base = static_cast<int>(config::settings(cfg).local.patroni_port);
    // Patroni decides the leader itself; members are kept by index.
    pick(m_state, "patroni", std::max(3, count("postgres", config::settings(cfg).postgres.replicas) + 1), "",
         [&](int i, const std::string&) { return patroni::describe_member(m_site, i, pg_base + i, rest_base + i); }, d.members);
    Member proxy = patroni::describe_haproxy(m_site, static_cast<int>(config::settings(cfg).local.haproxy_port));
    d.members.push_back(m_state.find(proxy.name) ? *m_state.find(proxy.name) : proxy);
  } else {
    pick(m_state, "postgres", count("postgres", config::settings(cfg).postgres.replicas) + 1, "primary",
         [&](int i, const std::string& role) { return postgres::describe(m_site, i, pg_base + i, role); }, d.members);
  }
  Member bouncer = pgbouncer::describe(m_site, static_cast<int>(config::settings(cfg).local.pgbouncer_port));
  d.members.push_back(m_state.find(bouncer.name) ? *m_state.find(bouncer.name) : bouncer);

  int redis_base = static_cast<int>(config::settings(cfg).local.redis_port);
  bool sentinel = m_state.redis_mode == "sentinel";
  if (m_state.redis_mode == "cluster") {
    // Nodes are kept by index (port); the first cluster_masters are made masters when formed.
    auto shape = redis_cluster::shape(cfg, m_state);
    int masters = shape.masters;
    pick(m_state, "redis", masters * (1 + shape.replicas), "",
         [&](int i, const std::string&) { return redis::describe_server(m_site, i, redis_base + i, i < masters ? "master" : "replica"); },
         d.members);
  } else {
    pick(m_state, "redis", sentinel ? count("redis", config::settings(cfg).redis.replicas) + 1 : 1, "master",
         [&](int i, const std::string& role) { return redis::describe_server(m_site, i, redis_base + i, role); }, d.members);
  }
  if (sentinel) {
    int sentinel_base = static_cast<int>(config::settings(cfg).local.sentinel_port);
    pick(m_state, "sentinel", static_cast<int>(config::settings(cfg).redis.sentinels), "",
         [&](int i, const std::string&) { return redis::describe_sentinel(m_site, i, sentinel_base + i); }, d.members);
  }
  if (config::settings(cfg).monitoring.enabled) {
    std::vector<int> pg_ports;
    for (const auto& m : d.members)
      if (m.kind == "postgres" || m.kind == "patroni") pg_ports.push_back(m.port);
    for (auto& m : monitoring::describe(m_site, pg_ports)) d.members.push_back(m_state.find(m.name) ? *m_state.find(m.name) : m);
  }
  return d;
}

bool Stack::running(Member& member)
{
  if (member.kind == "postgres") {
    auto pid = read_pidfile(fs::path(member.data_dir) / "postmaster.pid");
    if (pid && process_start_time(*pid)) {
      member.pid = *pid;
      member.start_time = process_start_time(*pid).value_or(0);
      return true;
    }
    return false;
  }
  return member.pid > 0 && process_matches(member.pid, member.start_time);
}

// The master port a running Sentinel reports, 0 when none answers (then nobody knows better
// than the servers' own config files).
static int sentinel_master_port(const StackState& state, const config::Config& cfg)
{
  std::string master_name = config::settings(cfg).redis.master_name;
  for (const Member* s : state.of_kind("sentinel")) {
    if (!process_matches(s->pid, s->start_time)) continue;
    auto p = probe_sentinel(s->port, master_name, client_tls(cfg), 500ms);
    if (p.master_port) return p.master_port;
  }
  return 0;
}

// The port of the Redis master now: what a running Sentinel says, else the recorded master.
static int redis_master_port(const StackState& state, const config::Config& cfg)
{
  if (int port = sentinel_master_port(state, cfg)) return port;
  const Member* m = state.with_role("redis", "master");
  return m ? m->port : 0;
}

void Stack::create(Member& member)
{
  auto& site = m_site;
  if (member.kind == "postgres") {
    // A member being (re)made may still run: the old primary after promote, or one left by a
    // failed deploy with --no-rollback. Its data directory is about to be replaced.
    if (running(member)) stop(member, StopMode::fast, 30s);
    if (member.role == "primary") {
      if (!site.planning() && fs::exists(member.data_dir)) site.remove_tree(member.data_dir); // a half-made initdb
      postgres::create_primary(site, member, {});
    } else {
      const Member* p = primary();
      if (!p) throw Error(ExitCode::failed, fmt::format("cannot create standby {}", member.name), "the stack has no primary",
                          "run 'statectl status' to see what is down");
      Member prim = *p;
      postgres::create_standby(site, member, prim);
    }
  } else if (member.kind == "pgbouncer") {
    int target = m_state.ha == "patroni" ? static_cast<int>(config::settings(site.cfg).local.haproxy_port) : (primary() ? primary()->port : 0);
    pgbouncer::configure(site, member, target);
    pgbouncer::start(site, member);
    m_state.pgbouncer_target = target;
  } else if (member.kind == "redis" && m_state.redis_mode == "cluster") {
    redis::configure_server(site, member, m_state.redis_acl, std::nullopt, redis_cluster::node_config(site.cfg, member));
    redis::start(site, member);
  } else if (member.kind == "redis") {
    std::optional<int> master;
    if (member.role != "master") master = redis_master_port(m_state, site.cfg);
    redis::configure_server(site, member, m_state.redis_acl, master);
    redis::start(site, member);
  } else if (member.kind == "sentinel") {
    // The Sentinels this config asks for, plus any recorded on other ports.
    std::vector<std::pair<std::string, int>> peers;
    int base = static_cast<int>(config::settings(site.cfg).local.sentinel_port);
    for (int i = 0; i < config::settings(site.cfg).redis.sentinels; ++i) peers.emplace_back(fmt::format("sentinel-{}", i), base + i);
    for (const Member* s : std::as_const(m_state).of_kind("sentinel"))
      if (std::none_of(peers.begin(), peers.end(), [&](const auto& p) { return p.first == s->name; })) peers.emplace_back(s->name, s->port);
    redis::configure_sentinel(site, member, m_state.redis_acl, redis_master_port(m_state, site.cfg), peers);
    redis::start(site, member);
  } else if (member.kind == "etcd") {
    patroni::configure_etcd(site, member);
    patroni::start(site, member, m_state.patroni_tls);
  } else if (member.kind == "patroni") {
    patroni::configure_member(site, member, static_cast<int>(config::settings(site.cfg).local.etcd_port), m_state.patroni_tls);
    patroni::start(site, member, m_state.patroni_tls);
  } else if (member.kind == "haproxy") {
    patroni::configure_haproxy(site, member, std::as_const(m_state).of_kind("patroni"), m_state.patroni_tls);
    patroni::start(site, member, m_state.patroni_tls);
  } else if (monitoring::is_monitoring_kind(member.kind)) {
    monitoring::start(site, member, m_state);
  }
  member.initialized = true;
}

void Stack::start(Member& member)
{
  if (member.kind == "postgres") postgres::start(m_site, member);
  else if (member.kind == "pgbouncer") pgbouncer::start(m_site, member);
  else if (member.kind == "redis") {
    // A server that was down (a killed master, say) may have been replaced: started from its
    // own config it would run as a second writable master until Sentinel demotes it. Ask the
    // Sentinels first and start it as a replica of the master they know.
    int master = m_state.redis_mode == "sentinel" ? sentinel_master_port(m_state, m_site.cfg) : 0;
    if (master && master != member.port) {
      m_site.printer.info(fmt::format("{} returns as a replica of the current master 127.0.0.1:{}", member.name, master));
      redis::configure_server(m_site, member, m_state.redis_acl, master);
      for (auto& m : m_state.members)
        if (m.kind == "redis") m.role = m.port == master ? "master" : "replica";
    }
    redis::start(m_site, member);
  } else if (member.kind == "sentinel") redis::start(m_site, member);
  else if (monitoring::is_monitoring_kind(member.kind)) monitoring::start(m_site, member, m_state);
  else patroni::start(m_site, member, m_state.patroni_tls);
}

void Stack::stop(Member& member, StopMode mode, milliseconds timeout)
{
  if (member.kind == "postgres") postgres::stop(m_site, member, mode, timeout);
  else if (member.kind == "pgbouncer") pgbouncer::stop(m_site, member, mode, timeout);
  else if (member.kind == "redis" || member.kind == "sentinel") redis::stop(m_site, member, mode, timeout);
  else if (monitoring::is_monitoring_kind(member.kind)) monitoring::stop(m_site, member, mode, timeout);
  else patroni::stop(m_site, member, mode, timeout);
}

void Stack::remove(const std::string& name)
{
  Member* m = m_state.find(name);
  if (!m) return;
  stop(*m, StopMode::fast, 30s);
  if (m->kind == "postgres" && m->role == "replica") {
    if (const Member* p = primary(); p && p->name != name) {
      postgres::run_sql(m_site, p->port,
                        fmt::format("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{}';\n",
                                    postgres::slot_name(name)),
                        "dropping replication slot");
    }
  }
  m_site.remove_tree(m->dir);
  m_state.members.erase(std::remove_if(m_state.members.begin(), m_state.members.end(), [&](const Member& x) { return x.name == name; }),
                        m_state.members.end());
  save();
}

void Stack::update_sync_standbys()
{
  if (m_state.ha == "patroni") return;
  Member* p = nullptr;
  for (auto* m : m_state.of_kind("postgres"))
    if (m->role == "primary") p = m;
  if (!p || !running(*p)) return;
  std::vector<std::string> names;
  if (config::settings(m_site.cfg).postgres.synchronous)
    for (auto* m : m_state.of_kind("postgres"))
      if (m->role == "replica" && m->initialized) names.push_back(m->name);
  postgres::write_conf(m_site, *p, 0, names);
  postgres::reload(m_site, *p);
}

DeployResult Stack::reconcile(const DeployOptions& opts)
{
  auto& site = m_site;
  DeployResult res;
  Desired d = desired();
  std::vector<Member> to_start;
  std::vector<Member> planned;
  for (auto& want : d.members) {
    Member* have = m_state.find(want.name);
    Member probe = have ? *have : want;
    planned.push_back(probe);
    if (!have || !probe.initialized || !running(probe)) to_start.push_back(probe);
  }
  check_port_overlaps(planned);
  std::vector<std::string> extra;
  for (const auto& m : m_state.members)
    if (std::none_of(d.members.begin(), d.members.end(), [&](const Member& w) { return w.name == m.name; })) extra.push_back(m.name);
  if (to_start.empty() && extra.empty()) {
    for (const auto& m : d.members) res.running.push_back(m.name);
    // Still refresh the recorded pids (a server may have been restarted by its supervisor).
    for (auto& m : m_state.members) running(m);
    save();
    return res;
  }
  preflight(to_start);

  site.make_dir(site.state_dir(), 0755, false);
  // A stack whose PostgreSQL is still to be made gets the application role's client certificate.
  bool pg_new = std::none_of(m_state.members.begin(), m_state.members.end(),
                             [](const Member& m) { return (m.kind == "postgres" || m.kind == "patroni") && m.initialized; });
  site.install_tls(pg_new);
  // The servers archive into the backup repository as the run_as user: create it owned by them.
  if (site.planning()) site.note(fmt::format("create the backup repository {}", backup::Repository::from_config(site.cfg).location()));
  else backup::Repository::from_config(site.cfg).ensure();
  m_state.run_as = site.run_as();
  std::vector<std::string> touched;
  bool pg_changed = false;
  try {
    for (auto& want : d.members) {
      Member* have = m_state.find(want.name);
      if (!have) {
        m_state.members.push_back(want);
        have = &m_state.members.back();
      }
      if (have->initialized && running(*have)) {
        res.running.push_back(have->name);
        continue;
      }
      touched.push_back(have->name);
      if (!have->initialized) {
        site.printer.info(fmt::format("creating {} ({}) on 127.0.0.1:{}", have->name, have->role, have->port));
        create(*have);
        res.created.push_back(have->name);
        pg_changed = pg_changed || have->kind == "postgres";
      } else {
        site.printer.info(fmt::format("starting {} ({}) on 127.0.0.1:{}", have->name, have->role, have->port));
        start(*have);
        res.started.push_back(have->name);
      }
      save();
    }
    for (const auto& name : extra) {
      site.printer.info("removing " + name);
      pg_changed = pg_changed || util::starts_with(name, "postgres-");
      remove(name);
      res.removed.push_back(name);
    }
    if (pg_changed) update_sync_standbys();
    if (m_state.redis_mode == "cluster" && std::any_of(touched.begin(), touched.end(), [](const std::string& n) { return util::starts_with(n, "redis-"); })) {
      redis_cluster::form(site, m_state, opts.timeout);
      save();
    }
    // Monitoring that already ran follows the new members (scrape targets, Redis passwords).
    if (!res.created.empty() || !res.removed.empty())
      for (auto& m : m_state.members)
        if (monitoring::is_monitoring_kind(m.kind) && running(m)) monitoring::refresh(site, m, m_state);
    if (m_state.ha == "patroni" && std::any_of(res.created.begin(), res.created.end(), [](const std::string& n) { return util::starts_with(n, "patroni-"); }))
      patroni_bootstrap_roles(opts.timeout);
    // PgBouncer follows the primary in bare mode.
    if (m_state.ha != "patroni") {
      Member* bouncer = m_state.find("pgbouncer");
      const Member* p = primary();
      if (bouncer && p && m_state.pgbouncer_target != p->port) repoint_pgbouncer(p->port);
    }
    save();
    if (!site.planning()) wait_healthy(opts.timeout);
  } catch (...) {
    if (opts.rollback && !site.planning()) {
      for (auto it = touched.rbegin(); it != touched.rend(); ++it) {
        Member* m = m_state.find(*it);
        if (!m) continue;
        site.printer.info("stopping " + m->name + " (started by this run)");
        try {
          stop(*m, StopMode::immediate, 10s);
        } catch (const std::exception& e) {
          site.printer.warn(fmt::format("could not stop {}: {}", m->name, e.what()));
        }
      }
      try {
        save();
      } catch (...) {
      }
    }
    throw;
  }
  return res;
}

void Stack::patroni_bootstrap_roles(milliseconds timeout)
{
  if (m_site.planning()) {
    m_site.note("wait for a Patroni leader, then create the roles on it");
    postgres::run_sql(m_site, static_cast<int>(config::settings(m_site.cfg).local.postgres_port), postgres::roles_sql(m_site), "creating roles");
    return;
  }
  const Member* l = nullptr;
  std::vector<const Member*> members = std::as_const(m_state).of_kind("patroni");
  std::string ca = patroni::rest_ca(m_site.cfg, m_state);
  if (!wait_for([&] { return (l = patroni::leader(members, ca)) != nullptr; }, timeout, 250ms)) {
    std::string logs;
    for (const Member* m : members) logs += fmt::format("\n{}:\n{}", m->log, log_tail(m->log, 5));
    throw Error(ExitCode::external, fmt::format("no Patroni leader was elected within {}", util::format_duration(timeout)),
                "last lines of the Patroni logs:" + logs, "see the logs; etcd must be healthy for Patroni to elect a leader");
  }
  m_site.printer.info(fmt::format("{} is the Patroni leader; creating roles", l->name));
  postgres::run_sql(m_site, l->port, postgres::roles_sql(m_site), "creating roles");
}

DeployResult Stack::deploy(const DeployOptions& opts)
{
  const auto& cfg = m_site.cfg;
  if (config::settings(cfg).postgres.ha == "patroni") check_patroni_timings(cfg);
  lock();
  if (m_exists && !m_state.members.empty()) {
    if (m_state.ha != config::settings(cfg).postgres.ha)
      throw Error(ExitCode::usage, fmt::format("the local stack in {} runs with [postgres] ha = \"{}\"", m_site.state_dir().string(), m_state.ha),
                  fmt::format("the config now says ha = \"{}\"", config::settings(cfg).postgres.ha),
                  "run 'statectl destroy --purge' first to switch (it deletes the data)");
    if (m_state.redis_mode != config::settings(cfg).redis.mode)
      throw Error(ExitCode::usage, fmt::format("the local stack in {} runs Redis in {} mode", m_site.state_dir().string(), m_state.redis_mode),
                  fmt::format("the config now says [redis] mode = \"{}\"", config::settings(cfg).redis.mode),
                  "run 'statectl destroy --purge' first to switch (it deletes the data)");
    auto nodes = static_cast<long long>(m_state.of_kind("redis").size());
    auto shape = redis_cluster::shape(cfg, m_state); // what `scale redis` recorded, else the config
    long long want = static_cast<long long>(shape.masters) * (1 + shape.replicas);
    if (m_state.redis_mode == "cluster" && nodes != want)
      throw Error(ExitCode::usage, fmt::format("the local Redis Cluster in {} has {} nodes", m_site.state_dir().string(), nodes),
                  fmt::format("the config asks for {} ([redis] cluster_masters x (1 + cluster_replicas))", want),
                  fmt::format("resize the running cluster with 'statectl scale redis --masters {} --replicas {}', or restore the counts",
                              shape.masters, shape.replicas));
    // A stack speaks TLS when its deploy installed the CA; a stack deployed as plain text (by a
    // statectl whose default was off) does not turn TLS on under its running clients.
    bool running_tls = fs::exists(tls_files(cfg).ca);
    if (running_tls != config::settings(cfg).tls.enabled)
      throw Error(ExitCode::usage, fmt::format("the local stack in {} runs {} TLS", m_site.state_dir().string(), running_tls ? "with" : "without"),
                  fmt::format("the config says [tls] enabled = {}{}", config::settings(cfg).tls.enabled ? "true" : "false", config::settings(cfg).tls.enabled_set ? "" : " (the default)"),
                  fmt::format("set [tls] enabled = {} to keep it as it is, or run 'statectl destroy --purge' first to switch (it deletes the data)",
                              running_tls ? "true" : "false"));
    // ACL users the same way: a stack whose servers still let the default user in (deployed
    // before ACLs) is not switched under its running clients and replicas.
    if (!m_state.of_kind("redis").empty() && m_state.redis_acl != redis_acl::enabled(cfg))
      throw Error(ExitCode::usage,
                  fmt::format("the local stack in {} runs Redis {} ACL users", m_site.state_dir().string(), m_state.redis_acl ? "with" : "without"),
                  fmt::format("the config says [redis] acl = {}{}", config::settings(cfg).redis.acl ? "true" : "false", config::settings(cfg).redis.acl_set ? "" : " (the default)"),
                  fmt::format("set [redis] acl = {} to keep it as it is, or run 'statectl destroy --purge' first to switch (it deletes the data)",
                              m_state.redis_acl ? "true" : "false"));
  } else {
    m_state.ha = config::settings(cfg).postgres.ha;
    m_state.redis_mode = config::settings(cfg).redis.mode;
    m_state.redis_acl = redis_acl::enabled(cfg);
    m_state.patroni_tls = config::settings(cfg).tls.enabled;
  }
  return reconcile(opts);
}

std::vector<std::string> Stack::destroy(bool purge, milliseconds timeout)
{
  lock();
  std::vector<std::string> stopped;
  if (!m_exists) {
    m_site.printer.info("no local stack in " + m_site.state_dir().string() + "; nothing to stop");
    return stopped;
  }
  // Monitoring, then clients (PgBouncer, HAProxy), then Sentinels before the Redis servers they watch, the
  // PostgreSQL primary before its standbys (it then ships its last WAL), etcd last.
  auto rank = [](const Member& m) {
    if (monitoring::is_monitoring_kind(m.kind)) return -1; // watchers first: no alerts about the teardown
    if (m.kind == "pgbouncer" || m.kind == "haproxy") return 0;
    if (m.kind == "sentinel") return 1;
    if (m.kind == "redis") return m.role == "master" ? 3 : 2;
    if (m.kind == "postgres") return m.role == "primary" ? 4 : 5;
    if (m.kind == "patroni") return 4;
    return 6;
  };
  std::vector<Member*> order;
  for (auto& m : m_state.members) order.push_back(&m);
  std::stable_sort(order.begin(), order.end(), [&](Member* a, Member* b) { return rank(*a) < rank(*b); });
  std::vector<std::string> failures;
  for (Member* m : order) {
    if (!running(*m)) {
      m->pid = 0;
      m->start_time = 0;
      continue;
    }
    m_site.printer.info("stopping " + m->name);
    try {
      stop(*m, StopMode::fast, timeout);
      stopped.push_back(m->name);
    } catch (const Error& e) {
      failures.push_back(m->name + ": " + e.message());
    }
    save();
  }
  if (!failures.empty())
    throw Error(ExitCode::external, "could not stop every component", util::join(failures, "\n"),
                "run 'statectl destroy' again; 'statectl status' shows what still runs");
  if (purge) {
    for (const auto& m : m_state.members) m_site.remove_tree(m.dir);
    if (fs::exists(wal_archive_dir(m_site.cfg))) m_site.remove_tree(wal_archive_dir(m_site.cfg));
    // The default repository lives in the state directory and holds this cluster's WAL; a new
    // cluster deployed here would collide with it. A configured [backup] repo is never touched.
    if (config::settings(m_site.cfg).backup.repo.empty()) {
      auto repo = backup::Repository::from_config(m_site.cfg).root();
      if (fs::exists(repo)) m_site.remove_tree(repo);
    }
    if (m_site.planning()) {
      m_site.note("rm " + m_file.string());
    } else {
      fs::remove(m_file);
      fs::remove(m_site.state_dir() / ".lock");
      std::error_code ec;
      fs::remove(m_site.state_dir(), ec); // only when empty: secrets and backups stay
    }
    m_state.members.clear();
    m_exists = false;
  }
  return stopped;
}

} // namespace statectl::local

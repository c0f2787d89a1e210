// `status` of the local stack: every member probed through its own protocol.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "core/config/settings.h"
#include "core/local/components.h"
#include "core/local/monitoring.h"
#include "core/local/probe.h"
#include "core/local/redis_acl.h"
#include "core/local/process.h"
#include "core/local/stack.h"
#include "core/secrets/store.h"
#include "core/util/strings.h"

namespace statectl::local {

namespace fs = std::filesystem;
using namespace std::chrono;

// A replica further behind than this is reported as lagging (unhealthy).
static constexpr std::int64_t k_max_lag_bytes = 16 * 1024 * 1024;

namespace {

std::string pg_version_text(std::int64_t num) { return fmt::format("{}.{}", num / 10000, num % 100); }

std::optional<nlohmann::json> rest_json(int port, const std::string& path, const std::string& ca)
{
  auto r = http_request(port, "GET", path, 1500ms, ca);
  if (!r || r->body.empty()) return std::nullopt;
  try {
    return nlohmann::json::parse(r->body);
  } catch (...) {
    return std::nullopt;
  }
}

// Records how statectl's probe reached a component: TLS and its protocol, or plain text.
void record_link(ComponentStatus& c, const std::string& tls_protocol)
{
  c.encrypted = !tls_protocol.empty();
  c.tls_protocol = tls_protocol;
}

} // namespace

nlohmann::json StackStatus::to_json() const
{
  nlohmann::json comps = nlohmann::json::array();
  for (const auto& c : components) {
    nlohmann::json j = {{"name", c.name},       {"kind", c.kind}, {"role", c.role},       {"address", c.address},
                        {"healthy", c.healthy}, {"pid", c.pid},   {"version", c.version}};
    if (c.lag_bytes) j["lag_bytes"] = *c.lag_bytes;
    if (c.offset) j["offset"] = *c.offset;
    if (c.kind == "redis" && c.offset) j["slots"] = c.slots;
    if (c.encrypted) {
      j["encrypted"] = *c.encrypted;
      j["tls_protocol"] = c.tls_protocol;
    }
    if (!c.error.empty()) j["error"] = c.error;
    comps.push_back(j);
  }
  return {{"target", "local"}, {"state_dir", state_dir}, {"ha", ha}, {"healthy", healthy}, {"components", comps}, {"endpoints", endpoints}};
}

std::string StackStatus::to_text() const
{
  // Redis Cluster nodes add their slots and replication offsets.
  bool cluster = std::any_of(components.begin(), components.end(), [](const ComponentStatus& c) { return c.offset.has_value(); });
  output::Table t{{"NAME", "KIND", "ROLE", "ADDRESS", "HEALTHY", "PID", "LAG", "TLS", "VERSION"}, {}};
  if (cluster) t.headers.insert(t.headers.end(), {"SLOTS", "OFFSET"});
  std::string problems;
  for (const auto& c : components) {
    t.rows.push_back({c.name, c.kind, c.role, c.address, c.healthy ? "yes" : "no", c.pid ? std::to_string(c.pid) : "-",
                      c.lag_bytes ? util::format_size(static_cast<std::uint64_t>(std::max<std::int64_t>(0, *c.lag_bytes))) : "",
                      !c.encrypted ? "-" : *c.encrypted ? c.tls_protocol : "no", c.version});
    if (cluster) t.rows.back().insert(t.rows.back().end(), {c.slots, c.offset ? std::to_string(*c.offset) : ""});
    if (!c.error.empty()) problems += fmt::format("  {}: {}\n", c.name, c.error);
  }
  std::string out = t.render();
  if (!problems.empty()) out += "\nproblems:\n" + problems;
  out += "\n";
  out += fmt::format("pgbouncer:  {}\n", endpoints.value("pgbouncer_url", ""));
  out += fmt::format("primary:    {}\n", endpoints.value("primary", ""));
  if (!endpoints.value("sentinels", nlohmann::json::array()).empty())
    out += fmt::format("sentinels:  {} (master name {})\n",
                       util::join(endpoints["sentinels"].get<std::vector<std::string>>(), ","), endpoints.value("master_name", ""));
  if (endpoints.contains("redis_cluster"))
    out += fmt::format("redis:      cluster {}\n", util::join(endpoints["redis_cluster"].get<std::vector<std::string>>(), ","));
  else
    out += fmt::format("redis:      {}\n", endpoints.value("redis", ""));
  out += fmt::format("state dir:  {}\n", state_dir);
  return out;
}

StackStatus Stack::status()
{
  const auto& cfg = m_site.cfg;
  StackStatus st;
  st.state_dir = m_site.state_dir().string();
  st.ha = m_state.ha;
  if (!m_exists)
    throw Error(ExitCode::failed, fmt::format("no local stack in {}", st.state_dir), "", "run 'statectl deploy' to start one");
  secrets::Store store(cfg);
  auto password = [&](const std::string& name) -> std::string {
    try {
      return store.get(name).value_or("");
    } catch (const Error&) {
      return "";
    }
  };
  ProbeAuth su{config::settings(cfg).postgres.superuser, password("postgres"), "postgres", 2000ms, client_tls(cfg)};
  std::string redis_pw = password("redis");
  std::string rest_ca = patroni::rest_ca(cfg, m_state); // Patroni's REST API and etcd

  // PostgreSQL first: the primary's pg_stat_replication gives every standby's state and lag.
  std::map<std::string, PgProbe> pg;
  const PgProbe* primary_probe = nullptr;
  for (auto* m : m_state.of_kind("postgres")) {
    if (!running(*m)) continue;
    pg[m->name] = probe_postgres(m->port, su, true);
    if (pg[m->name].ok && !pg[m->name].in_recovery) primary_probe = &pg[m->name];
  }
  // Redis: the master's INFO gives each replica's acknowledged offset.
  std::map<std::string, RedisProbe> rd;
  const RedisProbe* master_probe = nullptr;
  std::map<std::string, redis_cluster::NodeProbe> nodes;
  bool cluster_mode = m_state.redis_mode == "cluster";
  for (auto* m : m_state.of_kind("redis")) {
    if (!running(*m)) continue;
    if (cluster_mode) {
      nodes[m->name] = redis_cluster::probe(m->port, {m_state.redis_acl ? redis_acl::k_admin_user : "", redis_pw, clients::redis_tls(su.tls)}, 2000ms);
      continue;
    }
    // As the admin user on a stack with ACL users (the default user is off there).
    rd[m->name] = probe_redis(m->port, m_state.redis_acl ? redis_acl::k_admin_user : "", redis_pw, su.tls);
    if (rd[m->name].ok && rd[m->name].role == "master") master_probe = &rd[m->name];
  }
  // Patroni: one member's /cluster describes them all.
  std::optional<nlohmann::json> cluster;
  for (auto* m : m_state.of_kind("patroni")) {
    if (!running(*m)) continue;
    if ((cluster = rest_json(m->rest_port, "/cluster", rest_ca))) break;
  }
  int sentinel_count = static_cast<int>(m_state.of_kind("sentinel").size());
  // Sentinel: the master the Sentinels agree on (most votes). A Redis server that runs as a
  // master beside it is a split brain (a restarted old master, or a failover that was abandoned
  // after its SLAVEOF NO ONE) until the Sentinels convert it back.
  std::map<std::string, RedisProbe> sp;
  std::map<int, int> master_votes;
  for (auto* m : m_state.of_kind("sentinel")) {
    if (!running(*m)) continue;
    sp[m->name] = probe_sentinel(m->port, config::settings(cfg).redis.master_name, su.tls, 1500ms);
    if (sp[m->name].ok && sp[m->name].master_port) ++master_votes[sp[m->name].master_port];
  }
  int sentinel_master = 0;
  for (const auto& [port, votes] : master_votes)
    if (!sentinel_master || votes > master_votes[sentinel_master]) sentinel_master = port;
  for (auto* m : m_state.of_kind("redis"))
    if (m->port == sentinel_master && rd.count(m->name) && rd[m->name].ok && rd[m->name].role == "master") master_probe = &rd[m->name];

  for (auto& m : m_state.members) {
    ComponentStatus c;
    c.name = m.name;
    c.kind = m.kind;
    c.role = m.role;
    c.address = fmt::format("127.0.0.1:{}", m.port);
    bool alive = running(m);
    c.pid = alive ? m.pid : 0;
    if (!alive) {
      c.error = m.initialized ? "not running" : "not created yet (run 'statectl deploy')";
      st.components.push_back(c);
      continue;
    }
    if (m.kind == "postgres") {
      const PgProbe& p = pg[m.name];
      c.version = p.version;
      if (p.ok) record_link(c, p.tls_protocol);
      if (!p.ok) {
        c.error = p.error;
      } else if (!p.in_recovery) {
        c.role = "primary";
        c.healthy = true;
      } else {
        c.role = "replica";
        const PgReplica* seen = nullptr;
        if (primary_probe)
          for (const auto& r : primary_probe->replicas)
            if (r.application_name == m.name) seen = &r;
        if (!seen) {
          c.error = primary_probe ? "not streaming from the primary" : "no primary is reachable";
        } else {
          if (seen->lag_bytes >= 0) c.lag_bytes = seen->lag_bytes;
          if (seen->state != "streaming") c.error = "replication state " + seen->state;
          else if (seen->lag_bytes > k_max_lag_bytes) c.error = fmt::format("lagging {} behind", util::format_size(static_cast<std::uint64_t>(seen->lag_bytes)));
          else c.healthy = true;
        }
      }
    } else if (m.kind == "pgbouncer") {
      auto p = probe_postgres(m.port, su, false);
      c.healthy = p.ok;
      if (p.ok) record_link(c, p.tls_protocol);
      if (!p.ok) c.error = p.error;
      else c.version = pgbouncer_version(m.port, su);
    } else if (m.kind == "redis" && cluster_mode) {
      const auto& p = nodes[m.name];
      c.version = p.version;
      if (!p.ok) {
        c.error = p.error;
      } else {
        record_link(c, p.tls_protocol);
        c.role = m.role = p.role;
        c.slots = p.slots;
        c.offset = p.offset;
        if (p.state != "ok") c.error = "cluster_state " + p.state;
        else if (p.role == "replica" && !p.link_up) c.error = fmt::format("link to its master 127.0.0.1:{} is down", p.master_port);
        else if (p.role == "master" && p.slots.empty()) c.error = "a master without slots";
        else c.healthy = true;
      }
    } else if (m.kind == "redis") {
      const RedisProbe& p = rd[m.name];
      c.version = p.version;
      if (p.ok) record_link(c, p.tls_protocol);
      if (!p.ok) {
        c.error = p.error;
      } else if (p.role == "master") {
        c.role = "master";
        if (sentinel_master && sentinel_master != m.port)
          c.error = fmt::format("a second master: the Sentinels' master is 127.0.0.1:{} (they convert this one to a replica)", sentinel_master);
        else c.healthy = true;
      } else {
        c.role = "replica";
        if (master_probe) {
          auto it = master_probe->replica_offsets.find(m.port);
          if (it != master_probe->replica_offsets.end()) c.lag_bytes = std::max<std::int64_t>(0, master_probe->offset - it->second);
        }
        if (!p.link_up) c.error = "link to the master is down";
        else if (c.lag_bytes && *c.lag_bytes > k_max_lag_bytes) c.error = "lagging behind the master";
        else c.healthy = true;
      }
    } else if (m.kind == "sentinel") {
      const RedisProbe& p = sp[m.name];
      c.version = p.version;
      if (p.ok || !p.version.empty()) record_link(c, p.tls_protocol);
      if (!p.ok) c.error = p.error;
      else if (p.sentinels_known < sentinel_count - 1)
        c.error = fmt::format("knows {} of the {} other sentinels", p.sentinels_known, sentinel_count - 1);
      else c.healthy = true;
    } else if (m.kind == "etcd") {
      auto h = http_request(m.port, "GET", "/health", 1500ms, rest_ca);
      c.role = "dcs";
      if (h) record_link(c, h->tls_protocol);
      c.healthy = h && h->status == 200 && h->body.find("true") != std::string::npos;
      if (!c.healthy) c.error = h ? "unhealthy: " + util::trim(h->body) : "no answer on /health";
      if (auto v = rest_json(m.port, "/version", rest_ca)) c.version = v->value("etcdserver", "");
    } else if (m.kind == "patroni") {
      c.address = fmt::format("127.0.0.1:{}", m.port);
      // The TLS column says how the REST API was reached (Patroni's PostgreSQL is probed through it).
      auto self_r = http_request(m.rest_port, "GET", "/patroni", 1500ms, rest_ca);
      if (self_r) record_link(c, self_r->tls_protocol);
      std::optional<nlohmann::json> self;
      if (self_r && !self_r->body.empty()) {
        auto parsed = nlohmann::json::parse(self_r->body, nullptr, false);
        if (!parsed.is_discarded()) self = std::move(parsed);
      }
      if (self) {
        if (self->contains("server_version") && (*self)["server_version"].is_number())
          c.version = pg_version_text((*self)["server_version"].get<std::int64_t>());
        std::string role = self->value("role", "");
        c.role = role == "master" || role == "primary" ? "leader" : role.empty() ? c.role : "replica";
      }
      bool found = false;
      if (cluster) {
        for (const auto& mem : cluster->value("members", nlohmann::json::array())) {
          if (mem.value("name", "") != m.name) continue;
          found = true;
          std::string role = mem.value("role", "");
          std::string state = mem.value("state", "");
          c.role = role == "leader" || role == "standby_leader" ? "leader" : "replica";
          if (c.role == "replica" && mem.contains("lag") && mem["lag"].is_number()) c.lag_bytes = mem["lag"].get<std::int64_t>();
          if (state != "running" && state != "streaming") c.error = "patroni state " + state;
          else if (c.lag_bytes && *c.lag_bytes > k_max_lag_bytes) c.error = "lagging behind the leader";
          else c.healthy = true;
        }
      }
      if (!found) c.error = self ? "not a member of the cluster (yet)" : "no answer from the Patroni REST API";
      m.role = c.role;
    } else if (m.kind == "haproxy") {
      auto p = probe_postgres(m.port, su, false);
      if (p.ok) record_link(c, p.tls_protocol);
      c.healthy = p.ok && !p.in_recovery;
      if (!p.ok) c.error = p.error;
      else if (p.in_recovery) c.error = "routes writes to a standby";
      else c.version = "haproxy -> " + p.version;
    } else if (monitoring::is_monitoring_kind(m.kind)) {
      c.healthy = monitoring::healthy(m, c.error);
    }
    st.components.push_back(c);
  }
  st.healthy = std::all_of(st.components.begin(), st.components.end(), [](const ComponentStatus& c) { return c.healthy; });

  // The local stack's own addresses, as its members recorded them ([postgres] url and the other
  // external addresses are not this stack's, so they are not shown here).
  auto ports = m_state.client_ports();
  int primary = ports.primary.value_or(static_cast<int>(m_state.ha == "patroni" ? config::settings(cfg).local.haproxy_port : config::settings(cfg).local.postgres_port));
  std::vector<std::string> sentinels;
  for (int p : ports.sentinels) sentinels.push_back(fmt::format("127.0.0.1:{}", p));
  std::vector<std::string> replicas;
  for (int p : ports.replicas) replicas.push_back(fmt::format("127.0.0.1:{}", p));
  st.endpoints = {{"pgbouncer_url", fmt::format("postgresql://{}@127.0.0.1:{}/{}", config::settings(cfg).postgres.superuser,
                                                ports.pooler.value_or(static_cast<int>(config::settings(cfg).local.pgbouncer_port)),
                                                config::settings(cfg).postgres.database)},
                  {"primary", fmt::format("127.0.0.1:{}", primary)},
                  {"replicas", replicas},
                  {"redis", fmt::format("127.0.0.1:{}", ports.redis.value_or(static_cast<int>(config::settings(cfg).local.redis_port)))},
                  {"sentinels", sentinels},
                  {"master_name", config::settings(cfg).redis.master_name}};
  if (cluster_mode) {
    std::vector<std::string> cluster_nodes;
    for (const Member* m : std::as_const(m_state).of_kind("redis")) cluster_nodes.push_back(fmt::format("127.0.0.1:{}", m->port));
    st.endpoints["redis_cluster"] = cluster_nodes;
  }
  return st;
}

void Stack::wait_healthy(milliseconds timeout)
{
  auto end = steady_clock::now() + timeout;
  StackStatus st;
  while (true) {
    st = status();
    if (st.healthy) return;
    if (steady_clock::now() >= end) break;
    std::this_thread::sleep_for(250ms);
  }
  std::vector<std::string> problems;
  for (const auto& c : st.components)
    if (!c.healthy) problems.push_back(fmt::format("{}: {} (log: {})", c.name, c.error, m_state.find(c.name) ? m_state.find(c.name)->log : "?"));
  throw Error(ExitCode::external, fmt::format("the local stack did not become healthy within {}", util::format_duration(timeout)),
              util::join(problems, "\n"), "see the logs named above; 'statectl status' shows the current state");
}

} // namespace statectl::local

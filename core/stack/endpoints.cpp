#include "core/stack/endpoints.h"

#include "core/error.h"
#include "core/local/state.h"

namespace statectl::stack {

Endpoints resolve(const config::Config& cfg)
{
  Endpoints e;
  std::string user = cfg.get_string("postgres.superuser");
  std::string db = cfg.get_string("postgres.database");
  auto pg = [&](int port) {
    PgEndpoint p;
    p.port = port;
    p.user = user;
    p.database = db;
    p.password_secret = "postgres";
    return p;
  };
  int base = static_cast<int>(cfg.get_int("local.postgres_port"));
  e.pooler = pg(static_cast<int>(cfg.get_int("local.pgbouncer_port")));
  e.primary = cfg.get_string("postgres.ha") == "patroni" ? pg(static_cast<int>(cfg.get_int("local.haproxy_port"))) : pg(base);
  int replicas = static_cast<int>(cfg.get_int("postgres.replicas"));
  for (int i = 1; i <= replicas; ++i) e.replicas.push_back(pg(base + i));

  // What the local target recorded wins over the configured ports: after a failover the
  // primary is another member, and `scale` may have changed the counts.
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

  if (!cfg.get_string("postgres.url").empty()) {
    e.pooler.url = cfg.get_string("postgres.url");
    e.pooler.password_secret.clear();
    e.primary = e.pooler;
  }

  e.master_name = cfg.get_string("redis.master_name");
  e.redis.port = static_cast<int>(cfg.get_int("local.redis_port"));
  e.redis_password_secret = "redis";
  if (cfg.get_string("redis.mode") == "sentinel") {
    int sport = static_cast<int>(cfg.get_int("local.sentinel_port"));
    for (int i = 0; i < cfg.get_int("redis.sentinels"); ++i) e.sentinels.push_back({"127.0.0.1", sport + i});
  }
  if (st && !st->members.empty()) {
    std::vector<HostPort> recorded;
    for (const auto& m : st->members) {
      if (m.kind == "sentinel") recorded.push_back({"127.0.0.1", m.port});
      if (m.kind == "redis" && m.role == "master") e.redis.port = m.port;
    }
    e.sentinels = recorded;
  }
  auto external = cfg.get_list("redis.sentinel_addrs");
  if (!external.empty()) {
    e.sentinels.clear();
    for (const auto& a : external) {
      auto colon = a.rfind(':');
      HostPort hp;
      hp.host = a.substr(0, colon);
      hp.port = colon == std::string::npos ? 26379 : std::stoi(a.substr(colon + 1));
      e.sentinels.push_back(hp);
    }
  }
  e.redis_url = cfg.get_string("redis.url");
  return e;
}

} // namespace statectl::stack

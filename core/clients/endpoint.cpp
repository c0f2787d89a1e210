#include "core/clients/endpoint.h"

#include <mutex>

#include "core/config/settings.h"
#include "core/error.h"

namespace statectl::clients {

namespace {

std::mutex g_source_mutex;
EndpointSource g_source;

} // namespace

void set_endpoint_source(EndpointSource source)
{
  std::lock_guard<std::mutex> lock(g_source_mutex);
  g_source = std::move(source);
}

static Endpoints target_endpoints(const config::Config& cfg)
{
  EndpointSource source;
  {
    std::lock_guard<std::mutex> lock(g_source_mutex);
    source = g_source;
  }
  if (!source)
    throw Error(ExitCode::usage, "no deploy target is available to this command",
                "set [postgres] url and [redis] url, or run it through the statectl command line");
  return source(cfg);
}

Endpoints resolve_endpoints(const config::Config& cfg)
{
  // A server named by URL does not need the target, which may have nothing deployed: then only
  // the other server's addresses are missing (port 0, with the reason in `unavailable`).
  const std::string pg_url = config::settings(cfg).postgres.url;
  const std::string redis_url = config::settings(cfg).redis.url;
  Endpoints e;
  e.master_name = config::settings(cfg).redis.master_name;
  e.redis_password_secret = "redis";
  if (pg_url.empty() || redis_url.empty()) {
    try {
      e = target_endpoints(cfg);
    } catch (const Error& err) {
      if (pg_url.empty() && redis_url.empty()) throw;
      e.unavailable = err.message();
    }
  }

  // Addresses the config names explicitly win on every target.
  if (!pg_url.empty()) {
    e.pooler = PgEndpoint{};
    e.pooler.url = pg_url;
    e.pooler.user = config::settings(cfg).postgres.superuser;
    e.pooler.database = config::settings(cfg).postgres.database;
    e.primary = e.pooler;
    e.pg_app_user.clear();
    e.pg_app_cert.clear();
    e.pg_app_key.clear();
  }
  auto external = config::settings(cfg).redis.sentinel_addrs;
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
  e.redis_url = redis_url;
  // External servers are not the target's: its TLS settings (CA file) do not apply to them.
  // Nor its ACL users.
  if (!e.redis_url.empty() || !external.empty()) {
    e.redis_tls = {};
    e.redis_user.clear();
    e.redis_app_user.clear();
    e.redis_app_password_secret.clear();
  }
  return e;
}

} // namespace statectl::clients

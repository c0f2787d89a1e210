#include "core/capacity/connect.h"

#include <fmt/format.h>

#include "core/config/url.h"
#include "core/exec/redact.h"
#include "core/secrets/store.h"

namespace statectl::capacity {

std::optional<std::string> stack_password(const config::Config& cfg, const std::string& name)
{
  return clients::stored_password(cfg, name, true);
}

clients::PgParams pg_params(const stack::PgEndpoint& ep, const std::optional<std::string>& password,
                            std::chrono::milliseconds connect_timeout, const std::string& dbname_override)
{
  clients::PgParams p = clients::PgParams::from(ep);
  p.dbname_override = dbname_override;
  if (ep.url.empty() && password) p.password = *password;
  p.connect_timeout_s = clients::timeout_seconds(connect_timeout);
  p.application_name = "statectl capacity";
  return p;
}

std::string pg_target(const stack::PgEndpoint& ep)
{
  if (!ep.url.empty()) return config::redact_url(ep.url);
  return fmt::format("{}:{}", ep.host, ep.port);
}

bool is_local_host(const std::string& host)
{
  return host.empty() || host == "127.0.0.1" || host == "localhost" || host == "::1" || host[0] == '/';
}

} // namespace statectl::capacity

#include "core/capacity/connect.h"

#include <algorithm>
#include <fmt/format.h>

#include "core/exec/redact.h"
#include "core/secrets/store.h"

namespace statectl::capacity {

namespace {

// Quotes a libpq conninfo value: single quotes, with ' and \ escaped.
std::string quote(const std::string& v)
{
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

} // namespace

std::optional<std::string> stack_password(const config::Config& cfg, const std::string& name)
{
  if (name.empty()) return std::nullopt;
  try {
    auto v = secrets::Store(cfg).get(name);
    if (v) exec::register_secret(*v);
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string pg_conninfo(const stack::PgEndpoint& ep, const std::optional<std::string>& password,
                        std::chrono::milliseconds connect_timeout, const std::string& dbname_override)
{
  // libpq reads connect_timeout in whole seconds, minimum 2.
  long secs = std::max<long>(2, static_cast<long>((connect_timeout.count() + 999) / 1000));
  std::string common = fmt::format(" connect_timeout={} application_name='statectl capacity'", secs);
  if (!ep.url.empty()) {
    // A URL and keyword settings cannot be mixed in one string; libpq accepts both forms, and
    // later keywords override the URL's when passed as a dbname=URL expansion.
    std::string s = "dbname=" + quote(ep.url) + common;
    if (!dbname_override.empty()) s += " dbname=" + quote(dbname_override);
    return s;
  }
  std::string s = fmt::format("host={} port={} user={} dbname={}{}", quote(ep.host), ep.port, quote(ep.user),
                              quote(dbname_override.empty() ? ep.database : dbname_override), common);
  if (password && !password->empty()) s += " password=" + quote(*password);
  return s;
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

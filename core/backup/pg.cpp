#include "core/backup/pg.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/exec/redact.h"
#include "core/clients/endpoint.h"
#include "core/util/strings.h"

namespace statectl::backup {

std::vector<std::string> PgTarget::argv() const
{
  if (!url.empty()) return {"-d", url};
  return {"-h", host, "-p", std::to_string(port), "-U", user};
}

std::map<std::string, std::string> PgTarget::env() const
{
  std::map<std::string, std::string> e;
  if (!password.empty()) e["PGPASSWORD"] = password;
  e["PGCONNECT_TIMEOUT"] = "10";
  if (tls.enabled) {
    e["PGSSLMODE"] = "verify-full";
    e["PGSSLROOTCERT"] = tls.ca_file;
  }
  return e;
}

std::string PgTarget::display() const
{
  if (!url.empty()) return exec::redact(url);
  return fmt::format("{}:{}", host, port);
}

PgTarget primary_target(const config::Config& cfg)
{
  auto ep = clients::resolve_endpoints(cfg).primary;
  PgTarget t;
  t.host = ep.host;
  t.port = ep.port;
  t.user = ep.user;
  t.database = ep.database;
  t.url = ep.url;
  t.tls = ep.tls;
  if (!t.url.empty()) {
    // The URL may carry a password; keep it out of every display.
    auto at = t.url.find('@');
    auto scheme = t.url.find("://");
    if (at != std::string::npos && scheme != std::string::npos) {
      std::string userinfo = t.url.substr(scheme + 3, at - scheme - 3);
      auto colon = userinfo.find(':');
      if (colon != std::string::npos) exec::register_secret(userinfo.substr(colon + 1));
    }
  }
  // An unreadable store is not fatal here: trust/peer setups need no password, and libpq
  // reports a clear authentication error otherwise.
  t.password = clients::stored_password(cfg, ep.password_secret, true).value_or("");
  return t;
}

PgSession::PgSession(const PgTarget& t, int connect_timeout_s)
{
  clients::PgParams p;
  p.host = t.host;
  p.port = t.port;
  p.user = t.user;
  p.database = t.database;
  p.url = t.url;
  p.password = t.password;
  p.connect_timeout_s = connect_timeout_s;
  p.application_name = "statectl-backup";
  if (t.tls.enabled) p.tls = clients::pg_tls(t.tls);
  m_where = t.display();
  try {
    m_conn = clients::PgConnection::connect(p);
  } catch (const clients::PgError& e) {
    throw clients::to_error(e.failure(), fmt::format("cannot connect to PostgreSQL at {}", m_where),
                            "start the stack (`statectl deploy`) or check [local] postgres_port / [postgres] url");
  }
}

std::vector<std::vector<std::optional<std::string>>> PgSession::query(const std::string& sql)
{
  clients::PgResult r;
  try {
    r = m_conn.exec(sql);
  } catch (const clients::PgError& e) {
    throw clients::to_error(e.failure(), fmt::format("query on PostgreSQL at {} failed", m_where));
  }
  std::vector<std::vector<std::optional<std::string>>> rows;
  for (const auto& row : r) {
    std::vector<std::optional<std::string>> values;
    for (int j = 0; j < row.size(); ++j)
      values.push_back(row[j].is_null() ? std::nullopt : std::optional<std::string>(row[j].as<std::string>()));
    rows.push_back(std::move(values));
  }
  return rows;
}

std::string PgSession::scalar(const std::string& sql)
{
  auto rows = query(sql);
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return "";
  return *rows[0][0];
}

} // namespace statectl::backup

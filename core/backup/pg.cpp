#include "core/backup/pg.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/store.h"
#include "core/stack/endpoints.h"
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
  return e;
}

std::string PgTarget::display() const
{
  if (!url.empty()) return exec::redact(url);
  return fmt::format("{}:{}", host, port);
}

PgTarget primary_target(const config::Config& cfg)
{
  auto ep = stack::resolve(cfg).primary;
  PgTarget t;
  t.host = ep.host;
  t.port = ep.port;
  t.user = ep.user;
  t.database = ep.database;
  t.url = ep.url;
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
  if (!ep.password_secret.empty()) {
    try {
      secrets::Store store(cfg);
      if (auto pw = store.get(ep.password_secret)) t.password = *pw;
    } catch (const Error&) {
      // An unreadable store is not fatal here: trust/peer setups need no password, and libpq
      // reports a clear authentication error otherwise.
    }
  }
  if (!t.password.empty()) exec::register_secret(t.password);
  return t;
}

PgSession::PgSession(const PgTarget& t, int connect_timeout_s)
{
  std::vector<const char*> keys, values;
  std::string port = std::to_string(t.port), timeout = std::to_string(connect_timeout_s);
  if (!t.url.empty()) {
    keys.push_back("dbname");
    values.push_back(t.url.c_str());
  } else {
    keys.insert(keys.end(), {"host", "port", "user", "dbname"});
    values.insert(values.end(), {t.host.c_str(), port.c_str(), t.user.c_str(), t.database.c_str()});
  }
  if (!t.password.empty()) {
    keys.push_back("password");
    values.push_back(t.password.c_str());
  }
  keys.insert(keys.end(), {"connect_timeout", "application_name"});
  values.insert(values.end(), {timeout.c_str(), "statectl-backup"});
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* c = PQconnectdbParams(keys.data(), values.data(), t.url.empty() ? 0 : 1);
  m_conn = c;
  m_where = t.display();
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = util::trim(PQerrorMessage(c));
    throw Error(ExitCode::unavailable, fmt::format("cannot connect to PostgreSQL at {}", m_where), exec::redact(why),
                "start the stack (`statectl deploy`) or check [local] postgres_port / [postgres] url");
  }
}

PgSession::~PgSession() { PQfinish(static_cast<PGconn*>(m_conn)); }

std::vector<std::vector<std::optional<std::string>>> PgSession::query(const std::string& sql)
{
  auto* c = static_cast<PGconn*>(m_conn);
  PGresult* r = PQexec(c, sql.c_str());
  auto st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string why = util::trim(PQresultErrorMessage(r));
    PQclear(r);
    throw Error(ExitCode::failed, fmt::format("query on PostgreSQL at {} failed", m_where), exec::redact(why));
  }
  std::vector<std::vector<std::optional<std::string>>> rows;
  for (int i = 0; i < PQntuples(r); ++i) {
    std::vector<std::optional<std::string>> row;
    for (int j = 0; j < PQnfields(r); ++j)
      row.push_back(PQgetisnull(r, i, j) ? std::nullopt : std::optional<std::string>(PQgetvalue(r, i, j)));
    rows.push_back(std::move(row));
  }
  PQclear(r);
  return rows;
}

std::string PgSession::scalar(const std::string& sql)
{
  auto rows = query(sql);
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return "";
  return *rows[0][0];
}

} // namespace statectl::backup

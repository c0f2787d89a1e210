#include "core/deploy/compose_init.h"

#include <fmt/format.h>

#include "core/config/settings.h"
#include "core/deploy/verify.h"
#include "core/error.h"
#include "core/util/strings.h"
#include "core/exec/redact.h"
#include "core/secrets/crypto.h"
#include "core/secrets/store.h"

namespace statectl::deploy {

namespace {

std::string ident(const std::string& s)
{
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

} // namespace

std::string compose_primary_sql(const config::Config& cfg, const render::Request& req)
{
  secrets::Store store(cfg);
  std::string su = config::settings(cfg).postgres.superuser;
  std::string app = config::settings(cfg).postgres.app_user;
  std::string db = config::settings(cfg).postgres.database;
  // Only verifiers travel to the server; a password that is not plain ASCII goes as itself
  // (over the container's socket) so the server applies SASLprep.
  auto password = [&](const std::string& secret) {
    std::string value = store.ensure(secret);
    exec::register_secret(value);
    auto verifier = secrets::scram_sha256_verifier(value);
    if (verifier) exec::register_secret(*verifier);
    return util::sql_quote(verifier ? *verifier : value);
  };
  std::string sql = "SET synchronous_commit = local;\nSET password_encryption = 'scram-sha-256';\n";
  std::vector<std::string> roles = {k_compose_replication_role, "pgbouncer"};
  if (app != su) roles.push_back(app);
  for (const auto& r : roles)
    sql += fmt::format("SELECT 'CREATE ROLE {}' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {})\\gexec\n", ident(r), util::sql_quote(r));
  sql += fmt::format("ALTER ROLE {} WITH LOGIN PASSWORD {};\n", ident(su), password("postgres"));
  sql += fmt::format("ALTER ROLE {} WITH LOGIN REPLICATION PASSWORD {};\n", ident(k_compose_replication_role), password("replication"));
  sql += fmt::format("ALTER ROLE pgbouncer WITH LOGIN PASSWORD {};\nGRANT pg_monitor TO pgbouncer;\n", password("pgbouncer"));
  if (app != su) sql += fmt::format("ALTER ROLE {} WITH LOGIN PASSWORD {};\n", ident(app), password("app"));
  if (db != "postgres")
    sql += fmt::format("SELECT 'CREATE DATABASE {}' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = {})\\gexec\n", ident(db),
                       util::sql_quote(db));
  bool sync = config::settings(cfg).postgres.synchronous && expectations(cfg, req).pg_replicas > 0;
  if (config::settings(cfg).postgres.ha != "patroni")
    sql += fmt::format("ALTER SYSTEM SET synchronous_standby_names = {};\nSELECT pg_reload_conf();\n", util::sql_quote(sync ? "ANY 1 (*)" : ""));
  if (app != su) {
    sql += fmt::format("GRANT ALL ON DATABASE {} TO {};\n", ident(db), ident(app));
    sql += fmt::format("\\connect {}\nSET synchronous_commit = local;\nGRANT ALL ON SCHEMA public TO {};\n", ident(db), ident(app));
  }
  return sql;
}

void init_compose_primary(const config::Config& cfg, exec::Runner& runner, const Compose& compose, const render::Request& req,
                          std::chrono::milliseconds timeout, const std::string& service)
{
  wait_compose_healthy(runner, compose, timeout, service);
  exec::Command c = command(compose.argv({"exec", "-T", service, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U",
                                          config::settings(cfg).postgres.superuser, "-d", "postgres"}),
                            true, std::chrono::seconds(120));
  c.stdin_data = compose_primary_sql(cfg, req);
  exec::Result r = runner.run(c);
  if (!r.planned && !r.ok())
    throw Error(ExitCode::failed, "cannot set up the roles on the compose primary", tool_error(r),
                "see the primary's log with: " + exec::display(compose.argv({"logs", service})));
}

} // namespace statectl::deploy

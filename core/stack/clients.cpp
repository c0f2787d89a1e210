#include "core/stack/clients.h"

#include <fmt/format.h>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/local/probe.h"
#include "core/local/process.h"
#include "core/local/state.h"
#include "core/secrets/store.h"
#include "core/stack/endpoints.h"

namespace statectl::stack {

using namespace std::chrono;

std::pair<std::string, std::string> split_url_password(const std::string& url)
{
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {url, ""};
  auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return {url, ""};
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return {url, ""};
  std::string password = url.substr(colon + 1, at - colon - 1);
  exec::register_secret(password);
  return {url.substr(0, colon) + url.substr(at), password};
}

exec::Command psql_command(const config::Config& cfg, const PsqlTarget& target, const std::vector<std::string>& args)
{
  Endpoints e = resolve(cfg);
  exec::Command c;
  std::string psql = (std::filesystem::path(config::settings(cfg).postgres.bin_dir) / "psql").string();
  if (!exec::find_program(psql)) psql = "psql";
  c.argv = {psql};
  c.io = exec::Io::inherit;
  c.mutating = true; // psql may change anything: --dry-run shows it instead
  c.unset_env = {"PGPASSFILE", "PGSERVICE", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"};
  c.env["PGAPPNAME"] = "statectl-psql";

  PgEndpoint ep = e.pooler;
  if (target.direct) ep = e.primary;
  if (target.replica) {
    if (e.replicas.empty())
      throw Error(ExitCode::unavailable, "the stack has no PostgreSQL replica", "", "set [postgres] replicas and run 'statectl deploy'");
    ep = e.replicas.front();
    // Prefer a standby that answers.
    for (const auto& r : e.replicas)
      if (local::port_open(r.port, 300ms)) {
        ep = r;
        break;
      }
  }
  if (!ep.url.empty() && target.host.empty() && target.port == 0 && !target.replica) {
    auto [url, password] = split_url_password(ep.url);
    if (!password.empty()) c.env["PGPASSWORD"] = password;
    c.argv.push_back("--dbname=" + url);
  } else {
    std::string host = target.host.empty() ? ep.host : target.host;
    int port = target.port ? target.port : ep.port;
    c.argv.insert(c.argv.end(), {"-h", host, "-p", std::to_string(port), "-U", ep.user.empty() ? config::settings(cfg).postgres.superuser : ep.user,
                                 "-d", ep.database.empty() ? config::settings(cfg).postgres.database : ep.database});
    secrets::Store store(cfg);
    c.env["PGPASSWORD"] = store.require(ep.password_secret.empty() ? "postgres" : ep.password_secret);
    // verify-full against the stack's CA, through the environment (argv keeps the user's own).
    if (ep.tls.enabled) {
      c.env["PGSSLMODE"] = "verify-full";
      c.env["PGSSLROOTCERT"] = ep.tls.ca_file;
    }
  }
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  return c;
}

exec::Command redis_cli_command(const config::Config& cfg, bool replica, const std::vector<std::string>& args)
{
  Endpoints e = resolve(cfg);
  exec::Command c;
  c.argv = {"redis-cli"};
  c.io = exec::Io::inherit;
  c.mutating = true;
  c.unset_env = {"REDISCLI_AUTH"};
  std::string host = e.redis.host;
  int port = e.redis.port;
  std::string password;
  if (!e.redis_url.empty()) {
    // redis://[user:]password@host:port[/db]
    auto [url, pw] = split_url_password(e.redis_url);
    password = pw;
    c.argv.insert(c.argv.end(), {"-u", url});
  } else {
    secrets::Store store(cfg);
    password = store.get(e.redis_password_secret).value_or("");
    // The master is whoever the Sentinels say it is now.
    for (const auto& s : e.sentinels) {
      auto p = local::probe_sentinel(s.port, e.master_name, e.redis_tls, 500ms);
      if (p.master_port) {
        port = p.master_port;
        break;
      }
    }
    if (replica) {
      int found = 0;
      if (auto st = local::load_state(local::state_file(cfg))) {
        for (const auto* m : st->of_kind("redis")) {
          auto p = local::probe_redis(m->port, e.redis_user, password, e.redis_tls, 500ms);
          if (p.ok && p.role == "slave") {
            found = m->port;
            break;
          }
        }
      }
      if (!found) throw Error(ExitCode::unavailable, "no Redis replica answers", "", "run 'statectl status'");
      port = found;
    }
    c.argv.insert(c.argv.end(), {"-h", host, "-p", std::to_string(port)});
    // The admin user of a stack with ACL users (its name only; the password stays in the
    // environment).
    if (!e.redis_user.empty()) c.argv.insert(c.argv.end(), {"--user", e.redis_user});
  }
  // The servers speak TLS only: redis-cli verifies them against the stack's CA.
  if (e.redis_tls.enabled) c.argv.insert(c.argv.begin() + 1, {"--tls", "--cacert", e.redis_tls.ca_file});
  if (!password.empty()) c.env["REDISCLI_AUTH"] = password;
  // On a cluster any node will do: redis-cli -c follows the MOVED redirects.
  if (config::settings(cfg).redis.mode == "cluster") c.argv.push_back("-c");
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  return c;
}

} // namespace statectl::stack

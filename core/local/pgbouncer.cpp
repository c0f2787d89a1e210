// PgBouncer of the local stack: transaction pooling in front of the primary (or HAProxy).
#include <csignal>
#include <fmt/format.h>

#include "core/local/components.h"
#include "core/config/settings.h"
#include "core/local/process.h"

namespace statectl::local::pgbouncer {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

fs::path pid_path(const Member& m) { return fs::path(m.dir) / "pgbouncer.pid"; }
fs::path auth_path(const Member& m) { return fs::path(m.dir) / "userlist.txt"; }
fs::path hba_path(const Member& m) { return fs::path(m.dir) / "pgbouncer_hba.conf"; }

// A userlist.txt line: "name" "password", with " doubled.
std::string auth_line(const std::string& user, const std::string& password)
{
  auto q = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  return q(user) + " " + q(password) + "\n";
}

} // namespace

Member describe(const Site& site, int port)
{
  Member m;
  m.name = "pgbouncer";
  m.kind = "pgbouncer";
  m.role = "pooler";
  m.port = port;
  m.dir = site.member_dir(m.name).string();
  m.log = (fs::path(m.dir) / "pgbouncer.log").string();
  m.config = (fs::path(m.dir) / "pgbouncer.ini").string();
  return m;
}

void configure(Site& site, const Member& m, int target_port)
{
  const auto& cfg = site.cfg;
  std::string superuser = config::settings(cfg).postgres.superuser;
  std::string app = config::settings(cfg).postgres.app_user;
  site.make_dir(m.dir, 0700);
  bool cert_login = pg_cert_login(cfg);
  // Plain passwords in the auth file let PgBouncer answer SCRAM itself and log in to PostgreSQL
  // with SCRAM as the same user; the file is 0600 and belongs to the server user.
  std::string users = auth_line(superuser, site.secret("postgres")) + auth_line("pgbouncer", site.secret("pgbouncer"));
  if (app != superuser) users += auth_line(app, site.secret("app"));
  site.write_file(auth_path(m), users, 0600);
  // server_login_retry: after a failed server login PgBouncer waits this long before the next
  // (15 s by default); in Patroni mode every login fails until HAProxy sees the new leader, so a
  // short wait is what keeps the failover's RTO close to Patroni's ttl. (Fractional seconds.)
  std::string ini = fmt::format(
    ";; Written by statectl; statectl rewrites this file (e.g. when the primary moves).\n"
    "[databases]\n"
    "* = host=127.0.0.1 port={target}\n"
    "\n"
    "[pgbouncer]\n"
    "listen_addr = 127.0.0.1\n"
    "listen_port = {port}\n"
    "unix_socket_dir =\n"
    "auth_type = {auth_type}\n"
    "auth_file = {auth}\n"
    "pool_mode = {pool_mode}\n"
    "max_client_conn = {max_client}\n"
    "default_pool_size = {pool_size}\n"
    "admin_users = {superuser}, pgbouncer\n"
    "stats_users = pgbouncer\n"
    "ignore_startup_parameters = extra_float_digits,options\n"
    "server_check_delay = 5\n"
    "server_connect_timeout = 5\n"
    "server_login_retry = 0.25\n"
    "logfile = {log}\n"
    "pidfile = {pid}\n",
    fmt::arg("target", target_port), fmt::arg("port", m.port), fmt::arg("auth", auth_path(m).string()),
    fmt::arg("auth_type", cert_login ? "hba" : "scram-sha-256"),
    fmt::arg("pool_mode", config::settings(cfg).pgbouncer.pool_mode), fmt::arg("max_client", config::settings(cfg).pgbouncer.max_client_conn),
    fmt::arg("pool_size", config::settings(cfg).pgbouncer.default_pool_size), fmt::arg("superuser", superuser),
    fmt::arg("log", m.log), fmt::arg("pid", pid_path(m).string()));
  if (site.tls()) {
    // Clients must speak TLS 1.3; PgBouncer verifies PostgreSQL (verify-full) like every client.
    TlsFiles tls = tls_files(cfg);
    ini += fmt::format("client_tls_sslmode = require\n"
                       "client_tls_protocols = tlsv1.3\n"
                       "client_tls_cert_file = {cert}\n"
                       "client_tls_key_file = {key}\n"
                       "client_tls_ca_file = {ca}\n"
                       "server_tls_sslmode = verify-full\n"
                       "server_tls_protocols = tlsv1.3\n"
                       "server_tls_ca_file = {ca}\n",
                       fmt::arg("cert", tls.cert.string()), fmt::arg("key", tls.key.string()), fmt::arg("ca", tls.ca.string()));
  }
  if (cert_login) {
    // The application role logs in with its client certificate only (CN = role; no password,
    // no PBKDF2 on either side); every other user keeps SCRAM. PgBouncer still logs in to
    // PostgreSQL as the role with the password of the auth file. Read again on RELOAD.
    ini += fmt::format("auth_hba_file = {}\n", hba_path(m).string());
    site.write_file(hba_path(m),
                    fmt::format("# Written by statectl: {0} logs in with its client certificate, every other user with SCRAM.\n"
                                "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
                                "hostssl all       {0}   127.0.0.1/32  cert\n"
                                "hostssl all       {0}   ::1/128       cert\n"
                                "hostssl all       all   127.0.0.1/32  scram-sha-256\n"
                                "hostssl all       all   ::1/128       scram-sha-256\n",
                                app),
                    0600);
  }
  site.write_file(m.config, ini, 0600);
}

void start(Site& site, Member& m)
{
  if (!site.planning() && process_matches(m.pid, m.start_time) && m.pid > 0) return;
  // A pid file left by a killed PgBouncer makes the next one refuse to start.
  if (!site.planning()) {
    auto old = read_pidfile(pid_path(m));
    if (old && !process_start_time(*old)) fs::remove(pid_path(m));
  }
  auto c = site.server_command({site.binary("pgbouncer", "pgbouncer"), "-d", "-q", m.config});
  c.timeout = 30s;
  site.run(c, m.name, "starting pgbouncer", "see " + m.log);
  await_daemon(site, m, pid_path(m), 15s);
}

void stop(Site& site, Member& m, StopMode mode, milliseconds timeout)
{
  // SIGTERM is PgBouncer's immediate shutdown; SIGINT would wait for every client to leave.
  stop_by_signal(site, m, SIGTERM, mode, timeout);
  if (!site.planning()) fs::remove(pid_path(m));
}

} // namespace statectl::local::pgbouncer

// The bare PostgreSQL members of the local stack: initdb/pg_basebackup, config, pg_ctl.
#include <fmt/format.h>
#include <thread>

#include "core/backup/delta.h"
#include "core/error.h"
#include "core/config/settings.h"
#include "core/local/archive.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/secrets/crypto.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::local::postgres {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

// A postgresql.conf string literal.
// A libpq conninfo value.
std::string conninfo_quote(const std::string& s)
{
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// A SQL identifier and a SQL string literal.
std::string ident(const std::string& s)
{
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string literal(const std::string& s) { return util::sql_quote(s); }

// pgaudit's session logging: DDL and role/privilege changes, no catalog noise and no statement
// parameters (they can be application data). Needs a restart to take effect on a running server.
std::string audit_settings()
{
  return "# [postgres] audit: pgaudit session logging.\n"
         "shared_preload_libraries = 'pgaudit'\n"
         "pgaudit.log = 'ddl, role'\n"
         "pgaudit.log_catalog = off\n"
         "pgaudit.log_parameter = off\n"
         "pgaudit.log_relation = on\n"
         "pgaudit.log_statement_once = on\n";
}

fs::path pgpass_path(const Member& m) { return fs::path(m.dir) / "pgpass"; }

std::string superuser(const Site& site) { return config::settings(site.cfg).postgres.superuser; }

} // namespace

Member describe(const Site& site, int index, int port, const std::string& role)
{
  Member m;
  m.name = fmt::format("postgres-{}", index);
  m.kind = "postgres";
  m.role = role;
  m.port = port;
  m.dir = site.member_dir(m.name).string();
  m.data_dir = (fs::path(m.dir) / "data").string();
  m.log = (fs::path(m.dir) / "postgres.log").string();
  m.config = (fs::path(m.data_dir) / "statectl.conf").string();
  return m;
}

std::string slot_name(const std::string& member_name)
{
  std::string out;
  for (char c : member_name) out += (std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_');
  return out;
}

void write_conf(Site& site, const Member& m, int primary_port, const std::vector<std::string>& sync_standbys, bool with_restore_command)
{
  const auto& cfg = site.cfg;
  bool standby = m.role == "replica";
  std::string text = fmt::format(
    "# Written by statectl for {name} ({role}); statectl rewrites this file.\n"
    "listen_addresses = '127.0.0.1'\n"
    "port = {port}\n"
    "unix_socket_directories = ''\n"
    "max_connections = {maxconn}\n"
    "shared_buffers = '{sb}kB'\n"
    "password_encryption = 'scram-sha-256'\n"
    "wal_level = replica\n"
    "wal_log_hints = on\n"
    "max_wal_senders = 10\n"
    "max_replication_slots = 10\n"
    "hot_standby = on\n"
    "hot_standby_feedback = on\n"
    "# A standby retries a lost primary (and acts on a promotion) after this wait; 5 s by default.\n"
    "wal_retrieve_retry_interval = '500ms'\n"
    "archive_mode = on\n"
    "archive_command = {archive}\n",
    fmt::arg("name", m.name), fmt::arg("role", m.role), fmt::arg("port", m.port),
    fmt::arg("maxconn", config::settings(cfg).postgres.max_connections), fmt::arg("sb", config::settings(cfg).postgres.shared_buffers / 1024),
    fmt::arg("archive", util::sql_quote(archive_command(cfg))));
  if (with_restore_command) text += fmt::format("restore_command = {}\n", util::sql_quote(restore_command(cfg)));
  if (config::settings(cfg).postgres.audit) text += audit_settings();
  TlsFiles tls = tls_files(cfg);
  if (site.tls())
    text += fmt::format("# TLS only (pg_hba.conf rejects plain TCP); certificates from statectl's CA.\n"
                        "ssl = on\nssl_cert_file = {}\nssl_key_file = {}\nssl_ca_file = {}\nssl_min_protocol_version = 'TLSv1.3'\n",
                        util::sql_quote(tls.cert.string()), util::sql_quote(tls.key.string()), util::sql_quote(tls.ca.string()));
  if (standby) {
    // Replication verifies the primary like every client: verify-full against the stack's CA.
    std::string ssl = site.tls() ? fmt::format("sslmode=verify-full sslrootcert={}", conninfo_quote(tls.ca.string())) : "sslmode=disable";
    std::string conninfo = fmt::format("host=127.0.0.1 port={} user=replication passfile={} application_name={} {}",
                                       primary_port, conninfo_quote(pgpass_path(m).string()), m.name, ssl);
    text += fmt::format("primary_conninfo = {}\nprimary_slot_name = {}\nsynchronous_standby_names = ''\n", util::sql_quote(conninfo),
                        util::sql_quote(slot_name(m.name)));
  } else {
    std::string names;
    if (!sync_standbys.empty()) {
      std::vector<std::string> quoted;
      for (const auto& n : sync_standbys) quoted.push_back("\"" + n + "\"");
      names = fmt::format("ANY 1 ({})", util::join(quoted, ", "));
    }
    text += fmt::format("synchronous_standby_names = {}\n", util::sql_quote(names));
  }
  site.write_file(m.config, text, 0600);
}

static void write_hba(Site& site, const Member& m)
{
  // With TLS every TCP login must be hostssl; a plain-text one is rejected outright.
  std::string host = site.tls() ? "hostssl" : "host   ";
  std::string text = fmt::format(
    "# Written by statectl: password (SCRAM) logins over loopback TCP only{0}.\n"
    "# TYPE  DATABASE     USER         ADDRESS       METHOD\n"
    "{1} all          all          127.0.0.1/32  scram-sha-256\n"
    "{1} all          all          ::1/128       scram-sha-256\n"
    "{1} replication  replication  127.0.0.1/32  scram-sha-256\n"
    "{1} replication  replication  ::1/128       scram-sha-256\n",
    site.tls() ? ", TLS only" : "", host);
  // The superuser streams base backups (`statectl backup create` runs pg_basebackup as it).
  text += fmt::format("{1} replication  {0}  127.0.0.1/32  scram-sha-256\n", config::settings(site.cfg).postgres.superuser, host);
  if (site.tls())
    text += "host    all          all          0.0.0.0/0     reject\n"
            "host    all          all          ::/0          reject\n"
            "host    replication  all          0.0.0.0/0     reject\n"
            "host    replication  all          ::/0          reject\n";
  site.write_file(fs::path(m.data_dir) / "pg_hba.conf", text, 0600);
}

static void include_statectl_conf(Site& site, const Member& m)
{
  fs::path conf = fs::path(m.data_dir) / "postgresql.conf";
  if (site.planning()) {
    site.note("append include 'statectl.conf' to " + conf.string());
    return;
  }
  auto text = util::read_file(conf);
  if (!text) throw Error(ExitCode::failed, fmt::format("{}: cannot read postgresql.conf", m.name), text.error());
  if (text->find("include_if_exists = 'statectl.conf'") == std::string::npos)
    site.write_file(conf, *text + "\n# statectl's settings (port, replication, archiving) come last and win.\ninclude_if_exists = 'statectl.conf'\n", 0600);
}

void run_sql(Site& site, int port, const std::string& sql, const std::string& what)
{
  exec::Command c;
  c.argv = {site.pg_binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", std::to_string(port),
            "-U", superuser(site), "-d", "postgres"};
  c.env = site.pg_tls_env();
  c.env.insert({{"PGPASSWORD", site.secret("postgres")}, {"PGCONNECT_TIMEOUT", "10"}, {"PGAPPNAME", "statectl"}});
  c.unset_env = {"PGPASSFILE", "PGSERVICE", "PGHOST", "PGOPTIONS"};
  c.stdin_data = sql;
  c.mutating = true;
  c.timeout = 60s;
  site.run(c, fmt::format("postgres on port {}", port), what);
}

std::string roles_sql(Site& site)
{
  const auto& cfg = site.cfg;
  std::string app = config::settings(cfg).postgres.app_user;
  std::string db = config::settings(cfg).postgres.database;
  std::string sql = "SET password_encryption = 'scram-sha-256';\n";
  std::vector<std::string> roles = {"replication", "pgbouncer"};
  if (app != superuser(site)) roles.push_back(app);
  for (const auto& r : roles)
    sql += fmt::format("SELECT 'CREATE ROLE {}' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {})\\gexec\n",
                       ident(r), literal(r));
  // Only SCRAM verifiers travel to the server, never a password a statement log could keep.
  auto password = [&](const std::string& secret) {
    auto verifier = secrets::scram_sha256_verifier(site.secret(secret));
    return literal(verifier ? *verifier : site.secret(secret)); // non-ASCII: the server hashes it (SASLprep)
  };
  sql += fmt::format("ALTER ROLE {} WITH LOGIN PASSWORD {};\n", ident(superuser(site)), password("postgres"));
  sql += fmt::format("ALTER ROLE replication WITH LOGIN REPLICATION PASSWORD {};\n", password("replication"));
  sql += fmt::format("ALTER ROLE pgbouncer WITH LOGIN PASSWORD {};\nGRANT pg_monitor TO pgbouncer;\n", password("pgbouncer"));
  if (app != superuser(site)) sql += fmt::format("ALTER ROLE {} WITH LOGIN PASSWORD {};\n", ident(app), password("app"));
  if (config::settings(cfg).postgres.audit) sql += "CREATE EXTENSION IF NOT EXISTS pgaudit;\n";
  if (db != "postgres")
    sql += fmt::format("SELECT 'CREATE DATABASE {}' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = {})\\gexec\n", ident(db), literal(db));
  if (app != superuser(site)) {
    sql += fmt::format("GRANT ALL ON DATABASE {} TO {};\n", ident(db), ident(app));
    sql += fmt::format("\\connect {}\nGRANT ALL ON SCHEMA public TO {};\n", ident(db), ident(app));
  }
  return sql;
}

void create_primary(Site& site, Member& m, const std::vector<std::string>& sync_standbys)
{
  site.make_dir(m.dir, 0700);
  // The superuser password reaches initdb through a 0600 file that is deleted right after.
  // --no-sync: a new cluster needs no fsync of every file (4 s on a busy disk); PostgreSQL syncs
  // the data directory in crash recovery, and a member whose creation did not finish is redone.
  fs::path pwfile = fs::path(m.dir) / ".initdb-pw";
  site.write_file(pwfile, site.secret("postgres") + "\n", 0600);
  auto c = site.server_command({site.pg_binary("initdb"), "-D", m.data_dir, "-U", superuser(site), "--pwfile", pwfile.string(),
                                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                                "--data-checksums", "--no-instructions", "--no-sync"});
  c.timeout = 180s;
  try {
    site.run(c, m.name, "initdb", fmt::format("check that {} is empty and the disk has room", m.data_dir));
  } catch (...) {
    if (!site.planning()) fs::remove(pwfile);
    throw;
  }
  if (!site.planning()) fs::remove(pwfile);
  else site.note("rm " + pwfile.string());
  write_hba(site, m);
  include_statectl_conf(site, m);
  write_conf(site, m, 0, sync_standbys);
  start(site, m);
  run_sql(site, m.port, roles_sql(site), "creating roles");
  m.initialized = true;
}

void ensure_slot(Site& site, const Member& primary, const std::string& slot)
{
  run_sql(site, primary.port,
          fmt::format("SELECT pg_create_physical_replication_slot({0}) WHERE NOT EXISTS "
                      "(SELECT 1 FROM pg_replication_slots WHERE slot_name = {0});\n",
                      literal(slot)),
          "creating replication slot " + slot);
}

void create_standby(Site& site, Member& m, const Member& primary)
{
  ensure_slot(site, primary, slot_name(m.name));
  // pg_basebackup --no-sync: the standby fsyncs its whole data directory when it starts from the
  // backup anyway (backup_label), so a second sync here only doubled the time.
  site.make_dir(m.dir, 0700);
  site.write_file(pgpass_path(m), fmt::format("*:*:*:replication:{}\n", site.secret("replication")), 0600);
  if (!site.planning() && fs::exists(m.data_dir)) site.remove_tree(m.data_dir); // a half-made copy
  auto c = site.server_command({site.pg_binary("pg_basebackup"), "-h", "127.0.0.1", "-p", std::to_string(primary.port), "-U",
                                "replication", "-D", m.data_dir, "-X", "stream", "-c", "fast", "-S", slot_name(m.name), "-w", "--no-sync"});
  c.env = site.pg_tls_env();
  c.env.insert({{"PGPASSFILE", pgpass_path(m).string()}, {"PGAPPNAME", m.name}});
  c.timeout = 600s;
  site.run(c, m.name, fmt::format("pg_basebackup from {}", primary.name),
           fmt::format("check that {} is running and its log {}", primary.name, primary.log));
  write_conf(site, m, primary.port, {});
  site.write_file(fs::path(m.data_dir) / "standby.signal", "", 0600);
  start(site, m);
  m.initialized = true;
}

void rewind_standby(Site& site, Member& m, const Member& primary)
{
  ensure_slot(site, primary, slot_name(m.name));
  // pg_rewind first runs crash recovery in single-user mode, which refuses to start while the
  // killed postmaster's pid still answers (a zombie not reaped yet) or its orphaned backends
  // still hold the old shared memory.
  if (!site.planning()) {
    if (auto stale = read_pidfile(fs::path(m.data_dir) / "postmaster.pid")) wait_reaped(*stale, 10s);
    wait_no_process_in(m.data_dir, 10s);
  }
  // pg_rewind reads the source's timeline from its control file, which a just-promoted server
  // updates only at its next checkpoint: without one it finds "no rewind required" and the
  // former primary then refuses to follow the new timeline.
  run_sql(site, primary.port, "CHECKPOINT;\n", "checkpoint on the new primary before pg_rewind");
  // WAL the former primary already recycled comes back from the archive (--restore-target-wal
  // reads the target's restore_command); the standby config written afterwards has none.
  write_conf(site, m, primary.port, {}, true);
  // The source connection is the superuser's (pg_rewind reads files through SQL functions); its
  // password travels in the child's environment only.
  auto c = site.server_command({site.pg_binary("pg_rewind"), "--target-pgdata", m.data_dir, "--source-server",
                                fmt::format("host=127.0.0.1 port={} user={} dbname=postgres", primary.port, superuser(site)),
                                "--restore-target-wal", "--no-sync"});
  c.env = site.pg_tls_env();
  c.env.insert({{"PGPASSWORD", site.secret("postgres")}, {"PGCONNECT_TIMEOUT", "10"}, {"PGAPPNAME", m.name}});
  c.unset_env = {"PGPASSFILE", "PGSERVICE", "PGOPTIONS"};
  c.timeout = 600s;
  site.run(c, m.name, fmt::format("pg_rewind from {}", primary.name),
           fmt::format("check that {} is running and its log {}", primary.name, primary.log));
  // pg_rewind copied the source's configuration files, statectl.conf included: make them this
  // member's again, as a standby of primary.
  site.write_file(pgpass_path(m), fmt::format("*:*:*:replication:{}\n", site.secret("replication")), 0600);
  write_hba(site, m);
  write_conf(site, m, primary.port, {});
  site.write_file(fs::path(m.data_dir) / "standby.signal", "", 0600);
  start(site, m);
  m.initialized = true;
}

static std::optional<int> running_postmaster(const Member& m)
{
  auto pid = read_pidfile(fs::path(m.data_dir) / "postmaster.pid");
  if (pid && process_start_time(*pid)) return pid;
  return std::nullopt;
}

void start(Site& site, Member& m)
{
  if (!site.planning()) {
    if (auto pid = running_postmaster(m)) {
      m.pid = *pid;
      m.start_time = process_start_time(*pid).value_or(0);
      return;
    }
  }
  if (!site.planning()) {
    if (auto stale = read_pidfile(fs::path(m.data_dir) / "postmaster.pid")) wait_reaped(*stale, 10s);
    // A restore (--delta) that was interrupted left the directory half old, half restored.
    if (backup::restore_incomplete(m.data_dir))
      throw Error(ExitCode::failed, fmt::format("{}: cannot start PostgreSQL on {}", m.name, m.data_dir),
                  fmt::format("it holds an unfinished restore ({} is there)", backup::k_restore_marker),
                  fmt::format("finish it with `statectl restore --delta --to {}` and the options of the interrupted one", m.data_dir));
  }
  auto c = site.server_command({site.pg_binary("pg_ctl"), "-D", m.data_dir, "-l", m.log, "-w", "-t", "60", "-s", "start"});
  c.timeout = 90s;
  // pg_ctl leaves the postmaster running with our pipes closed; its output is the log file.
  try {
    for (int attempt = 1;; ++attempt) {
      auto r = site.runner.run(c);
      if (r.ok() || r.planned) break;
      // After a kill -9 the old backends can hold the shared memory for a moment.
      std::string tail = log_tail(m.log, 3);
      if (attempt < 5 && (tail.find("pre-existing shared memory block") != std::string::npos ||
                          tail.find("lock file \"postmaster.pid\" already exists") != std::string::npos)) {
        std::this_thread::sleep_for(1s);
        continue;
      }
      site.check(r, c, m.name, "pg_ctl start");
    }
  } catch (Error& e) {
    throw Error(e.code(), e.what_failed(), fmt::format("{}\nlast lines of {}:\n{}", e.why(), m.log, log_tail(m.log)),
                fmt::format("see {}", m.log));
  }
  if (site.planning()) return;
  auto pid = running_postmaster(m);
  if (!pid) throw Error(ExitCode::external, fmt::format("{}: PostgreSQL exited right after starting", m.name), log_tail(m.log), "see " + m.log);
  m.pid = *pid;
  m.start_time = process_start_time(*pid).value_or(0);
}

void stop(Site& site, Member& m, StopMode mode, milliseconds timeout)
{
  if (!site.planning() && !running_postmaster(m)) {
    m.pid = 0;
    m.start_time = 0;
    return;
  }
  auto seconds = std::max<long>(1, duration_cast<std::chrono::seconds>(timeout).count());
  auto c = site.server_command({site.pg_binary("pg_ctl"), "-D", m.data_dir, "-m", mode == StopMode::fast ? "fast" : "immediate",
                                "-w", "-t", std::to_string(seconds), "-s", "stop"});
  c.timeout = timeout + 10s;
  auto r = site.runner.run(c);
  if (!r.ok() && !r.planned && mode == StopMode::fast) {
    site.printer.warn(fmt::format("{} did not stop within {}s; stopping it with -m immediate", m.name, seconds));
    c.argv[4] = "immediate";
    site.runner.run(c);
  }
  if (!site.planning()) {
    // The postmaster is gone once pg_ctl returns, but a killed one may leave a stale pid.
    wait_for([&] { return !running_postmaster(m); }, 10s, 50ms);
  }
  m.pid = 0;
  m.start_time = 0;
}

void promote(Site& site, Member& m)
{
  auto c = site.server_command({site.pg_binary("pg_ctl"), "-D", m.data_dir, "-w", "-t", "60", "-s", "promote"});
  c.timeout = 90s;
  site.run(c, m.name, "pg_ctl promote");
  m.role = "primary";
}

void reload(Site& site, const Member& m)
{
  auto c = site.server_command({site.pg_binary("pg_ctl"), "-D", m.data_dir, "-s", "reload"});
  c.timeout = 30s;
  site.run(c, m.name, "pg_ctl reload");
}

} // namespace statectl::local::postgres

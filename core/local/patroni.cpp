// The HA mode of the local stack: one etcd, Patroni members and HAProxy routing to the leader.
#include <csignal>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/config/settings.h"
#include "core/local/archive.h"
#include "core/local/components.h"
#include "core/local/process.h"

namespace statectl::local::patroni {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {


std::string addr(int port) { return fmt::format("127.0.0.1:{}", port); }

} // namespace

Member describe_etcd(const Site& site, int port)
{
  Member m;
  m.name = "etcd";
  m.kind = "etcd";
  m.role = "dcs";
  m.port = port;
  m.dir = site.member_dir(m.name).string();
  m.data_dir = (fs::path(m.dir) / "data").string();
  m.log = (fs::path(m.dir) / "etcd.log").string();
  return m;
}

Member describe_member(const Site& site, int index, int pg_port, int rest_port)
{
  Member m;
  m.name = fmt::format("patroni-{}", index);
  m.kind = "patroni";
  m.role = "replica";
  m.port = pg_port;
  m.rest_port = rest_port;
  m.dir = site.member_dir(m.name).string();
  m.data_dir = (fs::path(m.dir) / "data").string();
  m.log = (fs::path(m.dir) / "patroni.log").string();
  m.config = (fs::path(m.dir) / "patroni.yml").string();
  return m;
}

Member describe_haproxy(const Site& site, int port)
{
  Member m;
  m.name = "haproxy";
  m.kind = "haproxy";
  m.role = "proxy";
  m.port = port;
  m.dir = site.member_dir(m.name).string();
  m.log = (fs::path(m.dir) / "haproxy.log").string();
  m.config = (fs::path(m.dir) / "haproxy.cfg").string();
  return m;
}

std::string rest_ca(const config::Config& cfg, const StackState& state)
{
  return state.patroni_tls ? tls_files(cfg).ca.string() : std::string();
}

void configure_etcd(Site& site, const Member& m) { site.make_dir(m.dir, 0700); }

void configure_member(Site& site, const Member& m, int etcd_port, bool rest_tls)
{
  const auto& cfg = site.cfg;
  site.make_dir(m.dir, 0700);
  std::string su = config::settings(cfg).postgres.superuser;
  // With TLS every TCP login must be hostssl; plain-text ones are rejected outright.
  std::string host = site.tls() ? "hostssl" : "host";
  nlohmann::json hba = {host + " all all 127.0.0.1/32 scram-sha-256", host + " all all ::1/128 scram-sha-256",
                        host + " replication replication 127.0.0.1/32 scram-sha-256",
                        host + " replication replication ::1/128 scram-sha-256",
                        // the superuser streams base backups (`statectl backup create`)
                        host + " replication " + su + " 127.0.0.1/32 scram-sha-256"};
  if (site.tls())
    for (const char* line : {"host all all 0.0.0.0/0 reject", "host all all ::/0 reject", "host replication all 0.0.0.0/0 reject",
                             "host replication all ::/0 reject"})
      hba.push_back(line);
  nlohmann::json local_params = {{"unix_socket_directories", ""}};
  if (config::settings(cfg).postgres.audit)
    local_params.update({{"shared_preload_libraries", "pgaudit"}, {"pgaudit.log", "ddl, role"}, {"pgaudit.log_catalog", "off"},
                         {"pgaudit.log_parameter", "off"}, {"pgaudit.log_relation", "on"}, {"pgaudit.log_statement_once", "on"}});
  // Patroni's own connections (replication, pg_rewind, its superuser) verify like every client.
  nlohmann::json ssl = nlohmann::json::object();
  if (site.tls()) {
    TlsFiles tls = tls_files(cfg);
    local_params.update({{"ssl", "on"}, {"ssl_cert_file", tls.cert.string()}, {"ssl_key_file", tls.key.string()},
                         {"ssl_ca_file", tls.ca.string()}, {"ssl_min_protocol_version", "TLSv1.3"}});
    ssl = {{"sslmode", "verify-full"}, {"sslrootcert", tls.ca.string()}};
  }
  auto login = [&](const std::string& user, const std::string& password) {
    nlohmann::json j = {{"username", user}, {"password", password}};
    j.update(ssl);
    return j;
  };
  nlohmann::json dcs_params = {
    {"max_connections", config::settings(cfg).postgres.max_connections},
    {"shared_buffers", fmt::format("{}kB", config::settings(cfg).postgres.shared_buffers / 1024)},
    {"password_encryption", "scram-sha-256"},
    {"wal_level", "replica"},
    {"wal_log_hints", "on"},
    {"hot_standby", "on"},
    {"max_wal_senders", 10},
    {"max_replication_slots", 10},
    {"archive_mode", "on"},
    {"archive_command", archive_command(cfg)},
  };
  nlohmann::json doc = {
    {"scope", config::settings(cfg).project.name},
    {"namespace", "/statectl/"},
    {"name", m.name},
    {"log", {{"level", "INFO"}}},
    {"restapi", {{"listen", addr(m.rest_port)}, {"connect_address", addr(m.rest_port)}}},
    {"etcd3", {{"hosts", nlohmann::json::array({addr(etcd_port)})}}},
    {"bootstrap",
     {{"dcs",
       {{"ttl", config::settings(cfg).postgres.ttl},
        {"loop_wait", config::settings(cfg).postgres.loop_wait},
        {"retry_timeout", config::settings(cfg).postgres.retry_timeout},
        {"maximum_lag_on_failover", 1048576},
        {"synchronous_mode", config::settings(cfg).postgres.synchronous},
        {"postgresql", {{"use_pg_rewind", true}, {"use_slots", true}, {"parameters", dcs_params}}}}},
      {"initdb", nlohmann::json::array({{{"encoding", "UTF8"}}, {{"locale", "C.UTF-8"}}, "data-checksums",
                                        {{"auth-host", "scram-sha-256"}}, {{"auth-local", "scram-sha-256"}}})},
      {"pg_hba", hba}}},
    {"postgresql",
     {{"listen", addr(m.port)},
      {"connect_address", addr(m.port)},
      {"data_dir", m.data_dir},
      {"bin_dir", config::settings(cfg).postgres.bin_dir},
      {"pgpass", (fs::path(m.dir) / "pgpass").string()},
      {"authentication",
       {{"superuser", login(su, site.secret("postgres"))},
        {"replication", login("replication", site.secret("replication"))},
        {"rewind", login(su, site.secret("postgres"))}}},
      {"parameters", local_params},
      {"pg_hba", hba}}},
    {"tags", {{"nofailover", false}, {"noloadbalance", false}, {"clonefrom", false}, {"nosync", false}}},
  };
  // The REST API serves TLS only (the members verify each other against restapi.cafile), and the
  // etcd3 client verifies etcd against the CA.
  if (rest_tls) {
    TlsFiles tls = tls_files(cfg);
    doc["restapi"].update({{"certfile", tls.cert.string()}, {"keyfile", tls.key.string()}, {"cafile", tls.ca.string()}});
    doc["etcd3"].update({{"protocol", "https"}, {"cacert", tls.ca.string()}});
  }
  // JSON is YAML: Patroni reads this file with its YAML loader.
  site.write_file(m.config, "# Written by statectl for " + m.name + ".\n" + doc.dump(2) + "\n", 0600);
}

void configure_haproxy(Site& site, const Member& m, const std::vector<const Member*>& members, bool rest_tls)
{
  site.make_dir(m.dir, 0700);
  // The health checks speak TLS to the REST API and verify it against the stack's CA (the
  // PostgreSQL traffic itself is TLS end to end, passed through in tcp mode).
  std::string check_tls = rest_tls ? fmt::format(" check-ssl verify required ca-file {}", tls_files(site.cfg).ca.string()) : "";
  std::string servers;
  for (const Member* p : members)
    servers += fmt::format("    server {} 127.0.0.1:{} maxconn 1000 check port {}{}\n", p->name, p->port, p->rest_port, check_tls);
  // downinter/fastinter: a server that is DOWN on the read-write port (the replica Patroni is
  // about to promote) or changing state is checked every 250 ms, so the port follows a new
  // leader within a quarter second of Patroni's /primary answering 200.
  auto section = [&](const std::string& name, int port, const std::string& check) {
    return fmt::format("listen {}\n"
                       "    bind 127.0.0.1:{}\n"
                       "    option httpchk GET {}\n"
                       "    http-check expect status 200\n"
                       "    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions\n"
                       "{}\n",
                       name, port, check, servers);
  };
  std::string text = "# Written by statectl: read-write port to the Patroni leader, read-only port (+1) to replicas.\n"
                     "global\n"
                     "    maxconn 1000\n"
                     "\n"
                     "defaults\n"
                     "    mode tcp\n"
                     "    retries 2\n"
                     "    timeout connect 4s\n"
                     "    timeout client 30m\n"
                     "    timeout server 30m\n"
                     "    timeout check 2s\n"
                     "\n" +
                     section("postgres_rw", m.port, "/primary") + section("postgres_ro", m.port + 1, "/replica");
  site.write_file(m.config, text, 0600);
}

void start(Site& site, Member& m, bool rest_tls)
{
  if (!site.planning() && m.pid > 0 && process_matches(m.pid, m.start_time)) return;
  if (m.kind == "etcd") {
    std::string scheme = rest_tls ? "https://" : "http://";
    std::string client = scheme + addr(m.port), peer = scheme + addr(m.port + 1);
    std::vector<std::string> args = {"--name", "statectl", "--data-dir", m.data_dir, "--listen-client-urls", client, "--advertise-client-urls", client,
                                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "statectl=" + peer,
                                     "--initial-cluster-state", "new", "--initial-cluster-token", "statectl"};
    if (rest_tls) {
      // Client and peer traffic over TLS with the stack's certificate (it names 127.0.0.1). etcd
      // 3.4 has no minimum-version flag: it negotiates TLS 1.3 with every client here. No client
      // --trusted-ca-file: with one, etcd 3.4 demands a client certificate of every client (its
      // clients verify it; the peers present theirs).
      TlsFiles tls = tls_files(site.cfg);
      args.insert(args.end(), {"--cert-file", tls.cert.string(), "--key-file", tls.key.string(), "--peer-cert-file", tls.cert.string(), "--peer-key-file", tls.key.string(), "--peer-trusted-ca-file",
                               tls.ca.string()});
    }
    start_background(site, m, site.binary("etcd", "etcd-server"), args);
    await_daemon(site, m, background_pid_path(m), 30s);
  } else if (m.kind == "patroni") {
    start_background(site, m, site.binary("patroni", "patroni"), {m.config});
    await_daemon(site, m, background_pid_path(m), 30s, m.rest_port);
  } else if (m.kind == "haproxy") {
    auto c = site.server_command({site.binary("haproxy", "haproxy"), "-D", "-p", background_pid_path(m).string(), "-f", m.config});
    c.timeout = 30s;
    site.run(c, m.name, "starting haproxy", "check " + m.config);
    await_daemon(site, m, background_pid_path(m), 15s);
  }
}

void stop(Site& site, Member& m, StopMode mode, milliseconds timeout)
{
  stop_by_signal(site, m, SIGTERM, mode, timeout);
  if (m.kind == "patroni" && !site.planning()) {
    // Patroni stops its PostgreSQL on SIGTERM; after a SIGKILL the postmaster is left running.
    auto pm = read_pidfile(fs::path(m.data_dir) / "postmaster.pid");
    if (pm && process_start_time(*pm)) {
      auto c = site.server_command({site.pg_binary("pg_ctl"), "-D", m.data_dir, "-m", "immediate", "-w", "-s", "stop"});
      c.timeout = 60s;
      site.runner.run(c);
    }
  }
  if (!site.planning()) fs::remove(background_pid_path(m));
}

const Member* leader(const std::vector<const Member*>& members, const std::string& ca)
{
  for (const Member* m : members) {
    if (m->pid <= 0 || !process_matches(m->pid, m->start_time)) continue;
    auto r = http_request(m->rest_port, "GET", "/primary", 1000ms, ca);
    if (r && r->status == 200) return m;
  }
  return nullptr;
}

bool failover_ready(const std::vector<const Member*>& members, bool synchronous, const std::string& ca)
{
  for (const Member* m : members) {
    if (m->pid <= 0 || !process_matches(m->pid, m->start_time)) continue;
    auto r = http_request(m->rest_port, "GET", "/cluster", 1000ms, ca);
    if (!r || r->status != 200) continue;
    auto cluster = nlohmann::json::parse(r->body, nullptr, false);
    if (!cluster.is_object()) continue;
    bool leads = false, standby = false;
    for (const auto& c : cluster.value("members", nlohmann::json::array())) {
      if (!c.is_object()) continue;
      std::string role = c.value("role", ""), state = c.value("state", "");
      bool runs = state == "running" || state == "streaming";
      if (role == "leader" && state == "running") leads = true;
      else if (runs && (!synchronous || role == "sync_standby")) standby = true;
    }
    return leads && standby;
  }
  return false;
}

} // namespace statectl::local::patroni

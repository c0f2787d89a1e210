#include "core/local/monitoring.h"

#include <csignal>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/local/process.h"
#include "core/local/redis_acl.h"
#include "core/monitoring/monitoring.h"

namespace statectl::local::monitoring {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

// redis_exporter's scheme for the stack's servers: rediss:// when they speak TLS only.
std::string redis_scheme(const Site& site) { return site.tls() ? "rediss" : "redis"; }

Member make(const Site& site, const std::string& name, const std::string& kind, int port)
{
  Member m;
  m.name = name;
  m.kind = kind;
  m.role = kind == "prometheus" ? "monitor" : "exporter";
  m.port = port;
  m.dir = site.member_dir(name).string();
  m.log = (fs::path(m.dir) / (kind + ".log")).string();
  if (kind == "prometheus") {
    m.data_dir = (fs::path(m.dir) / "data").string();
    m.config = (fs::path(m.dir) / "prometheus.yml").string();
  } else if (kind == "postgres_exporter") {
    m.config = (fs::path(m.dir) / "queries.yml").string();
  } else {
    m.config = (fs::path(m.dir) / "passwords.json").string();
  }
  return m;
}

// The PostgreSQL port a postgres_exporter watches: the member with its index.
int watched_pg_port(const Site& site, const Member& m)
{
  auto dash = m.name.rfind('-');
  return static_cast<int>(config::settings(site.cfg).local.postgres_port) + std::atoi(m.name.c_str() + dash + 1);
}

std::string quoted_list(const std::vector<std::string>& items)
{
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + fmt::format("\"{}\"", i);
  return "[" + out + "]";
}

std::string prometheus_yml(const Site& site, const StackState& state)
{
  const auto& cfg = site.cfg;
  std::string interval = config::settings(cfg).monitoring.scrape_interval_text;
  std::vector<std::string> pg, redis, sentinels, patroni;
  for (const auto& m : state.members) {
    if (m.kind == "postgres_exporter") pg.push_back(fmt::format("127.0.0.1:{}", m.port));
    if (m.kind == "redis") redis.push_back(fmt::format("{}://127.0.0.1:{}", redis_scheme(site), m.port));
    if (m.kind == "sentinel") sentinels.push_back(fmt::format("{}://127.0.0.1:{}", redis_scheme(site), m.port));
    if (m.kind == "patroni") patroni.push_back(fmt::format("127.0.0.1:{}", m.rest_port));
  }
  int exporter = static_cast<int>(config::settings(cfg).local.redis_exporter_port);
  auto multi_target = [&](const std::string& job, const std::vector<std::string>& targets) {
    return fmt::format("  - job_name: {}\n"
                       "    metrics_path: /scrape\n"
                       "    static_configs:\n"
                       "      - targets: {}\n"
                       "    relabel_configs:\n"
                       "      - source_labels: [__address__]\n"
                       "        target_label: __param_target\n"
                       "      - source_labels: [__param_target]\n"
                       "        target_label: instance\n"
                       "      - target_label: __address__\n"
                       "        replacement: 127.0.0.1:{}\n",
                       job, quoted_list(targets), exporter);
  };
  std::string out = fmt::format("# Written by statectl for the local stack: scrapes its exporters and evaluates the alert rules.\n"
                                "global:\n  scrape_interval: {0}\n  evaluation_interval: {0}\n"
                                "rule_files:\n  - alerts.yml\n"
                                "scrape_configs:\n"
                                "  - job_name: postgres\n    static_configs:\n      - targets: {1}\n",
                                interval, quoted_list(pg));
  if (!redis.empty()) out += multi_target("redis", redis);
  if (!sentinels.empty()) out += multi_target("sentinel", sentinels);
  if (!patroni.empty()) {
    out += "  - job_name: patroni\n";
    // Patroni's REST API speaks TLS: verified against the stack's CA like statectl's own calls.
    if (state.patroni_tls) out += fmt::format("    scheme: https\n    tls_config:\n      ca_file: {}\n", tls_files(cfg).ca.string());
    out += fmt::format("    static_configs:\n      - targets: {}\n", quoted_list(patroni));
  }
  out += fmt::format("  - job_name: prometheus\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
                     config::settings(cfg).local.prometheus_port);
  return out;
}

void launch(Site& site, Member& m, const std::string& program, const std::vector<std::string>& args,
            const std::map<std::string, std::string>& env)
{
  start_background(site, m, program, args, env); // secrets reach the exporter through its environment, never its argv
  await_daemon(site, m, background_pid_path(m), 30s);
}

} // namespace

bool is_monitoring_kind(const std::string& kind)
{
  return kind == "postgres_exporter" || kind == "redis_exporter" || kind == "prometheus";
}

std::vector<Member> describe(const Site& site, const std::vector<int>& pg_ports)
{
  std::vector<Member> out;
  int base = static_cast<int>(config::settings(site.cfg).local.postgres_exporter_port);
  int pg_base = static_cast<int>(config::settings(site.cfg).local.postgres_port);
  for (int port : pg_ports) out.push_back(make(site, fmt::format("pg-exporter-{}", port - pg_base), "postgres_exporter", base + port - pg_base));
  out.push_back(make(site, "redis-exporter", "redis_exporter", static_cast<int>(config::settings(site.cfg).local.redis_exporter_port)));
  out.push_back(make(site, "prometheus", "prometheus", static_cast<int>(config::settings(site.cfg).local.prometheus_port)));
  return out;
}

void configure(Site& site, const Member& m, const StackState& state)
{
  site.make_dir(m.dir, 0700);
  if (m.kind == "postgres_exporter") {
    site.write_file(m.config, statectl::monitoring::render_template(site.cfg, "postgres-queries.yml"), 0600);
  } else if (m.kind == "redis_exporter") {
    // The multi-target password map: every Redis server's URI; Sentinels have no password.
    nlohmann::json map = nlohmann::json::object();
    std::string pw = site.secret("redis");
    for (const auto& r : state.members)
      if (r.kind == "redis") map[fmt::format("{}://127.0.0.1:{}", redis_scheme(site), r.port)] = pw;
    site.write_file(m.config, map.dump() + "\n", 0600);
  } else {
    site.make_dir(m.data_dir, 0700);
    site.write_file(m.config, prometheus_yml(site, state), 0644);
    site.write_file(fs::path(m.dir) / "alerts.yml", statectl::monitoring::alert_rules(site.cfg), 0644);
  }
}

void start(Site& site, Member& m, const StackState& state)
{
  if (!site.planning() && m.pid > 0 && process_matches(m.pid, m.start_time)) return;
  // The config follows the stack: a scaled stack has other targets and Redis servers.
  configure(site, m, state);
  std::string listen = fmt::format("127.0.0.1:{}", m.port);
  if (m.kind == "postgres_exporter") {
    const auto& cfg = site.cfg;
    std::string ssl = site.tls() ? "sslmode=verify-full&sslrootcert=" + tls_files(cfg).ca.string() : "sslmode=disable";
    std::string uri = fmt::format("127.0.0.1:{}/{}?{}", watched_pg_port(site, m), config::settings(cfg).postgres.database, ssl);
    launch(site, m, site.binary("prometheus-postgres-exporter", "prometheus-postgres-exporter"),
           {"--web.listen-address=" + listen, "--extend.query-path=" + m.config},
           {{"DATA_SOURCE_URI", uri}, {"DATA_SOURCE_USER", config::settings(cfg).postgres.superuser},
            {"DATA_SOURCE_PASS", site.secret("postgres")}});
  } else if (m.kind == "redis_exporter") {
    std::vector<std::string> args = {"-web.listen-address", listen, "-redis.password-file", m.config};
    // rediss:// targets verify the servers against the stack's CA.
    if (site.tls()) args.insert(args.end(), {"-tls-ca-cert-file", tls_files(site.cfg).ca.string()});
    // With ACL users it logs in as the admin user (the name only; the password is in the file).
    if (state.redis_acl) args.insert(args.end(), {"-redis.user", redis_acl::k_admin_user});
    launch(site, m, site.binary("prometheus-redis-exporter", "prometheus-redis-exporter"), args, {});
  } else {
    launch(site, m, site.binary("prometheus", "prometheus"),
           {"--config.file=" + m.config, "--storage.tsdb.path=" + m.data_dir, "--web.listen-address=" + listen,
            "--storage.tsdb.retention.time=15d"},
           {});
  }
}

void stop(Site& site, Member& m, StopMode mode, milliseconds timeout)
{
  stop_by_signal(site, m, SIGTERM, mode, timeout);
  if (!site.planning()) fs::remove(background_pid_path(m));
}

void refresh(Site& site, Member& m, const StackState& state)
{
  if (m.kind == "postgres_exporter") return; // watches one server, which did not move
  if (m.kind == "redis_exporter") {
    stop(site, m, StopMode::fast, 10s);
    start(site, m, state);
    return;
  }
  configure(site, m, state);
  if (!site.planning()) signal_member(m, SIGHUP);
}

bool healthy(const Member& m, std::string& error)
{
  // Prometheus's readiness, redis_exporter's own health, postgres_exporter's metrics (it has no
  // health endpoint; its pg_up says whether PostgreSQL answered).
  const char* path = m.kind == "prometheus" ? "/-/ready" : m.kind == "redis_exporter" ? "/health" : "/metrics";
  auto r = http_request(m.port, "GET", path, 1500ms, ""); // the exporters and Prometheus serve plain HTTP on loopback
  if (r && r->status == 200) return true;
  error = r ? fmt::format("HTTP {} from {}", r->status, path) : "no answer on its port";
  return false;
}

} // namespace statectl::local::monitoring

#include "core/render/render.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <fmt/format.h>
#include <system_error>
#include <unistd.h>

#include "core/config/config.h"
#include "core/error.h"
#include "core/monitoring/monitoring.h"
#include "core/templating/engine.h"
#include "core/render/recorded.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::render {

namespace fs = std::filesystem;
using nlohmann::json;

Target parse_target(const std::string& name)
{
  if (name == "compose") return Target::compose;
  if (name == "k8s") return Target::k8s;
  if (name == "terraform") return Target::terraform;
  throw Error(ExitCode::usage, fmt::format("unknown target '{}'", name), "", "use compose, k8s or terraform");
}

const char* target_name(Target t)
{
  switch (t) {
  case Target::compose: return "compose";
  case Target::k8s: return "k8s";
  case Target::terraform: return "terraform";
  }
  return "?";
}

const std::vector<std::string>& cloud_names()
{
  static const std::vector<std::string> names = {"aws", "gcp", "azure"};
  return names;
}

namespace {

std::string cloud_of(const config::Config& cfg, const Request& req)
{
  std::string cloud = req.cloud.empty() ? cfg.get_string("terraform.cloud") : req.cloud;
  if (std::find(cloud_names().begin(), cloud_names().end(), cloud) == cloud_names().end())
    throw Error(ExitCode::usage, fmt::format("unknown cloud '{}'", cloud), "", "use --cloud aws, gcp or azure");
  return cloud;
}

} // namespace

Request request_for(const config::Config& cfg, Target t)
{
  Request req{t, ""};
  if (t == Target::terraform) req.cloud = cloud_of(cfg, req);
  return req;
}

namespace {

bool is_dns_label(const std::string& s)
{
  if (s.empty() || s.size() > 40) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return s.front() != '-' && s.back() != '-';
}

json numbered(const std::string& prefix, std::int64_t n, std::int64_t first = 1)
{
  json list = json::array();
  for (std::int64_t i = first; i < first + n; ++i)
    list.push_back({{"index", std::to_string(i)}, {"member", fmt::format("{}{}", prefix, i)}, {"first", i == first}});
  return list;
}

// Kubernetes quantities from statectl sizes: whole MiB keep the arithmetic exact.
std::string mebibytes(std::uint64_t bytes) { return fmt::format("{}Mi", (bytes + (1u << 20) - 1) >> 20); }

// [monitoring] enabled: the alert rules and the exporter's queries of templates/monitoring/, as
// files (compose) and indented into a PrometheusRule and a ConfigMap (k8s). Empty otherwise.
void add_monitoring_values(const config::Config& cfg, const Request& req, json& vals)
{
  const bool on = cfg.get_bool("monitoring.enabled") && req.target != Target::terraform;
  std::string rules = on ? monitoring::alert_rules(cfg) : "";
  std::string queries = on ? monitoring::render_template(cfg, "postgres-queries.yml") : "";
  vals["mon"] = monitoring::values(cfg);
  vals["monitoring_rules"] = rules;
  vals["monitoring_queries"] = queries;
  vals["monitoring_rules_spec"] = monitoring::prometheus_rule_spec(rules);
  std::string indented;
  for (const auto& line : util::split(queries, '\n'))
    if (!line.empty()) indented += "    " + line + "\n";
  vals["monitoring_queries_k8s"] = indented;
}

// Compose: the etcd members, the Patroni members, the two HAProxies (read-write and read-only
// loopback ports from [local] postgres_port on) and where the poolers and exporters connect.
void add_compose_patroni_values(const config::Config& cfg, bool patroni, std::int64_t members, json& v)
{
  json etcd = numbered("etcd-", 3);
  std::vector<std::string> names, peers, hosts;
  for (const auto& e : etcd) {
    std::string m = e["member"];
    names.push_back(m);
    peers.push_back(fmt::format("{}=http://{}:2380", m, m));
    hosts.push_back(m + ":2379");
  }
  v["etcd_list"] = etcd;
  v["etcd_services"] = util::join(names, ", ");
  v["etcd_initial_cluster"] = util::join(peers, ",");
  v["etcd_hosts"] = util::join(hosts, ", ");
  v["pg_member_list"] = numbered("patroni-", members);
  std::int64_t base = cfg.get_int("local.postgres_port");
  json proxies = json::array();
  std::vector<std::string> proxy_names;
  for (std::int64_t i = 0; i < 2; ++i) {
    std::string name = fmt::format("haproxy-{}", i + 1);
    proxies.push_back({{"member", name}, {"rw_port", std::to_string(base + 2 * i)}, {"ro_port", std::to_string(base + 2 * i + 1)}});
    proxy_names.push_back(name);
  }
  v["haproxy_list"] = proxies;
  v["haproxy_services"] = util::join(proxy_names, ", ");
  v["pg_pooler_host"] = patroni ? "haproxy" : "postgres-primary";
  v["pg_pooler_port"] = patroni ? "5000" : "5432";
  v["pg_rw_address"] = patroni ? "haproxy:5000" : "postgres-primary:5432";
  v["pg_ro_address"] = patroni ? "haproxy:5001" : "postgres-replica:5432";
  v["pg_client_network"] = patroni ? "clients" : "postgres";
}

} // namespace

bool tls_rendered(const config::Config& cfg, const Request& req)
{
  if (!cfg.get_bool("tls.enabled")) return false;
  if (req.target == Target::k8s) return true;
  return req.target == Target::compose && cfg.get_string("postgres.ha") != "patroni" && cfg.get_string("redis.mode") != "cluster";
}

// Where the render mounts ca.crt, tls.crt and tls.key.
static const char* render_tls_dir(const Request& req) { return req.target == Target::k8s ? "/tls" : "/run/secrets"; }

bool acl_rendered(const config::Config& cfg, const Request& req)
{
  return req.target == Target::compose && cfg.get_bool("redis.acl") && cfg.get_string("postgres.ha") != "patroni" &&
         cfg.get_string("redis.mode") != "cluster";
}

std::string template_dir(const Request& req)
{
  if (req.target == Target::terraform) return "terraform/" + (req.cloud.empty() ? std::string("aws") : req.cloud);
  return target_name(req.target);
}

json values(const config::Config& cfg, const Request& req)
{
  json v = json::object();
  // Every key as {{section.key}}; URL keys can carry passwords and never reach a template.
  for (const auto& spec : config::key_table()) {
    if (spec.type == config::KeyType::url || spec.secret) continue;
    json& section = v[spec.section()];
    if (spec.type == config::KeyType::boolean)
      section[spec.key()] = cfg.get_bool(config::BoolKey::of(spec));
    else if (spec.type == config::KeyType::list)
      section[spec.key()] = cfg.get_list(config::ListKey::of(spec));
    else
      section[spec.key()] = cfg.value(config::Key::of(spec)).text;
  }

  // Counts set by `statectl scale` on this target replace the config's while it is unchanged.
  auto recorded = recorded_counts(cfg, target_name(req.target));
  auto count = [&](config::IntKey key) {
    auto it = recorded.find(std::string(key.name()));
    return it != recorded.end() ? it->second : cfg.get_int(key);
  };

  std::string name = cfg.get_string("project.name");
  if (!is_dns_label(name))
    throw Error(ExitCode::usage, fmt::format("project.name '{}' cannot name {} resources", name, target_name(req.target)),
                "it must be 1-40 characters of a-z, 0-9 and '-', not starting or ending with '-'",
                "set [project] name to something like \"orders-state\"");
  v["name"] = name;
  v["wal_spool"] = (cfg.state_dir() / "wal-spool").string(); // backup::wal_spool_dir(), which backups import
  v["secret_name"] = name + "-secrets";
  v["target"] = target_name(req.target);
  v["tf_deletion_protection"] = cfg.get_bool("terraform.deletion_protection") ? "true" : "false";

  // [postgres] ha = "patroni" on k8s (templates/k8s/21-patroni.yaml: one StatefulSet of members on
  // the Kubernetes API) and compose (etcd, Patroni members, HAProxy) instead of a primary and
  // standbys.
  const bool patroni = req.target != Target::terraform && cfg.get_string("postgres.ha") == "patroni";
  const bool compose_patroni = patroni && req.target == Target::compose;
  v["pg_patroni"] = patroni;
  v["pg_not_patroni"] = !patroni; // a section: standalone {{^...}} lines leave blank lines

  // PostgreSQL: the seed runs 1 primary + 2 replicas on Kubernetes and under Patroni on compose
  // (three members) unless the user says otherwise.
  std::int64_t pg_replicas = count("postgres.replicas");
  if ((req.target == Target::k8s || compose_patroni) && !cfg.is_set("postgres.replicas") && !recorded.count("postgres.replicas")) pg_replicas = 2;
  v["pg_replicas"] = std::to_string(pg_replicas);
  v["pg_members"] = std::to_string(pg_replicas + 1);
  v["pg_has_replicas"] = pg_replicas > 0;
  v["pg_replica_list"] = numbered("postgres-replica-", pg_replicas);
  bool sync = cfg.get_bool("postgres.synchronous") && pg_replicas > 0;
  v["pg_synchronous"] = sync;
  v["pg_synchronous_standby_names"] = sync ? "ANY 1 (*)" : "";
  v["pg_shared_buffers"] = cfg.value("postgres.shared_buffers").text;
  v["pg_pdb_min_available"] = std::to_string(pg_replicas > 0 ? pg_replicas : 1);

  std::int64_t bouncers = count("pgbouncer.replicas");
  // Patroni on compose: two poolers behind the two HAProxies unless the user says otherwise.
  if (compose_patroni && !cfg.is_set("pgbouncer.replicas") && !recorded.count("pgbouncer.replicas")) bouncers = 2;
  add_compose_patroni_values(cfg, compose_patroni, pg_replicas + 1, v);

  std::int64_t bouncers_max = std::max(bouncers, cfg.get_int("pgbouncer.max_replicas"));
  v["pgbouncer_replicas"] = std::to_string(bouncers);
  v["pgbouncer_max_replicas"] = std::to_string(bouncers_max);
  v["pgbouncer_port_last"] = std::to_string(cfg.get_int("local.pgbouncer_port") + bouncers - 1);

  std::string mode = cfg.get_string("redis.mode");
  if (mode == "cluster" && req.target == Target::terraform)
    mode = "sentinel"; // managed services provide their own failover; cluster mode is a k8s/compose layout
  v["redis_standalone"] = mode == "standalone";
  v["redis_sentinel"] = mode == "sentinel";
  v["redis_cluster"] = mode == "cluster";
  v["redis_not_cluster"] = mode != "cluster";
  std::int64_t redis_replicas = mode == "standalone" ? 0 : count("redis.replicas");
  v["redis_replicas"] = std::to_string(redis_replicas);
  v["redis_has_replicas"] = redis_replicas > 0;
  v["redis_members"] = std::to_string(redis_replicas + 1);
  // The replicas' published range does not follow their count: a scale must not change the
  // service's config, or compose recreates the replicas, handing their anonymous /data volumes
  // to the new containers as named mounts that `rm -v` then leaves behind. It reaches up to the
  // first Sentinel port (at most 15 ports, the most replicas allowed).
  std::int64_t redis_port = cfg.get_int("local.redis_port"), sentinel_port = cfg.get_int("local.sentinel_port");
  std::int64_t room = sentinel_port > redis_port ? std::min<std::int64_t>(sentinel_port - redis_port - 1, 15) : 15;
  v["redis_replica_port"] = std::to_string(redis_port + 1);
  v["redis_replica_port_last"] = std::to_string(std::min<std::int64_t>(redis_port + std::max<std::int64_t>({room, redis_replicas, 1}), 65535));
  v["redis_replica_list"] = numbered("redis-replica-", redis_replicas);
  v["redis_sentinels"] = cfg.value("redis.sentinels").text;
  v["redis_sentinel_list"] = numbered("redis-sentinel-", cfg.get_int("redis.sentinels"));
  v["sentinel_port_last"] = std::to_string(cfg.get_int("local.sentinel_port") + cfg.get_int("redis.sentinels") - 1);
  v["redis_down_after_ms"] = std::to_string(cfg.get_duration("redis.down_after").count());
  v["redis_failover_timeout_ms"] = std::to_string(cfg.get_duration("redis.failover_timeout").count());
  std::uint64_t maxmemory = cfg.get_size("redis.maxmemory");
  v["redis_maxmemory_bytes"] = std::to_string(maxmemory);
  // The container limit leaves a quarter above maxmemory for fragmentation, replication buffers
  // and fork copy-on-write during BGSAVE.
  v["redis_memory_limit"] = mebibytes(maxmemory + maxmemory / 4);
  v["redis_memory_request"] = mebibytes(maxmemory);
  v["redis_storage"] = mebibytes(2 * maxmemory); // room for the RDB snapshot and the AOF rewrite
  // [tls] enabled: the compose render (bare PostgreSQL mode, Sentinel or standalone Redis) and
  // the k8s render (every mode) speak TLS only; the other compose modes have no TLS yet, so an
  // explicit request for it there is refused rather than deployed as plain text (the built-in
  // default only makes deploy warn). The certificates are mounted at /run/secrets (compose
  // secrets) or /tls (the k8s Secret's keys).
  const bool tls = tls_rendered(cfg, req);
  v["tls_only"] = tls;
  v["no_tls"] = !tls;
  // [redis] acl: the servers know statectl's ACL users (the compose secret redis-acl) and the
  // default user is off.
  const bool acl = acl_rendered(cfg, req);
  v["acl_users"] = acl;
  v["no_acl_users"] = !acl;
  // redis-cli inside a container of the render (health checks, entrypoints): it verifies the
  // servers against the mounted CA when they speak TLS, and logs in as the admin user (when
  // given a password) when they have ACL users.
  v["redis_cli"] = (tls ? fmt::format("redis-cli --tls --cacert {}/ca.crt", render_tls_dir(req)) : std::string("redis-cli")) + (acl ? " --user statectl-admin" : "");
  v["redis_scheme"] = tls ? "rediss" : "redis";
  if (req.target == Target::compose && !tls && cfg.is_set("tls.enabled") && cfg.get_bool("tls.enabled")) {
    std::string where = compose_patroni ? "compose with [postgres] ha = \"patroni\"" : "compose with [redis] mode = \"cluster\"";
    throw Error(ExitCode::usage, fmt::format("[tls] enabled = true is not rendered for {} yet", where),
                fmt::format("the {} renders speak plain text inside the stack's network", where),
                fmt::format("set [tls] enabled = false for {} (an [env.NAME] profile, or STATECTL_TLS_ENABLED=false)", target_name(req.target)));
  }
  if (mode == "cluster" && req.target == Target::compose && cfg.get_bool("monitoring.enabled"))
    throw Error(ExitCode::usage, "[monitoring] enabled is not rendered for a Redis Cluster on compose yet",
                "the compose exporter and Prometheus scrape a Sentinel master and its replicas",
                "set [monitoring] enabled = false with [redis] mode = \"cluster\" on compose, or use the local or k8s target");
  // Compose memory limits take docker's units (m), not Kubernetes quantities (Mi).
  auto compose_mem = [](std::uint64_t bytes) { return fmt::format("{}m", (bytes + (1u << 20) - 1) >> 20); };
  v["compose_redis_memory"] = compose_mem(maxmemory + maxmemory / 4);
  auto pg_mem = util::parse_size(cfg.get_string("postgres.memory"));
  if (!pg_mem)
    throw Error(ExitCode::usage, fmt::format("postgres.memory '{}' is not a size", cfg.get_string("postgres.memory")), pg_mem.error(),
                "use a size such as \"4Gi\" or \"512Mi\"");
  v["compose_pg_memory"] = compose_mem(*pg_mem);
  std::int64_t masters = cfg.get_int("redis.cluster_masters");
  std::int64_t per_master = cfg.get_int("redis.cluster_replicas");
  std::int64_t nodes = masters * (1 + per_master);
  v["redis_cluster_nodes"] = std::to_string(nodes);
  v["redis_cluster_node_list"] = numbered("redis-node-", nodes, 0);
  // Compose: one service per node (a node is an identity with its own slots and volume), each
  // publishing its own loopback port from [local] redis_port on.
  json compose_nodes = json::array();
  for (std::int64_t i = 0; i < nodes; ++i)
    compose_nodes.push_back({{"node", fmt::format("redis-node-{}", i)}, {"port", std::to_string(redis_port + i)}});
  v["redis_cluster_compose_nodes"] = compose_nodes;
  v["redis_cluster_node_timeout_ms"] = std::to_string(cfg.get_duration("redis.cluster_node_timeout").count());
  v["redis_cluster_pdb_max_unavailable"] = "1";

  // Kubernetes.
  std::string label = cfg.get_string("k8s.app_label");
  auto eq = label.find('=');
  if (req.target == Target::k8s && (eq == std::string::npos || eq == 0 || eq + 1 == label.size()))
    throw Error(ExitCode::usage, fmt::format("k8s.app_label '{}' is not a label selector", label), "expected KEY=VALUE",
                "set [k8s] app_label = \"app.kubernetes.io/part-of=myapp\"");
  v["app_label_key"] = eq == std::string::npos ? label : label.substr(0, eq);
  v["app_label_value"] = eq == std::string::npos ? "" : label.substr(eq + 1);
  v["namespace"] = cfg.get_string("k8s.namespace");

  // Terraform: the defaults of [terraform] are AWS names; other clouds get their own equivalents
  // unless the user set a value.
  if (req.target == Target::terraform) {
    std::string cloud = cloud_of(cfg, req);
    v["cloud"] = cloud;
    auto pick = [&](config::Key key, const std::string& gcp, const std::string& azure) {
      if (cfg.is_set(key) || cloud == "aws") return cfg.get_string(key);
      return cloud == "gcp" ? gcp : azure;
    };
    v["tf_region"] = pick("terraform.region", "us-central1", "eastus");
    v["tf_postgres_instance"] = pick("terraform.postgres_instance", "db-custom-2-8192", "GP_Standard_D2ds_v4");
    v["tf_redis_node"] = pick("terraform.redis_node", "5", "P1");
    v["tf_storage_gb"] = std::to_string(cfg.get_int("terraform.storage_gb"));
    std::string window = cfg.get_string("terraform.backup_window");
    v["tf_backup_window"] = window;
    v["tf_backup_start"] = window.substr(0, window.find('-'));
    v["tf_redis_replicas"] = std::to_string(std::max<std::int64_t>(1, redis_replicas));
    v["tf_redis_nodes"] = std::to_string(std::max<std::int64_t>(1, redis_replicas) + 1);
    v["tf_pg_read_replicas"] = std::to_string(pg_replicas > 0 ? pg_replicas - 1 : 0);
  }
  return v;
}

std::vector<File> render(const config::Config& cfg, const Request& req_in)
{
  Request req = req_in;
  if (req.target == Target::terraform) req.cloud = cloud_of(cfg, req);
  json vals = values(cfg, req);
  add_monitoring_values(cfg, req, vals);
  fs::path override_dir = cfg.path("templates.dir");
  std::error_code ec;
  if (!override_dir.empty() && !fs::is_directory(override_dir, ec))
    throw Error(ExitCode::usage, fmt::format("template directory {} does not exist", override_dir.string()), "",
                "fix [templates] dir or --templates");
  std::string dir = template_dir(req);
  std::vector<File> files;
  for (const auto& t : templating::find_templates(templating::template_roots(override_dir), dir)) {
    auto text = util::read_file(t.source);
    if (!text) throw Error(ExitCode::usage, "cannot read template", text.error());
    std::string out = templating::render_string(*text, t.source.string(), vals);
    // A template whose sections all rendered empty is not written. A script keeps its "#!" line
    // outside its section (the packaged template must start with one), so that line alone counts
    // as empty too.
    std::string body = util::starts_with(out, "#!") ? out.substr(std::min(out.find('\n'), out.size())) : out;
    if (util::trim(body).empty()) continue;
    File f;
    f.path = t.relative.substr(dir.size() + 1);
    f.content = std::move(out);
    f.executable = util::ends_with(f.path, ".sh");
    files.push_back(std::move(f));
  }
  return files;
}

std::string to_stream(const Request& req, const std::vector<File>& files)
{
  std::string out;
  for (const auto& f : files) {
    if (req.target == Target::k8s && !util::ends_with(f.path, ".yaml")) {
      // Not a manifest (the Patroni image's Dockerfile): shown as comments so the stream stays
      // one valid YAML document stream.
      out += fmt::format("# Source: {}\n", f.path);
      std::string text = f.content;
      while (!text.empty() && text.back() == '\n') text.pop_back();
      for (const auto& line : util::split(text, '\n')) out += line.empty() ? "#\n" : "# " + line + "\n";
    } else if (req.target == Target::k8s) {
      std::string body = f.content;
      // Each manifest file may already hold several documents; keep them, separate files.
      if (!util::starts_with(body, "---\n")) out += "---\n";
      out += fmt::format("# Source: {}\n", f.path);
      out += body;
    } else {
      out += fmt::format("# ==> {} <==\n", f.path);
      out += f.content;
    }
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return out;
}

namespace {

[[noreturn]] void io_error(const std::string& what, const fs::path& p, int err)
{
  throw Error(ExitCode::failed, fmt::format("cannot write {}", p.string()), fmt::format("{}: {}", what, std::strerror(err)),
              "check the directory's permissions and free space");
}

// Gives each copied entry the owner of its original: the kept compose secret files belong to
// the containers' uid, which later containers (scale, restarts) read them as.
void keep_owner(const fs::path& from, const fs::path& to)
{
  struct stat st {};
  if (::lstat(from.c_str(), &st) != 0) return;
  if (::lchown(to.c_str(), st.st_uid, st.st_gid) != 0 && errno != EPERM) io_error("chown", to, errno);
  std::error_code ec;
  if (S_ISDIR(st.st_mode))
    for (const auto& entry : fs::directory_iterator(from, ec)) keep_owner(entry.path(), to / entry.path().filename());
}

} // namespace

void write_tree(const fs::path& dir_in, const std::vector<File>& files, const std::vector<std::string>& keep)
{
  fs::path dir = fs::absolute(dir_in).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  fs::path parent = dir.parent_path();
  if (auto r = util::make_dirs(parent); !r) throw Error(ExitCode::failed, fmt::format("cannot create {}", parent.string()), r.error());
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw Error(ExitCode::usage, fmt::format("{} exists and is not a directory", dir.string()), "", "choose another --out");

  std::string tmpl = (parent / ("." + dir.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) io_error("mkdtemp", parent, errno);
  fs::path tmp(buf.data());
  ::chmod(tmp.c_str(), 0755);
  try {
    for (const auto& f : files) {
      fs::path p = tmp / f.path;
      if (auto r = util::make_dirs(p.parent_path()); !r) throw Error(ExitCode::failed, "cannot create directory", r.error());
      if (auto r = util::write_file_atomic(p, f.content, f.executable ? 0755 : 0644); !r)
        throw Error(ExitCode::failed, fmt::format("cannot write {}", f.path), r.error());
    }
    for (const auto& k : keep) {
      fs::path old = dir / k;
      if (!fs::exists(old, ec) || fs::exists(tmp / k, ec)) continue;
      fs::copy(old, tmp / k, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
      if (ec) io_error("copy " + k, old, ec.value());
      keep_owner(old, tmp / k);
    }
    util::fsync_dir(tmp);
    if (fs::exists(dir, ec)) {
      if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) io_error("rename", dir, errno);
      util::fsync_dir(parent);
      fs::remove_all(tmp, ec); // now the old tree
    } else {
      if (::rename(tmp.c_str(), dir.c_str()) != 0) io_error("rename", dir, errno);
      util::fsync_dir(parent);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

void to_json(nlohmann::json& j, const RenderResult& r)
{
  j = {{"target", r.target}, {"files", nlohmann::json::array()}};
  if (r.request.target == Target::terraform) j["cloud"] = r.request.cloud;
  for (const auto& f : r.files) {
    if (r.out) j["files"].push_back({{"path", f.path}, {"bytes", f.content.size()}});
    else j["files"].push_back({{"path", f.path}, {"content", f.content}});
  }
  if (r.out) j["out"] = r.out->string();
}

std::string to_text(const RenderResult& r)
{
  if (!r.out) return to_stream(r.request, r.files);
  std::string text;
  for (const auto& f : r.files) text += (*r.out / f.path).string() + "\n";
  return text;
}

} // namespace statectl::render

#include "core/deploy/status.h"

#include <algorithm>
#include <set>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/deploy/deploy.h"
#include "core/deploy/tools.h"
#include "core/deploy/verify.h"
#include "core/error.h"
#include "core/output/printer.h"
#include "core/util/strings.h"

namespace statectl::deploy {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Every standby with its state and how far behind the primary it replays (bytes), one line each.
const char* k_replication_query = "SELECT application_name, state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint "
                                  "FROM pg_stat_replication ORDER BY application_name";

// A standby further behind than this is reported as lagging (unhealthy), as on the local target.
constexpr std::int64_t k_max_lag_bytes = 16 * 1024 * 1024;

struct Component {
  std::string name;
  std::string kind;
  std::string role;
  std::string ready; // "1/1" (k8s), the container state (compose)
  bool healthy = false;
  std::string version; // the image
  std::string error;
};

std::string image_tag(const std::string& image)
{
  auto colon = image.rfind(':');
  auto slash = image.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return image + ":latest";
  return image;
}

// The replication and Sentinel probes, run with prefix(where) + command. Adds "replication" and
// "sentinel_master" to doc; returns the problems found.
template <typename Prefix>
std::vector<std::string> probe_servers(const config::Config& cfg, exec::Runner& runner, const Expect& p, Prefix prefix,
                                       const std::string& primary, const std::string& sentinel, json& doc)
{
  std::vector<std::string> problems;
  auto exec_in = [&](const std::string& where, std::vector<std::string> cmd) {
    std::vector<std::string> argv = prefix(where);
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    return runner.run(command(argv, false, std::chrono::seconds(30)));
  };
  exec::Result r = exec_in(primary, {"psql", "-U", cfg.get_string("postgres.superuser"), "-d", cfg.get_string("postgres.database"), "-tA",
                                     "-F", "|", "-c", k_replication_query});
  json standbys = json::array();
  std::int64_t streaming = 0;
  if (r.ok()) {
    for (const auto& line : util::split(r.out, '\n')) {
      auto f = util::split(util::trim(line), '|');
      if (f.size() < 3) continue;
      std::int64_t lag = 0;
      try {
        lag = std::stoll(f[2]);
      } catch (...) {
      }
      standbys.push_back({{"name", f[0]}, {"state", f[1]}, {"lag_bytes", lag}});
      if (f[1] == "streaming") ++streaming;
      if (lag > k_max_lag_bytes) problems.push_back(fmt::format("standby {} is {} behind the primary", f[0], util::format_size(static_cast<std::uint64_t>(lag))));
    }
    if (streaming < p.pg_replicas)
      problems.push_back(fmt::format("{} of {} standbys stream from the primary", streaming, p.pg_replicas));
  } else {
    problems.push_back(fmt::format("cannot read pg_stat_replication on the primary: {}", tool_error(r)));
  }
  doc["replication"] = {{"expected", p.pg_replicas}, {"streaming", streaming}, {"standbys", standbys}};

  if (p.redis_mode == "sentinel") {
    exec::Result s = exec_in(sentinel, {"redis-cli", "-p", "26379", "sentinel", "get-master-addr-by-name", cfg.get_string("redis.master_name")});
    std::string addr = s.ok() ? util::trim(s.out) : "";
    if (addr.empty() || addr.find("nil") != std::string::npos) {
      problems.push_back(s.ok() ? "Sentinel does not know the master" : fmt::format("cannot ask Sentinel for the master: {}", tool_error(s)));
      doc["sentinel_master"] = nullptr;
    } else {
      doc["sentinel_master"] = util::join(util::split(addr, '\n'), ":");
    }
  }
  return problems;
}

// The server probes when the primary is up: primary / sentinel name where to exec, empty when
// no container or pod of it is ready.
template <typename Prefix>
std::vector<std::string> probe_if_up(const config::Config& cfg, exec::Runner& runner, const render::Request& req, Prefix prefix,
                                     const std::string& primary, const std::string& sentinel, json& doc)
{
  if (primary.empty()) return {"the PostgreSQL primary is not running"};
  Expect e = expectations(cfg, req);
  bool sentinel_missing = e.redis_mode == "sentinel" && sentinel.empty();
  if (sentinel_missing) e.redis_mode = "none";
  auto problems = probe_servers(cfg, runner, e, prefix, primary, sentinel, doc);
  if (sentinel_missing) problems.push_back("no Sentinel is running");
  return problems;
}

json finish(json doc, const std::vector<Component>& components, std::vector<std::string> problems)
{
  json comps = json::array();
  output::Table t{{"NAME", "KIND", "ROLE", "READY", "HEALTHY", "VERSION"}, {}};
  for (const auto& c : components) {
    json j = {{"name", c.name}, {"kind", c.kind}, {"role", c.role}, {"ready", c.ready}, {"healthy", c.healthy}, {"version", c.version}};
    if (!c.error.empty()) {
      j["error"] = c.error;
      problems.insert(problems.begin(), fmt::format("{}: {}", c.name, c.error));
    }
    comps.push_back(j);
    t.rows.push_back({c.name, c.kind, c.role, c.ready, c.healthy ? "yes" : "no", c.version});
  }
  if (components.empty()) problems.insert(problems.begin(), "no containers or workloads found");
  doc["components"] = comps;
  doc["problems"] = problems;
  doc["healthy"] = problems.empty();

  std::string text = t.render();
  if (doc.contains("replication")) {
    const auto& rep = doc["replication"];
    std::int64_t max_lag = 0;
    for (const auto& s : rep["standbys"]) max_lag = std::max(max_lag, s["lag_bytes"].get<std::int64_t>());
    text += fmt::format("\nreplication: {}/{} standbys streaming, most behind {}\n", rep["streaming"].get<std::int64_t>(),
                        rep["expected"].get<std::int64_t>(), util::format_size(static_cast<std::uint64_t>(max_lag)));
  }
  if (doc.contains("sentinel_master"))
    text += fmt::format("sentinel master: {}\n", doc["sentinel_master"].is_null() ? "unknown" : doc["sentinel_master"].get<std::string>());
  if (!problems.empty()) {
    text += "\nproblems:\n";
    for (const auto& p : problems) text += fmt::format("  {}\n", p);
  }
  doc["text"] = text;
  return doc;
}

// compose service name -> kind, role.
std::pair<std::string, std::string> compose_kind(const std::string& service)
{
  if (service == "postgres-primary") return {"postgres", "primary"};
  if (service == "postgres-replica") return {"postgres", "replica"};
  if (service == "pgbouncer") return {"pgbouncer", "pooler"};
  if (service == "redis-master") return {"redis", "master"};
  if (service == "redis-replica") return {"redis", "replica"};
  if (service == "redis-sentinel") return {"sentinel", "sentinel"};
  return {service, ""};
}

json compose_status(const config::Config& cfg, exec::Runner& runner, const render::Request& req, json doc)
{
  Compose compose = deployed_compose(cfg, runner);
  std::vector<std::string> ids = compose_containers(runner, compose);
  std::vector<Component> components;
  bool primary_up = false;
  bool sentinel_up = false;
  std::set<std::string> with_container;
  if (!ids.empty()) {
    for (const auto& line : docker_inspect(runner, ids,
                                           "{{index .Config.Labels \"com.docker.compose.service\"}}|{{.Name}}|{{.State.Status}}|"
                                           "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.Config.Image}}")) {
      auto f = util::split(util::trim(line), '|');
      if (f.size() < 5) continue;
      Component c;
      c.name = f[1].substr(f[1].rfind('/') == std::string::npos ? 0 : f[1].rfind('/') + 1);
      std::tie(c.kind, c.role) = compose_kind(f[0]);
      c.ready = f[3] == "none" ? f[2] : f[3];
      c.healthy = f[2] == "running" && (f[3] == "healthy" || f[3] == "none");
      if (!c.healthy) c.error = f[2] != "running" ? fmt::format("container is {}", f[2]) : fmt::format("health check says {}", f[3]);
      c.version = image_tag(f[4]);
      if (f[0] == "postgres-primary" && c.healthy) primary_up = true;
      if (f[0] == "redis-sentinel" && c.healthy) sentinel_up = true;
      with_container.insert(f[0]);
      components.push_back(c);
    }
  }
  // A service of the render without any container (removed by hand, or never created) is a
  // component too: it is missing, not absent from the report.
  for (const auto& service : compose_services(runner, compose)) {
    if (with_container.count(service)) continue;
    Component c;
    c.name = service;
    std::tie(c.kind, c.role) = compose_kind(service);
    c.ready = "missing";
    c.error = "no container";
    components.push_back(c);
  }
  std::sort(components.begin(), components.end(), [](const Component& a, const Component& b) { return a.name < b.name; });
  auto prefix = [&](const std::string& service) { return compose.argv({"exec", "-T", service}); };
  auto problems = probe_if_up(cfg, runner, req, prefix, primary_up ? "postgres-primary" : "", sentinel_up ? "redis-sentinel" : "", doc);
  return finish(doc, components, problems);
}

json k8s_status(const config::Config& cfg, exec::Runner& runner, const render::Request& req, json doc)
{
  Kubectl kubectl = Kubectl::detect(cfg);
  std::string name = cfg.get_string("project.name");
  exec::Result r = runner.run(command(
    kubectl.argv({"get", "statefulsets,deployments", "-l", fmt::format("app.kubernetes.io/instance={}", name), "-o", "json"}), false,
    std::chrono::seconds(60)));
  if (!r.ok()) throw Error(ExitCode::external, "kubectl get failed", tool_error(r), "check the kubectl context and the namespace");
  json list = json::parse(r.out, nullptr, false);
  if (list.is_discarded() || !list.is_object() || !list.contains("items") || !list["items"].is_array())
    throw Error(ExitCode::external, "kubectl get returned something that is not a list", util::trim(r.out).substr(0, 200));
  std::vector<Component> components;
  bool primary_ready = false;
  bool sentinel_ready = false;
  for (const auto& item : list["items"]) {
    Component c;
    const json& meta = item.value("metadata", json::object());
    const json& labels = meta.value("labels", json::object());
    c.name = fmt::format("{}/{}", util::to_lower(item.value("kind", "")), meta.value("name", ""));
    c.kind = labels.value("app.kubernetes.io/name", "");
    c.role = labels.value("app.kubernetes.io/component", "");
    std::int64_t desired = item.value("spec", json::object()).value("replicas", 1);
    std::int64_t ready = item.value("status", json::object()).value("readyReplicas", 0);
    c.ready = fmt::format("{}/{}", ready, desired);
    c.healthy = ready >= desired;
    if (!c.healthy) c.error = fmt::format("{} of {} pods ready", ready, desired);
    const json& containers = item.value("spec", json::object()).value("template", json::object()).value("spec", json::object()).value("containers", json::array());
    if (!containers.empty()) c.version = image_tag(containers[0].value("image", ""));
    if (meta.value("name", "") == name + "-postgres-primary" && ready > 0) primary_ready = true;
    if (meta.value("name", "") == name + "-redis-sentinel" && ready > 0) sentinel_ready = true;
    components.push_back(c);
  }
  std::sort(components.begin(), components.end(), [](const Component& a, const Component& b) { return a.name < b.name; });
  auto prefix = [&](const std::string& workload) { return kubectl.argv({"exec", workload, "--"}); };
  auto problems = probe_if_up(cfg, runner, req, prefix, primary_ready ? fmt::format("statefulset/{}-postgres-primary", name) : "",
                              sentinel_ready ? fmt::format("statefulset/{}-redis-sentinel", name) : "", doc);
  return finish(doc, components, problems);
}

json terraform_status(const config::Config& cfg, exec::Runner& runner, const render::Request& req, json doc)
{
  fs::path dir = applied_dir(cfg, req);
  std::error_code ec;
  if (!fs::exists(dir / "terraform.tfstate", ec))
    throw Error(ExitCode::failed, fmt::format("no terraform deploy for {} in {}", req.cloud, dir.string()), "there is no terraform.tfstate",
                fmt::format("run `statectl deploy --target terraform --cloud {}`; with a remote backend, run terraform there", req.cloud));
  require_terraform();
  std::string chdir = "-chdir=" + dir.string();
  auto tf = [&](std::vector<std::string> args, const std::string& what) {
    exec::Command c = command({"terraform", chdir}, false, std::chrono::minutes(5));
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.env = {{"TF_IN_AUTOMATION", "1"}, {"CHECKPOINT_DISABLE", "1"}};
    return run_checked(runner, c, what);
  };
  exec::Result list = tf({"state", "list"}, "terraform state list failed");
  std::vector<Component> components;
  for (const auto& line : util::split(list.out, '\n')) {
    std::string address = util::trim(line);
    if (address.empty() || address.rfind("data.", 0) == 0) continue;
    Component c;
    c.name = address;
    c.kind = address.substr(0, address.find('.'));
    c.ready = "in state";
    c.healthy = true;
    components.push_back(c);
  }
  exec::Result out = tf({"output", "-json", "-no-color"}, "terraform output failed");
  json outputs = json::parse(out.out, nullptr, false);
  json shown = json::object();
  if (outputs.is_object())
    for (const auto& [k, v] : outputs.items())
      if (!v.value("sensitive", false) && v.contains("value")) shown[k] = v["value"];
  doc["outputs"] = shown;
  std::vector<std::string> problems;
  json result = finish(doc, components, problems);
  std::string text = result["text"].get<std::string>();
  for (const auto& [k, v] : shown.items()) text += fmt::format("{} = {}\n", k, v.is_string() ? v.get<std::string>() : v.dump());
  text += "health of the managed services: see the cloud's console or CLI\n";
  result["text"] = text;
  return result;
}

} // namespace

json remote_status(const config::Config& cfg, exec::Runner& runner, const render::Request& request)
{
  render::Request req = request;
  if (req.target == render::Target::terraform && req.cloud.empty()) req.cloud = cfg.get_string("terraform.cloud");
  json doc = {{"target", render::target_name(req.target)}, {"project", cfg.get_string("project.name")}, {"dir", applied_dir(cfg, req).string()}};
  if (req.target == render::Target::terraform) doc["cloud"] = req.cloud;
  switch (req.target) {
  case render::Target::compose: return compose_status(cfg, runner, req, doc);
  case render::Target::k8s: return k8s_status(cfg, runner, req, doc);
  case render::Target::terraform: return terraform_status(cfg, runner, req, doc);
  }
  return doc;
}

} // namespace statectl::deploy

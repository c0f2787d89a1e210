#include "core/deploy/scale.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/deploy/deploy.h"
#include "core/deploy/tools.h"
#include "core/deploy/verify.h"
#include "core/error.h"
#include "core/render/recorded.h"
#include "core/render/render.h"
#include "core/util/strings.h"

namespace statectl::deploy {

namespace fs = std::filesystem;
using nlohmann::json;

std::string scale_key(const std::string& component)
{
  if (component == "postgres") return "postgres.replicas";
  if (component == "redis") return "redis.replicas";
  if (component == "pooler") return "pgbouncer.replicas";
  throw Error(ExitCode::usage, fmt::format("cannot scale '{}'", component), "", "scale postgres, redis or pooler");
}

void validate_scale(const config::Config& cfg, const ScaleRequest& req)
{
  std::string key = scale_key(req.component);
  const config::KeySpec* spec = config::find_key(key);
  if (std::string why = config::validate_value(*spec, std::to_string(req.replicas)); !why.empty())
    throw Error(ExitCode::usage, fmt::format("invalid --replicas {} for {}", req.replicas, req.component), why);
  std::string mode = cfg.get_string("redis.mode");
  if (req.component == "redis" && mode == "standalone")
    throw Error(ExitCode::usage, "cannot scale redis in standalone mode", "a standalone Redis has no replicas",
                "set [redis] mode = \"sentinel\" and deploy again");
  if (req.component == "redis" && mode == "cluster" && req.target != "terraform")
    throw Error(ExitCode::usage, "cannot scale a Redis Cluster with --replicas",
                "cluster nodes are set by [redis] cluster_masters and cluster_replicas", "change those and deploy again");
  if (req.component == "pooler" && (req.target == "local" || req.target == "terraform"))
    throw Error(ExitCode::usage, fmt::format("cannot scale the pooler on the {} target", req.target),
                req.target == "local" ? "the local stack runs one PgBouncer" : "the managed databases have no PgBouncer of statectl's",
                "scale the pooler on compose or k8s");
  if (req.component == "postgres" && req.target == "terraform" && req.replicas < 1)
    throw Error(ExitCode::usage, "terraform keeps at least one PostgreSQL standby", "the Multi-AZ / regional HA standby counts as one",
                "use --replicas 1 or more");
  if (req.component == "redis" && req.target == "terraform" && req.replicas < 1)
    throw Error(ExitCode::usage, "terraform keeps at least one Redis replica", "automatic failover needs one", "use --replicas 1 or more");
}

namespace {

// The volumes mounted by the service's containers numbered above `keep`.
std::vector<std::string> volumes_beyond(exec::Runner& runner, const Compose& compose, const std::string& service, std::int64_t keep)
{
  std::vector<std::string> ids = compose_containers(runner, compose, service);
  std::vector<std::string> out;
  if (ids.empty()) return out;
  for (const auto& line : docker_inspect(runner, ids,
                                         "{{index .Config.Labels \"com.docker.compose.container-number\"}}|"
                                         "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}")) {
    auto f = util::split(line, '|');
    if (f.size() < 2 || f[0].empty() || f[0].find_first_not_of("0123456789") != std::string::npos || std::stoll(f[0]) <= keep) continue;
    for (const auto& v : util::split(util::trim(f[1]), ' '))
      if (!v.empty()) out.push_back(v);
  }
  return out;
}

json scale_compose(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const ScaleRequest& req)
{
  render::Request rr{render::Target::compose, ""};
  fs::path dir = applied_dir(cfg, rr);
  fs::path file = dir / "docker-compose.yml";
  std::error_code ec;
  if (!fs::exists(file, ec))
    throw Error(ExitCode::usage, "nothing deployed on compose", fmt::format("{} does not exist", file.string()),
                "run `statectl deploy --target compose` first");
  static const std::map<std::string, std::string> services = {
    {"postgres", "postgres-replica"}, {"redis", "redis-replica"}, {"pooler", "pgbouncer"}};
  std::string service = services.at(req.component);
  Compose compose = Compose::detect(cfg, runner, file);
  bool planning = runner.dry_run() == exec::DryRun::plan;
  if (!planning) {
    // Re-render with the new count first, so the file has the service and deploy.replicas
    // agrees with --scale (and host port ranges cover every pooler).
    render::record_count(cfg, "compose", scale_key(req.component), req.replicas);
    render::write_tree(dir, render::render(cfg, rr), {"secrets", ".applied"});
  }
  // Compose removes the highest-numbered containers on a scale-down but leaves their anonymous
  // volumes (a standby's full copy): note them first, remove them after.
  std::vector<std::string> orphans;
  if (!planning) orphans = volumes_beyond(runner, compose, service, req.replicas);
  run_checked(runner,
              command(compose.argv({"up", "-d", "--no-recreate", "--scale", fmt::format("{}={}", service, req.replicas)}), true,
                      req.timeout + std::chrono::minutes(5)),
              "docker compose up --scale failed");
  if (!orphans.empty()) {
    std::vector<std::string> argv = {"docker", "volume", "rm"};
    argv.insert(argv.end(), orphans.begin(), orphans.end());
    exec::Result r = runner.run(command(argv, true, std::chrono::seconds(60)));
    if (!r.ok()) printer.warn(fmt::format("cannot remove the volumes of the removed containers ({}): {}", util::join(orphans, " "), tool_error(r)));
  }
  if (!planning) {
    printer.info("waiting for the containers to become healthy");
    wait_compose_healthy(runner, compose, req.timeout);
  }
  return {{"service", service}};
}

json scale_k8s(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const ScaleRequest& req)
{
  Kubectl kubectl = Kubectl::detect(cfg);
  std::string name = cfg.get_string("project.name");
  std::string workload = req.component == "postgres" ? fmt::format("statefulset/{}-postgres-replica", name)
                         : req.component == "redis" ? fmt::format("statefulset/{}-redis-replica", name)
                                                    : fmt::format("deployment/{}-pgbouncer", name);
  bool planning = runner.dry_run() == exec::DryRun::plan;
  run_checked(runner, command(kubectl.argv({"scale", workload, fmt::format("--replicas={}", req.replicas)}), true),
              fmt::format("kubectl scale {} failed", workload));
  if (req.component == "pooler") {
    // The HPA would undo a manual scale below its minimum: move its bounds with the count.
    std::int64_t max = std::max(req.replicas, cfg.get_int("pgbouncer.max_replicas"));
    run_checked(runner,
                command(kubectl.argv({"patch", fmt::format("hpa/{}-pgbouncer", name), "--type=merge", "-p",
                                      fmt::format(R"({{"spec":{{"minReplicas":{},"maxReplicas":{}}}}})", req.replicas, max)}),
                        true),
                "kubectl patch of the pooler's HPA failed");
  }
  if (!planning) render::record_count(cfg, "k8s", scale_key(req.component), req.replicas);
  if (!planning) printer.info(fmt::format("waiting for {}", workload));
  run_checked(runner,
              command(kubectl.argv({"rollout", "status", workload, fmt::format("--timeout={}s", req.timeout.count() / 1000)}), false,
                      req.timeout + std::chrono::seconds(30)),
              fmt::format("{} did not become ready within {}", workload, util::format_duration(req.timeout)));
  return {{"workload", workload}};
}

json scale_terraform(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const ScaleRequest& req)
{
  bool planning = runner.dry_run() == exec::DryRun::plan;
  std::string key = scale_key(req.component);
  std::optional<std::int64_t> before;
  auto recorded = render::recorded_counts(cfg, "terraform");
  if (auto it = recorded.find(key); it != recorded.end()) before = it->second;
  // Record first so the re-render carries the new count; a plan-only run puts the old one back.
  render::record_count(cfg, "terraform", key, req.replicas);
  try {
    Options o;
    o.request = {render::Target::terraform, req.cloud};
    o.timeout = req.timeout;
    json doc = run(cfg, runner, printer, o);
    if (planning) {
      if (before) render::record_count(cfg, "terraform", key, *before);
      else render::record_count(cfg, "terraform", key, cfg.get_int(config::IntKey::lookup(key)));
    }
    return doc;
  } catch (...) {
    if (before) render::record_count(cfg, "terraform", key, *before);
    else render::record_count(cfg, "terraform", key, cfg.get_int(config::IntKey::lookup(key)));
    throw;
  }
}

} // namespace

json scale(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const ScaleRequest& req)
{
  validate_scale(cfg, req);
  json doc = {{"component", req.component}, {"replicas", req.replicas}, {"target", req.target},
              {"dry_run", runner.dry_run() == exec::DryRun::plan}};
  json detail;
  if (req.target == "compose") detail = scale_compose(cfg, runner, printer, req);
  else if (req.target == "k8s") detail = scale_k8s(cfg, runner, printer, req);
  else if (req.target == "terraform") detail = scale_terraform(cfg, runner, printer, req);
  else throw Error(ExitCode::usage, fmt::format("cannot scale target '{}' here", req.target));
  for (const auto& [k, v] : detail.items()) doc[k] = v;
  doc["recorded"] = !doc["dry_run"].get<bool>();
  return doc;
}

} // namespace statectl::deploy

#include "core/targets/results.h"

#include <algorithm>
#include <fmt/format.h>

#include "core/output/printer.h"
#include "core/util/strings.h"

namespace statectl::targets {

using nlohmann::json;

namespace {

json changes_json(const Changes& c) { return {{"add", c.add}, {"change", c.change}, {"destroy", c.destroy}}; }

std::string outputs_text(const json& outputs)
{
  std::string out;
  for (const auto& [k, v] : outputs.items()) out += fmt::format("{} = {}\n", k, v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

} // namespace

json DeployResult::to_json() const
{
  if (target == "local")
    return {{"target", "local"},        {"changed", local.changed()}, {"created", local.created}, {"started", local.started},
            {"removed", local.removed}, {"running", local.running},   {"state_dir", dir},         {"seconds", seconds}};
  json doc = {{"target", target}, {"project", project},   {"dir", dir},           {"dry_run", dry_run},
              {"applied", applied}, {"verified", verified}, {"rolled_back", rolled_back}};
  if (!cloud.empty()) doc["cloud"] = cloud;
  if (!compose.empty()) doc["compose"] = compose;
  if (!secret.empty()) doc["secret"] = secret;
  if (!checks.empty()) {
    doc["checks"] = json::object();
    for (const auto& [k, v] : checks) doc["checks"][k] = v;
  }
  if (changes) doc["changes"] = changes_json(*changes);
  if (target == "terraform" && applied) doc["outputs"] = outputs;
  return doc;
}

std::string DeployResult::to_text() const
{
  if (dry_run) return "";
  if (target == "local") {
    const auto& r = local;
    if (!r.changed()) return fmt::format("local stack is up to date: {} components running, nothing to do\n", r.running.size());
    std::string out;
    if (!r.created.empty()) out += fmt::format("created: {}\n", util::join(r.created, ", "));
    if (!r.started.empty()) out += fmt::format("restarted: {}\n", util::join(r.started, ", "));
    if (!r.removed.empty()) out += fmt::format("removed: {}\n", util::join(r.removed, ", "));
    out += fmt::format("local stack is up ({} components, {:.1f}s); 'statectl status' shows it\n",
                       r.created.size() + r.started.size() + r.running.size(), seconds);
    return out;
  }
  std::string out;
  if (changes) out += fmt::format("applied: {} added, {} changed, {} destroyed\n", changes->add, changes->change, changes->destroy);
  for (const auto& [k, v] : checks) out += fmt::format("verified {}: {}\n", k, v);
  out += outputs_text(outputs);
  out += fmt::format("{} deploy of {} is up; the applied render is in {}\n", target, project, dir);
  return out;
}

json DestroyResult::to_json() const
{
  if (target == "local") return {{"target", "local"}, {"stopped", stopped}, {"purged", purged}, {"state_dir", dir}};
  json doc = {{"target", target},   {"project", project}, {"dir", dir},         {"dry_run", dry_run},
              {"destroyed", destroyed}, {"purged", purged}, {"deleted", deleted}};
  if (!cloud.empty()) doc["cloud"] = cloud;
  if (!compose.empty()) doc["compose"] = compose;
  if (changes) doc["changes"] = changes_json(*changes);
  return doc;
}

std::string DestroyResult::to_text() const
{
  if (dry_run) return "";
  if (target == "local") {
    std::string out = stopped.empty() ? "nothing was running\n" : fmt::format("stopped: {}\n", util::join(stopped, ", "));
    if (purged) out += fmt::format("deleted the data in {}\n", dir);
    return out;
  }
  if (!destroyed) return "nothing to destroy\n";
  std::string out;
  if (changes) out += fmt::format("destroyed: {} resources\n", changes->destroy);
  if (!deleted.empty()) out += fmt::format("deleted: {}\n", util::join(deleted, ", "));
  if (target != "terraform")
    out += purged ? fmt::format("{} deploy of {} is gone, data included\n", target, project)
                  : fmt::format("{} deploy of {} is down; its data is kept (destroy --purge deletes it)\n", target, project);
  return out;
}

json StatusResult::to_json() const
{
  if (local) return local->to_json();
  json comps = json::array();
  for (const auto& c : components) {
    json j = {{"name", c.name}, {"kind", c.kind}, {"role", c.role}, {"ready", c.ready}, {"healthy", c.healthy}, {"version", c.version}};
    if (!c.error.empty()) j["error"] = c.error;
    comps.push_back(j);
  }
  json doc = {{"target", target}, {"project", project}, {"dir", dir}, {"components", comps}, {"problems", problems}, {"healthy", healthy}};
  if (!cloud.empty()) doc["cloud"] = cloud;
  if (replication) {
    json standbys = json::array();
    for (const auto& s : replication->standbys) standbys.push_back({{"name", s.name}, {"state", s.state}, {"lag_bytes", s.lag_bytes}});
    doc["replication"] = {{"expected", replication->expected}, {"streaming", replication->streaming}, {"standbys", standbys}};
  }
  if (has_sentinel) doc["sentinel_master"] = sentinel_master ? json(*sentinel_master) : json(nullptr);
  if (outputs) doc["outputs"] = *outputs;
  return doc;
}

std::string StatusResult::to_text() const
{
  if (local) return local->to_text();
  output::Table t{{"NAME", "KIND", "ROLE", "READY", "HEALTHY", "VERSION"}, {}};
  for (const auto& c : components) t.rows.push_back({c.name, c.kind, c.role, c.ready, c.healthy ? "yes" : "no", c.version});
  std::string text = t.render();
  if (replication) {
    std::int64_t max_lag = 0;
    for (const auto& s : replication->standbys) max_lag = std::max(max_lag, s.lag_bytes);
    text += fmt::format("\nreplication: {}/{} standbys streaming, most behind {}\n", replication->streaming, replication->expected,
                        util::format_size(static_cast<std::uint64_t>(max_lag)));
  }
  if (has_sentinel) text += fmt::format("sentinel master: {}\n", sentinel_master.value_or("unknown"));
  if (!problems.empty()) {
    text += "\nproblems:\n";
    for (const auto& p : problems) text += fmt::format("  {}\n", p);
  }
  if (outputs) {
    text += outputs_text(*outputs);
    text += "health of the managed services: see the cloud's console or CLI\n";
  }
  return text;
}

json ScaleResult::to_json() const
{
  json doc = {{"component", component}, {"replicas", replicas}, {"target", target}, {"dry_run", dry_run}, {"recorded", recorded}};
  if (masters) doc["masters"] = *masters;
  if (!service.empty()) doc["service"] = service;
  if (!workload.empty()) doc["workload"] = workload;
  if (target == "local") {
    doc["created"] = created;
    doc["removed"] = removed;
  }
  if (apply) doc["apply"] = apply->to_json();
  return doc;
}

std::string ScaleResult::to_text() const
{
  if (dry_run) return "";
  if (masters && replicas < 0) return fmt::format("{} scaled to {} masters on {}\n", component, *masters, target);
  if (masters) return fmt::format("{} scaled to {} masters with {} replicas each on {}\n", component, *masters, replicas, target);
  return fmt::format("{} scaled to {} on {}\n", component, replicas, target);
}

} // namespace statectl::targets

// A Redis Cluster on the compose target: the node containers, asked with `docker exec NODE
// redis-cli` (the password read from the container's own secret file, never in argv), formed
// once with `redis-cli --cluster create`.
#include "core/targets/compose_cluster.h"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <thread>

#include "core/clients/redis.h"
#include "core/clients/redis_cluster.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::targets::detail::compose_cluster {

using namespace std::chrono;

namespace {

// `sh -c` inside a node: redis-cli with the password of the node's secret file.
const char* k_cli = "REDISCLI_AUTH=\"$(cat /run/secrets/redis)\" exec redis-cli \"$@\"";

struct Node {
  std::string service;
  std::string container; // empty when the engine runs none
  std::string ip;
  bool answered = false;
  std::string error;
  std::map<std::string, std::string> info; // INFO replication + CLUSTER INFO fields
};

long long number(const std::map<std::string, std::string>& m, const std::string& key)
{
  auto it = m.find(key);
  if (it == m.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return 0;
  }
}

// The node containers with their address on the project's network.
std::vector<Node> containers(Remote& t, const deploy::Compose& compose)
{
  std::vector<Node> out;
  for (const auto& service : node_services(t.cfg)) {
    Node n;
    n.service = service;
    auto ids = deploy::compose_containers(t.runner, compose, service);
    if (!ids.empty()) {
      auto lines = deploy::docker_inspect(t.runner, {ids.front()}, "{{.Name}}|{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}");
      if (!lines.empty()) {
        auto f = util::split(util::trim(lines.front()), '|');
        n.container = f[0].substr(f[0].rfind('/') == std::string::npos ? 0 : f[0].rfind('/') + 1);
        if (f.size() > 1) n.ip = util::split(util::trim(f[1]), ' ').front();
      }
    }
    out.push_back(n);
  }
  return out;
}

// Asks one node for INFO replication and CLUSTER INFO.
void ask(Remote& t, Node& n)
{
  n.answered = false;
  n.info.clear();
  if (n.container.empty()) {
    n.error = "no container";
    return;
  }
  std::vector<std::string> argv = {"docker", "exec", n.container, "sh", "-c",
                                   "REDISCLI_AUTH=\"$(cat /run/secrets/redis)\"; export REDISCLI_AUTH; "
                                   "redis-cli INFO replication && redis-cli CLUSTER INFO"};
  exec::Result r = t.runner.run(deploy::command(argv, false, seconds(30)));
  if (!r.ok()) {
    n.error = deploy::tool_error(r);
    return;
  }
  n.info = clients::info_fields(r.out);
  n.answered = n.info.count("cluster_state") > 0;
  if (!n.answered) n.error = util::trim(r.out).substr(0, 200);
}

bool fresh(const Node& n) { return number(n.info, "cluster_known_nodes") <= 1 && number(n.info, "cluster_slots_assigned") == 0; }

std::string describe(const std::vector<Node>& nodes)
{
  std::vector<std::string> parts;
  for (const auto& n : nodes)
    parts.push_back(n.answered ? fmt::format("{}: cluster_state {}, {} node(s) known, {} slots assigned", n.service, n.info.at("cluster_state"),
                                             number(n.info, "cluster_known_nodes"), number(n.info, "cluster_slots_assigned"))
                               : fmt::format("{}: {}", n.service, n.error.empty() ? "no answer" : n.error));
  return util::join(parts, "; ");
}

} // namespace

bool enabled(const config::Config& cfg) { return config::settings(cfg).redis.mode == "cluster"; }

std::vector<std::string> node_services(const config::Config& cfg)
{
  std::int64_t n = config::settings(cfg).redis.cluster_masters * (1 + config::settings(cfg).redis.cluster_replicas);
  std::vector<std::string> out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back(fmt::format("redis-node-{}", i));
  return out;
}

clients::AddressMap address_map(const std::vector<std::string>& services, const std::map<std::string, int>& ports)
{
  clients::AddressMap nat;
  for (const auto& s : services)
    if (auto it = ports.find(s); it != ports.end()) nat[s + ":6379"] = {"127.0.0.1", it->second};
  return nat;
}

void form(Remote& t, const deploy::Compose& compose, milliseconds timeout)
{
  const auto replicas = config::settings(t.cfg).redis.cluster_replicas;
  if (t.planning()) {
    t.printer.plan(fmt::format("form the Redis Cluster when its nodes are new: redis-cli --cluster create (the {} nodes' addresses) "
                               "--cluster-replicas {} --cluster-yes inside redis-node-0",
                               node_services(t.cfg).size(), replicas));
    return;
  }
  auto deadline = steady_clock::now() + timeout;
  std::vector<Node> nodes;
  // Every node answers (a restarted node answers LOADING while it reads its AOF back).
  while (true) {
    nodes = containers(t, compose);
    for (auto& n : nodes) ask(t, n);
    if (std::all_of(nodes.begin(), nodes.end(), [](const Node& n) { return n.answered && !n.ip.empty(); })) break;
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::external, fmt::format("the Redis Cluster nodes did not all answer within {}", util::format_duration(timeout)),
                  describe(nodes), fmt::format("see their logs with: {}", exec::display(compose.argv({"logs", "redis-node-0"}))));
    std::this_thread::sleep_for(seconds(1));
  }
  const auto count = static_cast<long long>(nodes.size());
  bool all_fresh = std::all_of(nodes.begin(), nodes.end(), fresh);
  bool formed = std::all_of(nodes.begin(), nodes.end(), [&](const Node& n) {
    return number(n.info, "cluster_known_nodes") == count && number(n.info, "cluster_slots_assigned") == clients::k_cluster_slots;
  });
  if (all_fresh) {
    t.printer.info(fmt::format("forming a Redis Cluster of {} masters with {} replica{} each (redis-cli --cluster create in {})",
                               config::settings(t.cfg).redis.cluster_masters, replicas, replicas == 1 ? "" : "s", nodes.front().container));
    std::vector<std::string> argv = {"docker", "exec", nodes.front().container, "sh", "-c", k_cli, "redis-cli", "--cluster", "create"};
    for (const auto& n : nodes) argv.push_back(n.ip + ":6379");
    argv.insert(argv.end(), {"--cluster-replicas", std::to_string(replicas), "--cluster-yes"});
    deploy::run_checked(t.runner, deploy::command(argv, true, timeout), "creating the Redis Cluster (redis-cli --cluster create)");
  } else if (!formed) {
    throw Error(ExitCode::failed, "the compose Redis Cluster is neither new nor complete", describe(nodes),
                "run 'statectl destroy --target compose --purge' and deploy again (it deletes the data)");
  }
  while (true) {
    for (auto& n : nodes) ask(t, n);
    bool ok = std::all_of(nodes.begin(), nodes.end(), [&](const Node& n) {
      return n.answered && n.info.at("cluster_state") == "ok" && number(n.info, "cluster_known_nodes") == count;
    });
    if (ok) return;
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::external, fmt::format("the Redis Cluster did not become ok within {}", util::format_duration(timeout)),
                  describe(nodes), fmt::format("see the nodes' logs with: {}", exec::display(compose.argv({"logs", "redis-node-0"}))));
    std::this_thread::sleep_for(seconds(1));
  }
}

std::vector<std::string> annotate(Remote& t, const deploy::Compose& compose, const std::vector<std::string>& services,
                                  std::vector<ComponentRow>& rows)
{
  std::vector<Node> nodes = containers(t, compose);
  long long slots = 0;
  bool any = false;
  for (auto& n : nodes) {
    auto it = std::find(services.begin(), services.end(), n.service);
    if (it == services.end()) continue;
    ComponentRow& c = rows[static_cast<std::size_t>(it - services.begin())];
    if (!c.healthy) continue;
    ask(t, n);
    if (!n.answered) {
      c.healthy = false;
      c.error = "does not answer: " + n.error;
      continue;
    }
    any = true;
    c.role = n.info["role"] == "slave" ? "replica" : "master";
    c.ready = fmt::format("cluster {}", n.info["cluster_state"]);
    if (c.role == "master") slots = std::max(slots, number(n.info, "cluster_slots_assigned"));
    if (n.info["cluster_state"] != "ok") {
      c.healthy = false;
      c.error = "cluster_state " + n.info["cluster_state"];
    }
  }
  std::vector<std::string> problems;
  if (any && slots != clients::k_cluster_slots)
    problems.push_back(fmt::format("{} of {} slots are assigned", slots, clients::k_cluster_slots));
  return problems;
}

} // namespace statectl::targets::detail::compose_cluster

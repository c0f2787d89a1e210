// Redis Cluster on the local target: cluster-enabled redis-server processes (the same driver as
// the Sentinel mode's servers, redis.cpp), formed once with `redis-cli --cluster create` the way
// an operator would, and found again after a stop because every node keeps its identity and the
// cluster layout in its own nodes.conf.
#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <thread>

#include "core/clients/redis.h"
#include "core/clients/redis_cluster.h"
#include "core/config/config.h"
#include "core/error.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/util/strings.h"

namespace statectl::local::redis_cluster {

namespace fs = std::filesystem;
using namespace std::chrono;
using clients::RedisConnection;
using clients::RedisValue;

namespace {


long long to_ll(const std::string& s)
{
  try {
    return std::stoll(s);
  } catch (...) {
    return 0;
  }
}

// The text of a command's reply, or "" (and why) when it failed.
std::string text_of(RedisConnection& c, const std::vector<std::string>& args, std::string& error)
{
  try {
    RedisValue r = c.command(args);
    if (r.is_error()) {
      error = r.str;
      return {};
    }
    return r.text();
  } catch (const clients::RedisError& e) {
    error = e.what();
    return {};
  }
}

} // namespace

int bus_port(const config::Config& cfg, const Member& m)
{
  return static_cast<int>(cfg.get_int("local.redis_cluster_bus_port")) + (m.port - static_cast<int>(cfg.get_int("local.redis_port")));
}

std::string node_config(const config::Config& cfg, const Member& m)
{
  return fmt::format("cluster-enabled yes\n"
                     "cluster-config-file nodes.conf\n"
                     "cluster-port {}\n"
                     "cluster-node-timeout {}\n"
                     "cluster-announce-ip 127.0.0.1\n",
                     bus_port(cfg, m), cfg.get_duration("redis.cluster_node_timeout").count());
}

NodeProbe probe(int port, const std::string& password, milliseconds timeout)
{
  NodeProbe p;
  clients::RedisOptions o;
  o.port = port;
  o.password = password;
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  RedisConnection c;
  try {
    c = RedisConnection::connect(o);
  } catch (const clients::RedisError& e) {
    p.error = e.what();
    return p;
  }
  auto info = clients::info_fields(text_of(c, {"INFO"}, p.error));
  if (!p.error.empty()) return p;
  auto cluster = clients::info_fields(text_of(c, {"CLUSTER", "INFO"}, p.error));
  std::string nodes = text_of(c, {"CLUSTER", "NODES"}, p.error);
  if (!p.error.empty()) return p;
  p.ok = true;
  p.version = info["redis_version"];
  p.role = info["role"] == "slave" ? "replica" : "master";
  p.link_up = info["master_link_status"] == "up";
  p.master_port = static_cast<int>(to_ll(info["master_port"]));
  p.offset = to_ll(p.role == "replica" ? info["slave_repl_offset"] : info["master_repl_offset"]);
  p.state = cluster["cluster_state"];
  p.known_nodes = static_cast<int>(to_ll(cluster["cluster_known_nodes"]));
  p.slots_assigned = static_cast<int>(to_ll(cluster["cluster_slots_assigned"]));
  // <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot> <slot> ...
  for (const auto& line : util::split(nodes, '\n')) {
    auto f = util::split(util::trim(line), ' ');
    if (f.size() < 8 || f[2].find("myself") == std::string::npos) continue;
    p.id = f[0];
    std::vector<std::string> slots;
    for (std::size_t i = 8; i < f.size(); ++i)
      if (!f[i].empty() && f[i][0] != '[') slots.push_back(f[i]);
    p.slots = util::join(slots, ",");
  }
  return p;
}

void form(Site& site, StackState& state, milliseconds timeout)
{
  std::vector<Member*> nodes = state.of_kind("redis");
  std::sort(nodes.begin(), nodes.end(), [](auto* a, auto* b) { return a->port < b->port; });
  int masters = static_cast<int>(site.cfg.get_int("redis.cluster_masters"));
  int replicas = static_cast<int>(site.cfg.get_int("redis.cluster_replicas"));
  std::string password = site.secret("redis");
  exec::Command create;
  create.argv = {site.binary("redis-cli", "redis-tools"), "--cluster", "create"};
  // Masters first: redis-cli makes the first `masters` addresses of one host the masters.
  for (auto* n : nodes) create.argv.push_back(fmt::format("127.0.0.1:{}", n->port));
  create.argv.insert(create.argv.end(), {"--cluster-replicas", std::to_string(replicas), "--cluster-yes"});
  create.env["REDISCLI_AUTH"] = password; // never argv
  create.mutating = true;
  create.timeout = timeout;
  if (site.planning()) {
    site.runner.run(create);
    return;
  }
  if (static_cast<int>(nodes.size()) != masters * (1 + replicas))
    throw Error(ExitCode::failed, "the local Redis Cluster has another size than the config asks for",
                fmt::format("{} nodes recorded, [redis] cluster_masters = {} with cluster_replicas = {} needs {}", nodes.size(), masters,
                            replicas, masters * (1 + replicas)),
                "resizing a cluster is not supported yet: run 'statectl destroy --purge' and deploy again");

  // Fresh nodes know only themselves and serve no slot; formed ones know every node. Anything
  // else (a node whose nodes.conf was lost, a half-made cluster) is not repaired by guessing.
  std::vector<NodeProbe> seen;
  bool fresh = true, formed = true;
  for (auto* n : nodes) {
    // A restarted node answers LOADING while it reads its AOF back.
    NodeProbe p;
    wait_for([&] { return (p = probe(n->port, password, 2000ms)).ok; }, timeout, 200ms);
    if (!p.ok) throw Error(ExitCode::external, fmt::format("{} does not answer", n->name), p.error, "see " + n->log);
    fresh = fresh && p.known_nodes <= 1 && p.slots_assigned == 0;
    formed = formed && p.known_nodes == static_cast<int>(nodes.size()) && p.slots_assigned == clients::k_cluster_slots;
    seen.push_back(p);
  }
  if (fresh) {
    site.printer.info(fmt::format("forming a Redis Cluster of {} masters with {} replica{} each (redis-cli --cluster create)", masters,
                                  replicas, replicas == 1 ? "" : "s"));
    site.run(create, "redis-cluster", "creating the cluster", "see the nodes' logs under " + site.state_dir().string());
  } else if (!formed) {
    std::vector<std::string> what;
    for (std::size_t i = 0; i < nodes.size(); ++i)
      what.push_back(fmt::format("{} knows {} node(s), {} slots assigned", nodes[i]->name, seen[i].known_nodes, seen[i].slots_assigned));
    throw Error(ExitCode::failed, "the local Redis Cluster is neither new nor complete", util::join(what, "; "),
                "run 'statectl destroy --purge' and deploy again (it deletes the data)");
  }

  // Every node must agree that the cluster is up before state commands can use it.
  std::string last;
  bool ok = wait_for(
    [&] {
      for (auto* n : nodes) {
        NodeProbe p = probe(n->port, password, 1000ms);
        if (!p.ok || p.state != "ok" || p.known_nodes != static_cast<int>(nodes.size())) {
          last = fmt::format("{}: {}", n->name, p.ok ? fmt::format("cluster_state {}, {} nodes known", p.state, p.known_nodes) : p.error);
          return false;
        }
      }
      return true;
    },
    timeout, 200ms);
  if (!ok)
    throw Error(ExitCode::external, fmt::format("the Redis Cluster did not become ok within {}", util::format_duration(timeout)), last,
                "see the nodes' logs under " + site.state_dir().string());
  record_roles(state, password);
}

void record_roles(StackState& state, const std::string& password)
{
  for (auto* n : state.of_kind("redis")) {
    if (!process_matches(n->pid, n->start_time)) continue;
    NodeProbe p = probe(n->port, password, 1000ms);
    if (p.ok) n->role = p.role;
  }
}

} // namespace statectl::local::redis_cluster

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
#include "core/config/settings.h"
#include "core/error.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/local/redis_acl.h"
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

// The slot ranges a CLUSTER NODES line's node serves (fields 8 on), without the [slot->-id]
// entries of slots being migrated.
std::vector<std::string> served_slots(const std::vector<std::string>& fields)
{
  std::vector<std::string> slots;
  for (std::size_t i = 8; i < fields.size(); ++i)
    if (!fields[i].empty() && fields[i][0] != '[') slots.push_back(fields[i]);
  return slots;
}

} // namespace

int bus_port(const config::Config& cfg, const Member& m)
{
  return static_cast<int>(config::settings(cfg).local.redis_cluster_bus_port) + (m.port - static_cast<int>(config::settings(cfg).local.redis_port));
}

std::string node_config(const config::Config& cfg, const Member& m)
{
  const auto& s = config::settings(cfg);
  // With TLS (the node's port is its tls-port, see redis.cpp's common()) the cluster bus speaks
  // TLS too, and the nodes announce their TLS port in CLUSTER SLOTS and redirects.
  return fmt::format("cluster-enabled yes\n"
                     "cluster-config-file nodes.conf\n"
                     "cluster-port {}\n"
                     "cluster-node-timeout {}\n"
                     "cluster-announce-ip 127.0.0.1\n{}",
                     bus_port(cfg, m), s.redis.cluster_node_timeout.count(), s.tls.enabled ? "tls-cluster yes\n" : "");
}

NodeLogin node_login(Site& site, const StackState& state)
{
  NodeLogin l;
  if (state.redis_acl) l.user = redis_acl::k_admin_user;
  l.password = site.secret(redis_acl::k_admin_secret);
  if (site.tls()) {
    l.tls.enabled = true;
    l.tls.ca_file = tls_files(site.cfg).ca.string();
  }
  return l;
}

namespace {

clients::RedisOptions node_options(const NodeLogin& login, int port, milliseconds timeout)
{
  clients::RedisOptions o;
  o.port = port;
  o.user = login.user;
  o.password = login.password;
  o.tls = login.tls;
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  return o;
}

} // namespace

NodeProbe probe(int port, const NodeLogin& login, milliseconds timeout)
{
  NodeProbe p;
  RedisConnection c;
  try {
    c = RedisConnection::connect(node_options(login, port, timeout));
  } catch (const clients::RedisError& e) {
    p.error = e.what();
    return p;
  }
  p.tls_protocol = c.tls_protocol();
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
    p.slots = util::join(served_slots(f), ",");
  }
  return p;
}

Shape shape(const config::Config& cfg, const StackState& state)
{
  auto recorded = [&](const std::string& key, std::int64_t fallback) {
    auto it = state.scaled.find(key);
    return it != state.scaled.end() ? it->second : static_cast<int>(fallback);
  };
  const auto& redis = config::settings(cfg).redis;
  return {recorded("redis_masters", redis.cluster_masters), recorded("redis", redis.cluster_replicas)};
}

namespace {

// One node of the cluster and what it says about itself.
struct Node {
  Member* member = nullptr;
  NodeProbe probe;
  bool fresh() const { return probe.known_nodes <= 1 && probe.slots_assigned == 0; }
  bool serves_slots() const { return probe.role == "master" && !probe.slots.empty(); }
};

// Every recorded node by port, each asked until it answers (a restarted node answers LOADING
// while it reads its AOF back).
std::vector<Node> ask_nodes(StackState& state, const NodeLogin& login, milliseconds timeout)
{
  std::vector<Node> out;
  for (auto* n : state.of_kind("redis")) {
    Node node{n, {}};
    wait_for([&] { return (node.probe = probe(n->port, login, 2000ms)).ok; }, timeout, 200ms);
    if (!node.probe.ok) throw Error(ExitCode::external, fmt::format("{} does not answer", n->name), node.probe.error, "see " + n->log);
    out.push_back(node);
  }
  std::sort(out.begin(), out.end(), [](const Node& a, const Node& b) { return a.member->port < b.member->port; });
  return out;
}

// The start of a redis-cli command line that logs in as login: --tls --cacert (the stack's CA)
// and --user; the password goes in REDISCLI_AUTH, never in argv.
exec::Command cluster_cli(Site& site, const NodeLogin& login)
{
  exec::Command c;
  c.argv = {site.binary("redis-cli", "redis-tools")};
  if (login.tls.enabled) c.argv.insert(c.argv.end(), {"--tls", "--cacert", login.tls.ca_file});
  if (!login.user.empty()) c.argv.insert(c.argv.end(), {"--user", login.user});
  c.env["REDISCLI_AUTH"] = login.password;
  return c;
}

// `redis-cli --cluster ARGS...` as cluster_cli() logs in.
void cluster_tool(Site& site, const NodeLogin& login, std::vector<std::string> args, const std::string& what, milliseconds timeout)
{
  exec::Command c = cluster_cli(site, login);
  c.argv.push_back("--cluster");
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.mutating = true;
  c.timeout = timeout;
  site.run(c, "redis-cluster", what, "see the nodes' logs under " + site.state_dir().string());
}

std::string address(const Member& m) { return fmt::format("127.0.0.1:{}", m.port); }

// Waits until every one of `nodes` reports cluster_state ok and knows all of them.
void wait_agreed(const std::vector<Member*>& nodes, const NodeLogin& login, milliseconds timeout)
{
  std::string last;
  bool ok = wait_for(
    [&] {
      for (auto* n : nodes) {
        NodeProbe p = probe(n->port, login, 1000ms);
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
                "see the nodes' logs under the local state directory");
}

// One node's view of who serves which slots: its CLUSTER NODES lines of masters with slots, as
// "id slots...", sorted; "" when it does not answer.
std::string slot_view(int port, const NodeLogin& login)
{
  std::string error, nodes;
  try {
    auto c = RedisConnection::connect(node_options(login, port, 2s));
    nodes = text_of(c, {"CLUSTER", "NODES"}, error);
  } catch (const clients::RedisError&) {
    return {};
  }
  std::vector<std::string> view;
  for (const auto& line : util::split(nodes, '\n')) {
    auto f = util::split(util::trim(line), ' ');
    if (f.size() < 9) continue;
    if (auto slots = served_slots(f); !slots.empty()) view.push_back(f[0] + " " + util::join(slots, " "));
  }
  std::sort(view.begin(), view.end());
  return util::join(view, "\n");
}

// Waits until every node has the same slot view (after a rebalance the new owners spread by
// gossip; redis-cli refuses to add a node while "nodes don't agree about configuration").
void wait_same_slots(const std::vector<Member*>& nodes, const NodeLogin& login, milliseconds timeout)
{
  bool ok = wait_for(
    [&] {
      std::string first = slot_view(nodes.front()->port, login);
      if (first.empty()) return false;
      return std::all_of(nodes.begin(), nodes.end(), [&](Member* n) { return slot_view(n->port, login) == first; });
    },
    timeout, 250ms);
  if (!ok)
    throw Error(ExitCode::external, fmt::format("the Redis Cluster nodes did not agree on the slots within {}", util::format_duration(timeout)),
                "after moving slots, the nodes still name different owners", "run 'statectl status' and 'redis-cli --cluster check'");
}

// The replicas of each master (by the master's port), from the replicas' own INFO.
std::map<int, std::vector<Node*>> replicas_by_master(std::vector<Node>& nodes)
{
  std::map<int, std::vector<Node*>> out;
  for (auto& n : nodes)
    if (n.serves_slots()) out[n.member->port];
  for (auto& n : nodes)
    if (n.probe.role == "replica") out[n.probe.master_port].push_back(&n);
  return out;
}

// Adds the fresh nodes to the complete cluster of the others (see form()).
void grow(Site& site, const NodeLogin& login, std::vector<Node>& nodes, Shape want, milliseconds timeout)
{
  std::vector<Node*> fresh, formed;
  for (auto& n : nodes) (n.fresh() ? fresh : formed).push_back(&n);
  for (auto* n : formed)
    if (n->probe.known_nodes != static_cast<int>(formed.size()) || n->probe.slots_assigned != clients::k_cluster_slots)
      throw Error(ExitCode::failed, "the local Redis Cluster is not complete, so it cannot grow",
                  fmt::format("{} knows {} of {} formed node(s), {} slots assigned", n->member->name, n->probe.known_nodes, formed.size(),
                              n->probe.slots_assigned),
                  "run 'statectl status'; after a failed scale run 'statectl destroy --purge' and deploy again (it deletes the data)");
  // redis-cli refuses to add a node while the nodes disagree about the slots (after a failover
  // or a reshard the news spreads by gossip).
  std::vector<Member*> formed_members;
  for (auto* n : formed) formed_members.push_back(n->member);
  wait_same_slots(formed_members, login, timeout);
  std::string entry = address(*formed.front()->member);
  int masters_now = static_cast<int>(std::count_if(formed.begin(), formed.end(), [](Node* n) { return n->serves_slots(); }));
  std::size_t next = 0;
  std::vector<Member*> new_masters;
  for (int i = masters_now; i < want.masters && next < fresh.size(); ++i) {
    Member* m = fresh[next++]->member;
    site.printer.info(fmt::format("adding {} as a new master (redis-cli --cluster add-node)", m->name));
    cluster_tool(site, login, {"add-node", address(*m), entry}, "adding " + m->name, timeout);
    new_masters.push_back(m);
  }
  if (!new_masters.empty()) {
    std::vector<Member*> all;
    for (auto* n : formed) all.push_back(n->member);
    all.insert(all.end(), new_masters.begin(), new_masters.end());
    wait_agreed(all, login, timeout);
    site.printer.info("moving slots to the new masters (redis-cli --cluster rebalance --cluster-use-empty-masters)");
    cluster_tool(site, login, {"rebalance", entry, "--cluster-use-empty-masters"}, "rebalancing the slots", timeout);
    wait_same_slots(all, login, timeout);
  }
  // Replicas for every master short of them, the new masters included.
  std::vector<Node> now;
  for (auto& n : nodes)
    if (!n.fresh() || std::find(new_masters.begin(), new_masters.end(), n.member) != new_masters.end())
      now.push_back({n.member, probe(n.member->port, login, 2000ms)});
  for (auto& [master_port, replicas] : replicas_by_master(now)) {
    auto master = std::find_if(now.begin(), now.end(), [&, port = master_port](const Node& n) { return n.member->port == port; });
    if (master == now.end() || master->probe.id.empty()) continue;
    for (auto have = static_cast<int>(replicas.size()); have < want.replicas && next < fresh.size(); ++have) {
      Member* m = fresh[next++]->member;
      site.printer.info(fmt::format("adding {} as a replica of {}", m->name, master->member->name));
      cluster_tool(site, login, {"add-node", address(*m), entry, "--cluster-slave", "--cluster-master-id", master->probe.id},
                   "adding " + m->name, timeout);
    }
  }
  if (next < fresh.size())
    throw Error(ExitCode::failed, fmt::format("{} new node(s) have no place in the cluster", fresh.size() - next),
                fmt::format("{} masters with {} replicas each are asked for", want.masters, want.replicas),
                "run 'statectl status' and 'statectl scale redis' again with the counts you want");
}

} // namespace

void form(Site& site, StackState& state, milliseconds timeout)
{
  std::vector<Member*> members = state.of_kind("redis");
  std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return a->port < b->port; });
  Shape want = shape(site.cfg, state);
  NodeLogin login = node_login(site, state);
  exec::Command create = cluster_cli(site, login);
  create.argv.insert(create.argv.end(), {"--cluster", "create"});
  // Masters first: redis-cli makes the first `masters` addresses of one host the masters.
  for (auto* n : members) create.argv.push_back(address(*n));
  create.argv.insert(create.argv.end(), {"--cluster-replicas", std::to_string(want.replicas), "--cluster-yes"});
  create.mutating = true;
  create.timeout = timeout;
  if (site.planning()) {
    // A cluster that runs grows; a new one is created.
    if (std::any_of(members.begin(), members.end(), [](const Member* m) { return process_matches(m->pid, m->start_time); }))
      site.note(fmt::format("add the new nodes to the cluster (redis-cli --cluster add-node; masters first, then `--cluster rebalance "
                            "--cluster-use-empty-masters`, then replicas up to {} per master)",
                            want.replicas));
    else site.runner.run(create);
    return;
  }
  if (static_cast<int>(members.size()) != want.masters * (1 + want.replicas))
    throw Error(ExitCode::failed, "the local Redis Cluster has another size than it should",
                fmt::format("{} nodes recorded, {} masters with {} replicas each need {}", members.size(), want.masters, want.replicas,
                            want.masters * (1 + want.replicas)),
                "run 'statectl scale redis --masters M --replicas N' to resize it");

  // Fresh nodes know only themselves and serve no slot; formed ones know every formed node. All
  // fresh: a new cluster; some fresh beside a complete cluster: `scale` grows it; anything else (a
  // node whose nodes.conf was lost, a half-made cluster) is not repaired by guessing.
  std::vector<Node> nodes = ask_nodes(state, login, timeout);
  bool all_fresh = std::all_of(nodes.begin(), nodes.end(), [](const Node& n) { return n.fresh(); });
  bool some_fresh = std::any_of(nodes.begin(), nodes.end(), [](const Node& n) { return n.fresh(); });
  bool formed = std::all_of(nodes.begin(), nodes.end(), [&](const Node& n) {
    return n.probe.known_nodes == static_cast<int>(nodes.size()) && n.probe.slots_assigned == clients::k_cluster_slots;
  });
  if (all_fresh) {
    site.printer.info(fmt::format("forming a Redis Cluster of {} masters with {} replica{} each (redis-cli --cluster create)", want.masters,
                                  want.replicas, want.replicas == 1 ? "" : "s"));
    site.run(create, "redis-cluster", "creating the cluster", "see the nodes' logs under " + site.state_dir().string());
  } else if (some_fresh) {
    grow(site, login, nodes, want, timeout);
  } else if (!formed) {
    std::vector<std::string> what;
    for (const auto& n : nodes)
      what.push_back(fmt::format("{} knows {} node(s), {} slots assigned", n.member->name, n.probe.known_nodes, n.probe.slots_assigned));
    throw Error(ExitCode::failed, "the local Redis Cluster is neither new nor complete", util::join(what, "; "),
                "run 'statectl destroy --purge' and deploy again (it deletes the data)");
  }
  // Every node must agree that the cluster is up before state commands can use it.
  wait_agreed(members, login, timeout);
  record_roles(state, login);
}

std::vector<std::string> shrink(Site& site, StackState& state, Shape want, milliseconds timeout)
{
  NodeLogin login = node_login(site, state);
  if (site.planning()) {
    Shape now = shape(site.cfg, state);
    if (want.masters >= now.masters && want.replicas >= now.replicas) return {};
    site.note(fmt::format("move the slots of the masters beyond {} to the others (redis-cli --cluster rebalance --cluster-weight ID=0), "
                          "then remove the spare nodes (redis-cli --cluster del-node)",
                          want.masters));
    return {};
  }
  std::vector<Node> nodes = ask_nodes(state, login, timeout);
  for (const auto& n : nodes)
    if (n.probe.state != "ok" || n.probe.known_nodes != static_cast<int>(nodes.size()) || n.fresh())
      throw Error(ExitCode::failed, "the local Redis Cluster is not complete and ok, so it is not resized",
                  fmt::format("{}: cluster_state {}, {} of {} nodes known", n.member->name, n.probe.state, n.probe.known_nodes, nodes.size()),
                  "run 'statectl status' and 'statectl deploy' to repair it first");
  std::vector<Node*> masters;
  for (auto& n : nodes)
    if (n.serves_slots()) masters.push_back(&n);
  std::sort(masters.begin(), masters.end(), [](Node* a, Node* b) { return a->member->port > b->member->port; });
  std::vector<Node*> leaving_masters;
  for (std::size_t i = 0; static_cast<int>(masters.size() - leaving_masters.size()) > want.masters && i < masters.size(); ++i)
    leaving_masters.push_back(masters[i]);
  std::string entry = address(*masters.back()->member); // a master that stays: the lowest index
  if (!leaving_masters.empty()) {
    std::vector<std::string> args = {"rebalance", entry, "--cluster-weight"};
    std::vector<std::string> names;
    for (auto* m : leaving_masters) {
      args.push_back(m->probe.id + "=0");
      names.push_back(m->member->name);
    }
    site.printer.info(fmt::format("moving the slots of {} to the other masters (redis-cli --cluster rebalance)", util::join(names, ", ")));
    cluster_tool(site, login, args, "moving the slots away", timeout);
    std::vector<Member*> all;
    for (auto& n : nodes) all.push_back(n.member);
    wait_agreed(all, login, timeout);
    wait_same_slots(all, login, timeout);
    // An emptied master's replicas may have migrated to the master that took its last slots.
    nodes = ask_nodes(state, login, timeout);
  }
  auto leaving = [&](const Node& n) {
    return std::any_of(leaving_masters.begin(), leaving_masters.end(), [&](Node* m) { return m->member == n.member; });
  };
  // Spare replicas: those of leaving masters and those beyond want.replicas (highest port first).
  std::vector<Node*> spare;
  std::vector<std::pair<Node*, int>> short_of; // staying master, replicas missing
  auto groups = replicas_by_master(nodes);
  for (auto& [master_port, replicas] : groups) {
    auto master = std::find_if(nodes.begin(), nodes.end(), [&, port = master_port](const Node& n) { return n.member->port == port; });
    std::sort(replicas.begin(), replicas.end(), [](Node* a, Node* b) { return a->member->port < b->member->port; });
    bool master_leaves = master == nodes.end() || leaving(*master) || !master->serves_slots();
    int keep = master_leaves ? 0 : want.replicas;
    for (std::size_t i = keep; i < replicas.size(); ++i) spare.push_back(replicas[i]);
    if (!master_leaves && static_cast<int>(replicas.size()) < keep) short_of.emplace_back(&*master, keep - static_cast<int>(replicas.size()));
  }
  for (auto& [master, missing] : short_of)
    for (; missing > 0 && !spare.empty(); --missing) {
      Node* r = spare.back();
      spare.pop_back();
      site.printer.info(fmt::format("{} becomes a replica of {} (CLUSTER REPLICATE)", r->member->name, master->member->name));
      std::string error;
      try {
        auto c = RedisConnection::connect(node_options(login, r->member->port, 5s));
        text_of(c, {"CLUSTER", "REPLICATE", master->probe.id}, error);
      } catch (const clients::RedisError& e) {
        error = e.what();
      }
      if (!error.empty())
        throw Error(ExitCode::external, fmt::format("redis-cluster: making {} a replica of {} failed", r->member->name, master->member->name),
                    error);
    }
  std::vector<std::string> gone;
  auto remove_node = [&](Node* n) {
    site.printer.info(fmt::format("removing {} from the cluster (redis-cli --cluster del-node)", n->member->name));
    cluster_tool(site, login, {"del-node", entry, n->probe.id}, "removing " + n->member->name, timeout);
    gone.push_back(n->member->name);
  };
  for (auto* r : spare) remove_node(r);
  for (auto* m : leaving_masters) {
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const Node& n) { return n.member == m->member; });
    if (it != nodes.end()) remove_node(&*it);
  }
  std::vector<Member*> staying;
  for (auto& n : nodes)
    if (std::find(gone.begin(), gone.end(), n.member->name) == gone.end()) staying.push_back(n.member);
  wait_agreed(staying, login, timeout);
  return gone;
}

void record_roles(StackState& state, const NodeLogin& login)
{
  for (auto* n : state.of_kind("redis")) {
    if (!process_matches(n->pid, n->start_time)) continue;
    NodeProbe p = probe(n->port, login, 1000ms);
    if (p.ok) n->role = p.role;
  }
}

} // namespace statectl::local::redis_cluster

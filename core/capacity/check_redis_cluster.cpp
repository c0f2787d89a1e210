// `capacity check` on a Redis Cluster: the cluster's own view (cluster_state, slots covered),
// replicas per master, and memory and evictions of every master.
#include <fmt/format.h>
#include <map>

#include "core/capacity/check.h"
#include "core/capacity/connect.h"
#include "core/capacity/redis_node.h"
#include "core/clients/redis.h"
#include "core/config/settings.h"
#include "core/clients/redis_cluster.h"
#include "core/stack/endpoints.h"
#include "core/util/strings.h"

namespace statectl::capacity {

namespace {

using clients::RedisValue;

CheckResult make(const std::string& name, const std::string& target) { return redis_node::result(name, target); }

// INFO-style "field:value" lines of a reply.
std::map<std::string, std::string> fields_of(const RedisValue& r)
{
  if (r.type != RedisValue::Type::string) return {};
  return clients::info_fields(r.str);
}


} // namespace

void check_redis_cluster(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out)
{
  auto ep = stack::resolve(cfg);
  clients::RedisOptions o;
  std::vector<clients::HostPort> seeds = ep.redis_cluster;
  if (!ep.redis_url.empty()) {
    o = clients::parse_redis_url(ep.redis_url);
    seeds = {{o.host, o.port}};
  } else {
    o.user = ep.redis_user; // the admin user on a stack with ACL users
    o.password = stack_password(cfg, ep.redis_password_secret).value_or("");
    o.tls = clients::redis_tls(ep.redis_tls);
  }
  if (seeds.empty()) seeds = {ep.redis};
  o.connect_timeout = o.command_timeout = t.connect_timeout;
  clients::RedisCluster cluster(seeds, o, stack::redis_address_map(ep));
  std::string first = fmt::format("{}:{}", seeds.front().host, seeds.front().port);

  CheckResult state = make("redis_cluster", first);
  try {
    cluster.refresh();
  } catch (const clients::RedisError& e) {
    std::string why = fmt::format("no cluster node answered CLUSTER SLOTS: {}", e.what());
    for (const char* n : {"redis_cluster", "redis_replicas", "redis_memory", "redis_evictions"}) {
      CheckResult r = make(n, first);
      r.message = why;
      out.push_back(std::move(r));
    }
    return;
  }

  // Every master's own view: a node that has not noticed a failed peer still says ok, one that
  // did says fail, so the worst view counts.
  std::vector<std::string> bad;
  std::uint64_t min_slots_ok = clients::k_cluster_slots;
  std::vector<std::string> masters = cluster.masters();
  for (const auto& node : masters) {
    try {
      auto info = fields_of(cluster.command_at(node, {"CLUSTER", "INFO"}));
      if (info["cluster_state"] != "ok") bad.push_back(fmt::format("{} reports cluster_state {}", node, info["cluster_state"]));
      min_slots_ok = std::min(min_slots_ok, redis_node::number(info, "cluster_slots_ok"));
    } catch (const clients::RedisError& e) {
      bad.push_back(fmt::format("{}: {}", node, e.what()));
      min_slots_ok = 0;
    }
  }
  state.status = bad.empty() && min_slots_ok == static_cast<std::uint64_t>(clients::k_cluster_slots) ? Status::ok : Status::critical;
  state.value = fmt::format("{} master(s), {} of {} slots ok", masters.size(), min_slots_ok, clients::k_cluster_slots);
  if (!bad.empty()) state.message = util::join(bad, "; ");
  else if (state.status != Status::ok) state.message = "slots without a serving master refuse every key they hold";
  state.metrics = {{"masters", masters.size()}, {"slots_ok", min_slots_ok}};
  state.perf.push_back({.label = "redis_cluster_slots_ok", .value = static_cast<double>(min_slots_ok),
                        .crit = Range::below(clients::k_cluster_slots), .min = 0, .max = clients::k_cluster_slots,
                        .metric = "redis_cluster_slots_ok", .help = "Hash slots every master reports as served (cluster_slots_ok)."});
  out.push_back(std::move(state));

  // Replicas per master, from the slot map (the fewest counts).
  long long expected = ep.redis_url.empty() ? config::settings(cfg).redis.cluster_replicas : 0;
  int fewest = -1;
  std::string weakest;
  for (const auto& node : masters) {
    int n = 0;
    for (int s = 0; s < clients::k_cluster_slots; ++s)
      if (cluster.master_of(s) == node) {
        n = cluster.replicas_of(s);
        break;
      }
    if (fewest < 0 || n < fewest) {
      fewest = n;
      weakest = node;
    }
  }
  CheckResult rep = make("redis_replicas", weakest);
  rep.value = fmt::format("fewest replicas of a master: {} of {}", fewest, expected);
  rep.metrics = {{"fewest", fewest}, {"expected", expected}};
  rep.status = fewest >= expected ? Status::ok : fewest == 0 ? Status::critical : Status::warning;
  if (rep.status != Status::ok) rep.message = fmt::format("{} has {} replica(s): losing it loses its slots' acknowledged writes", weakest, fewest);
  rep.perf.push_back({.label = "redis_replicas", .value = static_cast<double>(fewest), .min = 0, .metric = "redis_connected_replicas",
                      .help = "Replicas of the Redis master with the fewest."});
  out.push_back(std::move(rep));

  // Memory and evictions of every master.
  for (const auto& node : masters) {
    CheckResult mem = make("redis_memory", node), ev = make("redis_evictions", node);
    std::map<std::string, std::string> f;
    try {
      f = fields_of(cluster.command_at(node, {"INFO"}));
    } catch (const clients::RedisError& e) {
      mem.message = ev.message = e.what();
      out.push_back(std::move(mem));
      out.push_back(std::move(ev));
      continue;
    }
    redis_node::memory_checks(f, t, node, out);
  }
}

} // namespace statectl::capacity

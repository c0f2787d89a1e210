// `capacity check` on a Redis Cluster: the cluster's own view (cluster_state, slots covered),
// replicas per master, and memory and evictions of every master.
#include <fmt/format.h>
#include <map>

#include "core/capacity/check.h"
#include "core/capacity/connect.h"
#include "core/clients/redis.h"
#include "core/config/config.h"
#include "core/clients/redis_cluster.h"
#include "core/stack/endpoints.h"
#include "core/util/strings.h"

namespace statectl::capacity {

namespace {

using clients::RedisValue;

CheckResult make(const std::string& name, const std::string& target)
{
  CheckResult c;
  c.name = name;
  c.component = "redis";
  c.target = target;
  return c;
}

// INFO-style "field:value" lines of a reply.
std::map<std::string, std::string> fields_of(const RedisValue& r)
{
  std::map<std::string, std::string> out;
  if (r.type != RedisValue::Type::string) return out;
  for (const auto& line : util::split(r.str, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string::npos || line.empty() || line[0] == '#') continue;
    out[line.substr(0, colon)] = util::trim(line.substr(colon + 1));
  }
  return out;
}

std::uint64_t num(const std::map<std::string, std::string>& m, const std::string& key)
{
  auto it = m.find(key);
  if (it == m.end()) return 0;
  try {
    return std::stoull(it->second);
  } catch (...) {
    return 0;
  }
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
    o.password = stack_password(cfg, ep.redis_password_secret).value_or("");
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
      min_slots_ok = std::min(min_slots_ok, num(info, "cluster_slots_ok"));
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
  long long expected = ep.redis_url.empty() ? cfg.get_int("redis.cluster_replicas") : 0;
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
    std::uint64_t used = num(f, "used_memory"), max = num(f, "maxmemory");
    double pct = max ? 100.0 * static_cast<double>(used) / static_cast<double>(max) : 0;
    mem.status = max ? t.by_percent("redis_memory", pct) : Status::warning;
    mem.value = max ? fmt::format("{} of {} ({:.1f}%)", util::format_size(used), util::format_size(max), pct)
                    : fmt::format("{} used, no maxmemory", util::format_size(used));
    if (mem.status != Status::ok) mem.message = max ? "raise maxmemory, add masters or shed keys" : "set maxmemory on every node";
    mem.metrics = {{"used_bytes", used}, {"max_bytes", max}, {"percent", pct}};
    mem.perf.push_back({.label = "redis_memory", .value = static_cast<double>(used), .uom = "B", .min = 0,
                        .metric = "redis_memory_used_bytes", .help = "Memory Redis has allocated (used_memory)."});
    out.push_back(std::move(mem));
    std::uint64_t evicted = num(f, "evicted_keys");
    ev.status = evicted > 0 ? Status::warning : Status::ok;
    ev.value = fmt::format("{} key(s) evicted since start", evicted);
    if (evicted > 0) ev.message = "state keys are being dropped for memory: raise maxmemory";
    ev.metrics = {{"evicted_keys", evicted}};
    ev.perf.push_back({.label = "redis_evicted_keys", .value = static_cast<double>(evicted), .uom = "c", .warn = Range::above(0),
                       .min = 0, .metric = "redis_evicted_keys_total", .help = "Keys Redis evicted for memory since it started."});
    out.push_back(std::move(ev));
  }
}

} // namespace statectl::capacity

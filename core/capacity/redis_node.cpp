#include "core/capacity/redis_node.h"

#include <fmt/format.h>

#include "core/util/strings.h"

namespace statectl::capacity::redis_node {

CheckResult result(const std::string& name, const std::string& target)
{
  CheckResult c;
  c.name = name;
  c.component = "redis";
  c.target = target;
  return c;
}

std::uint64_t number(const std::map<std::string, std::string>& info, const std::string& field)
{
  auto it = info.find(field);
  if (it == info.end()) return 0;
  try {
    return std::stoull(it->second);
  } catch (...) {
    return 0;
  }
}

void memory_checks(const std::map<std::string, std::string>& info, const Thresholds& t, const std::string& target,
                   std::vector<CheckResult>& out)
{
  CheckResult mem = result("redis_memory", target);
  std::uint64_t used = number(info, "used_memory"), max = number(info, "maxmemory");
  if (max == 0) {
    // Without maxmemory Redis grows until the kernel kills it; measure against the machine.
    std::uint64_t total = number(info, "total_system_memory");
    double pct = total ? 100.0 * static_cast<double>(used) / static_cast<double>(total) : 0;
    mem.status = Status::warning;
    mem.value = fmt::format("{} used, no maxmemory ({:.1f}% of system memory)", util::format_size(used), pct);
    mem.message = "set maxmemory (see `capacity plan`) so a full instance evicts or refuses writes instead of being OOM-killed";
    mem.metrics = {{"used_bytes", used}, {"max_bytes", 0}, {"percent", pct}};
    mem.perf.push_back({.label = "redis_memory", .value = static_cast<double>(used), .uom = "B", .min = 0,
                        .metric = "redis_memory_used_bytes", .help = "Memory Redis has allocated (used_memory)."});
  } else {
    double pct = 100.0 * static_cast<double>(used) / static_cast<double>(max);
    mem.status = t.by_percent("redis_memory", pct);
    mem.value = fmt::format("{} of {} ({})", util::format_size(used), util::format_size(max),
                            pct < 0.1 && pct > 0 ? fmt::format("{:.3f}%", pct) : fmt::format("{:.1f}%", pct));
    if (mem.status != Status::ok) mem.message = "raise maxmemory or shed keys before evictions start";
    mem.metrics = {{"used_bytes", used}, {"max_bytes", max}, {"percent", pct}};
    const double share = static_cast<double>(max) / 100.0;
    mem.perf.push_back({.label = "redis_memory", .value = static_cast<double>(used), .uom = "B",
                        .warn = t.warn_for("redis_memory").scaled(share), .crit = t.crit_for("redis_memory").scaled(share),
                        .min = 0, .max = static_cast<double>(max), .metric = "redis_memory_used_bytes",
                        .help = "Memory Redis has allocated (used_memory)."});
    mem.perf.push_back({.label = "redis_memory_pct", .value = pct, .uom = "%", .warn = t.warn_for("redis_memory"),
                        .crit = t.crit_for("redis_memory"), .min = 0, .max = 100});
  }
  mem.perf.push_back({.label = "redis_maxmemory", .value = static_cast<double>(max), .uom = "B", .min = 0,
                      .metric = "redis_memory_max_bytes", .help = "Redis maxmemory (0: no limit)."});
  out.push_back(std::move(mem));

  CheckResult ev = result("redis_evictions", target);
  std::uint64_t evicted = number(info, "evicted_keys");
  ev.status = evicted > 0 ? Status::warning : Status::ok;
  ev.value = fmt::format("{} key(s) evicted since start, policy {}", evicted,
                         info.count("maxmemory_policy") ? info.at("maxmemory_policy") : "unknown");
  if (evicted > 0) ev.message = "state keys are being dropped for memory: raise maxmemory";
  ev.metrics = {{"evicted_keys", evicted}};
  ev.perf.push_back({.label = "redis_evicted_keys", .value = static_cast<double>(evicted), .uom = "c", .warn = Range::above(0),
                     .min = 0, .metric = "redis_evicted_keys_total", .help = "Keys Redis evicted for memory since it started."});
  out.push_back(std::move(ev));
}

} // namespace statectl::capacity::redis_node

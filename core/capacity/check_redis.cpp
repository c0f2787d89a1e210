// Redis and Sentinel checks of `capacity check` (core/clients/redis.h, one connection per server).
#include <fmt/format.h>
#include <map>
#include <cstdio>
#include <memory>

#include "core/capacity/check.h"
#include "core/capacity/connect.h"
#include "core/clients/redis.h"
#include "core/config/config.h"
#include "core/exec/redact.h"
#include "core/stack/endpoints.h"
#include "core/util/strings.h"

namespace statectl::capacity {

namespace {

using clients::RedisConnection;
using clients::RedisValue;

// Connects and authenticates; on failure returns nothing and sets error. A server without a
// password answers AUTH with an error that is ignored.
std::optional<RedisConnection> connect(const stack::HostPort& hp, const clients::ClientTls& tls, const std::optional<std::string>& password,
                                       std::chrono::milliseconds timeout, std::string& error, const std::string& user = {})
{
  clients::RedisOptions o;
  o.tls = clients::redis_tls(tls);
  o.host = hp.host;
  o.port = hp.port;
  o.user = user;
  o.password = password.value_or("");
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  try {
    return RedisConnection::connect(o);
  } catch (const clients::RedisError& e) {
    error = fmt::format("{}: {}", e.kind() == clients::RedisFailureKind::auth ? "AUTH failed" : "cannot connect", e.what());
    return std::nullopt;
  }
}

// Runs one command; nothing (and error set) when the connection failed.
std::optional<RedisValue> command(RedisConnection& c, const std::vector<std::string>& args, std::string& error)
{
  try {
    return c.command(args);
  } catch (const clients::RedisError& e) {
    error = e.what();
    return std::nullopt;
  }
}

// INFO output as field -> value.
std::map<std::string, std::string> info(RedisConnection& c, std::string& error)
{
  std::map<std::string, std::string> out;
  std::string why;
  auto r = command(c, {"INFO"}, why);
  if (!r || r->type != RedisValue::Type::string) {
    error = r && r->is_error() ? "INFO failed: " + r->str : fmt::format("INFO failed: {}", why);
    return out;
  }
  for (const auto& line : util::split(r->str, '\n')) {
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

CheckResult make(const std::string& name, const std::string& component, const std::string& target)
{
  CheckResult c;
  c.name = name;
  c.component = component;
  c.target = target;
  return c;
}

} // namespace

void check_redis(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out)
{
  if (cfg.get_string("redis.mode") == "cluster") return check_redis_cluster(cfg, t, out);
  auto ep = stack::resolve(cfg);
  auto password = stack_password(cfg, ep.redis_password_secret);
  std::string user; // the ACL user of [redis] url, for the master
  stack::HostPort master = ep.redis;
  if (!ep.redis_url.empty()) {
    auto u = clients::parse_redis_url(ep.redis_url);
    if (!u.password.empty()) password = u.password;
    user = u.user;
    master.host = u.host;
    master.port = u.port;
  }

  // Sentinels: the first that answers names the current master and checks the quorum.
  if (!ep.sentinels.empty()) {
    CheckResult q = make("sentinel_quorum", "sentinel", "");
    std::vector<std::string> errors;
    bool answered = false;
    for (const auto& s : ep.sentinels) {
      std::string target = fmt::format("{}:{}", s.host, s.port), error;
      auto c = connect(s, ep.redis_tls, password, t.connect_timeout, error);
      if (!c) {
        errors.push_back(target + ": " + error);
        continue;
      }
      clients::SentinelOptions one;
      one.sentinels = {s};
      one.master_name = ep.master_name;
      one.password = password.value_or("");
      one.timeout = t.connect_timeout;
      one.nat = stack::redis_address_map(ep);
      if (auto m = clients::ask_sentinels(one)) {
        master.host = m->host;
        master.port = m->port;
      }
      auto ck = command(*c, {"SENTINEL", "CKQUORUM", ep.master_name}, error);
      if (!ck) {
        errors.push_back(fmt::format("{}: {}", target, error));
        continue;
      }
      answered = true;
      q.target = target;
      std::string text = ck->text();
      q.metrics = {{"sentinels_configured", ep.sentinels.size()}, {"sentinels_unreachable", errors.size()}};
      if (ck->is_error()) {
        q.status = Status::critical;
        q.value = "no quorum";
        q.message = text;
      } else {
        q.status = errors.empty() ? Status::ok : Status::warning;
        q.value = text;
        if (!errors.empty()) q.message = "unreachable: " + util::join(errors, "; ");
        // "OK 3 usable Sentinels. Quorum and failover authorization can be reached"
        int usable = 0;
        if (std::sscanf(text.c_str(), "OK %d usable", &usable) == 1) {
          const auto configured = static_cast<double>(ep.sentinels.size());
          q.perf.push_back({.label = "sentinels_usable", .value = static_cast<double>(usable),
                            .warn = Range::below(configured), .min = 0, .max = configured,
                            .metric = "sentinel_usable_sentinels", .help = "Sentinels that can vote, as SENTINEL CKQUORUM counts them."});
        }
      }
      q.perf.push_back({.label = "sentinel_quorum_ok", .value = ck->is_error() ? 0.0 : 1.0,
                        .crit = Range::below(1), .min = 0, .max = 1, .metric = "sentinel_quorum_reachable",
                        .help = "1 when the Sentinels can reach the quorum and authorize a failover (SENTINEL CKQUORUM), else 0."});
      break;
    }
    if (!answered) {
      q.status = Status::unknown;
      q.target = fmt::format("{}:{}", ep.sentinels.front().host, ep.sentinels.front().port);
      q.message = "no Sentinel answered: " + util::join(errors, "; ");
    }
    out.push_back(std::move(q));
  }

  const std::string target = fmt::format("{}:{}", master.host, master.port);
  std::string error;
  auto c = connect(master, ep.redis_url.empty() ? ep.redis_tls : clients::ClientTls{}, password, t.connect_timeout, error, user);
  std::map<std::string, std::string> fields;
  if (c) fields = info(*c, error);
  auto unknown = [&](const std::string& name) {
    CheckResult r = make(name, "redis", target);
    r.status = Status::unknown;
    r.message = error;
    out.push_back(std::move(r));
  };
  if (!c || fields.empty()) {
    for (const char* n : {"redis_memory", "redis_evictions", "redis_replicas"}) unknown(n);
    return;
  }

  CheckResult mem = make("redis_memory", "redis", target);
  std::uint64_t used = num(fields, "used_memory"), max = num(fields, "maxmemory");
  if (max == 0) {
    // Without maxmemory Redis grows until the kernel kills it; measure against the machine.
    std::uint64_t total = num(fields, "total_system_memory");
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

  CheckResult ev = make("redis_evictions", "redis", target);
  std::uint64_t evicted = num(fields, "evicted_keys");
  ev.status = evicted > 0 ? Status::warning : Status::ok;
  ev.value = fmt::format("{} key(s) evicted since start, policy {}", evicted,
                         fields.count("maxmemory_policy") ? fields["maxmemory_policy"] : "unknown");
  if (evicted > 0) ev.message = "state keys are being dropped for memory: raise maxmemory";
  ev.metrics = {{"evicted_keys", evicted}};
  ev.perf.push_back({.label = "redis_evicted_keys", .value = static_cast<double>(evicted), .uom = "c", .warn = Range::above(0),
                     .min = 0, .metric = "redis_evicted_keys_total", .help = "Keys Redis evicted for memory since it started."});
  out.push_back(std::move(ev));

  CheckResult rep = make("redis_replicas", "redis", target);
  // An external Redis without Sentinels has no configured replica count to hold it to.
  long long expected = !ep.redis_url.empty() && ep.sentinels.empty() ? 0 : cfg.get_int("redis.replicas");
  auto connected = static_cast<long long>(num(fields, "connected_slaves"));
  std::string role = fields.count("role") ? fields["role"] : "unknown";
  rep.metrics = {{"connected", connected}, {"expected", expected}, {"role", role}};
  if (role != "master") {
    rep.status = Status::critical;
    rep.value = "role " + role;
    rep.message = "the address in use is not a master";
  } else {
    rep.value = fmt::format("{} of {} connected", connected, expected);
    Perf p{.label = "redis_replicas", .value = static_cast<double>(connected), .min = 0,
           .metric = "redis_connected_replicas", .help = "Replicas connected to the Redis master."};
    if (expected > 0) {
      p.warn = Range::below(static_cast<double>(expected));
      p.crit = Range::below(1);
    }
    rep.perf.push_back(p);
    rep.status = connected >= expected ? Status::ok : connected == 0 ? Status::critical : Status::warning;
    if (rep.status != Status::ok) rep.message = "a master without its replicas loses acknowledged writes on failover";
  }
  out.push_back(std::move(rep));
}

} // namespace statectl::capacity

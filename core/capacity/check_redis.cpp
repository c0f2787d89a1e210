// Redis and Sentinel checks of `capacity check` (core/clients/redis.h, one connection per server).
#include <fmt/format.h>
#include <map>
#include <cstdio>
#include <memory>

#include "core/capacity/check.h"
#include "core/capacity/connect.h"
#include "core/capacity/redis_node.h"
#include "core/clients/redis.h"
#include "core/config/settings.h"
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
  return clients::info_fields(r->str);
}

} // namespace

void check_redis(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out)
{
  if (config::settings(cfg).redis.mode == "cluster") return check_redis_cluster(cfg, t, out);
  auto ep = stack::resolve(cfg);
  auto password = stack_password(cfg, ep.redis_password_secret);
  std::string user = ep.redis_user; // the ACL user of [redis] url or the stack's admin, for the master
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
    CheckResult q = new_check("sentinel_quorum", "sentinel", "");
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
      one.tls = clients::redis_tls(ep.redis_tls); // the Sentinels speak TLS when the stack does
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
    CheckResult r = new_check(name, "redis", target);
    r.status = Status::unknown;
    r.message = error;
    out.push_back(std::move(r));
  };
  if (!c || fields.empty()) {
    for (const char* n : {"redis_memory", "redis_evictions", "redis_replicas"}) unknown(n);
    return;
  }

  redis_node::memory_checks(fields, t, target, out);

  CheckResult rep = new_check("redis_replicas", "redis", target);
  // An external Redis without Sentinels has no configured replica count to hold it to.
  long long expected = !ep.redis_url.empty() && ep.sentinels.empty() ? 0 : config::settings(cfg).redis.replicas;
  auto connected = static_cast<long long>(redis_node::number(fields, "connected_slaves"));
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

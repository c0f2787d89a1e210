// Redis and Sentinel checks of `capacity check` (hiredis, one connection per server).
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <map>
#include <memory>
#include <sys/time.h>

#include "core/capacity/check.h"
#include "core/capacity/connect.h"
#include "core/exec/redact.h"
#include "core/stack/endpoints.h"
#include "core/util/strings.h"

namespace statectl::capacity {

namespace {

using ContextPtr = std::unique_ptr<redisContext, decltype(&redisFree)>;
using ReplyPtr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

timeval to_timeval(std::chrono::milliseconds d)
{
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

ReplyPtr command(redisContext* c, const std::vector<std::string>& args)
{
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
    lens.push_back(a.size());
  }
  void* r = redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
  return ReplyPtr(static_cast<redisReply*>(r), &freeReplyObject);
}

// Connects and authenticates; on failure returns null and sets error. A server without a
// password answers AUTH with an error that is ignored.
ContextPtr connect(const stack::HostPort& hp, const std::optional<std::string>& password, std::chrono::milliseconds timeout,
                   std::string& error)
{
  ContextPtr c(redisConnectWithTimeout(hp.host.c_str(), hp.port, to_timeval(timeout)), &redisFree);
  if (!c || c->err) {
    error = fmt::format("cannot connect: {}", c ? c->errstr : "out of memory");
    return ContextPtr(nullptr, &redisFree);
  }
  redisSetTimeout(c.get(), to_timeval(timeout));
  if (password && !password->empty()) {
    auto r = command(c.get(), {"AUTH", *password});
    if (!r) {
      error = fmt::format("AUTH failed: {}", c->errstr);
      return ContextPtr(nullptr, &redisFree);
    }
    std::string msg = r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "";
    if (!msg.empty() && msg.find("without any password") == std::string::npos && msg.find("no password") == std::string::npos) {
      error = "AUTH failed: " + exec::redact(msg);
      return ContextPtr(nullptr, &redisFree);
    }
  }
  return c;
}

// INFO output as field -> value.
std::map<std::string, std::string> info(redisContext* c, std::string& error)
{
  std::map<std::string, std::string> out;
  auto r = command(c, {"INFO"});
  if (!r || r->type != REDIS_REPLY_STRING) {
    error = r && r->type == REDIS_REPLY_ERROR ? "INFO failed: " + std::string(r->str, r->len) : fmt::format("INFO failed: {}", c->errstr);
    return out;
  }
  for (const auto& line : util::split(std::string(r->str, r->len), '\n')) {
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
  auto ep = stack::resolve(cfg);
  auto password = stack_password(cfg, ep.redis_password_secret);
  stack::HostPort master = ep.redis;
  if (!ep.redis_url.empty()) {
    // redis://[user:password@]host:port[/db]
    std::string rest = ep.redis_url.substr(ep.redis_url.find("://") == std::string::npos ? 0 : ep.redis_url.find("://") + 3);
    if (auto at = rest.rfind('@'); at != std::string::npos) {
      std::string cred = rest.substr(0, at);
      password = cred.substr(cred.find(':') == std::string::npos ? 0 : cred.find(':') + 1);
      exec::register_secret(*password);
      rest = rest.substr(at + 1);
    }
    rest = rest.substr(0, rest.find('/'));
    auto colon = rest.rfind(':');
    master.host = rest.substr(0, colon);
    master.port = colon == std::string::npos ? 6379 : std::atoi(rest.substr(colon + 1).c_str());
  }

  // Sentinels: the first that answers names the current master and checks the quorum.
  if (!ep.sentinels.empty()) {
    CheckResult q = make("sentinel_quorum", "sentinel", "");
    std::vector<std::string> errors;
    bool answered = false;
    for (const auto& s : ep.sentinels) {
      std::string target = fmt::format("{}:{}", s.host, s.port), error;
      auto c = connect(s, password, t.connect_timeout, error);
      if (!c) {
        errors.push_back(target + ": " + error);
        continue;
      }
      auto addr = command(c.get(), {"SENTINEL", "get-master-addr-by-name", ep.master_name});
      if (addr && addr->type == REDIS_REPLY_ARRAY && addr->elements == 2) {
        master.host = std::string(addr->element[0]->str, addr->element[0]->len);
        master.port = std::atoi(addr->element[1]->str);
      }
      auto ck = command(c.get(), {"SENTINEL", "CKQUORUM", ep.master_name});
      if (!ck) {
        errors.push_back(fmt::format("{}: {}", target, c->errstr));
        continue;
      }
      answered = true;
      q.target = target;
      std::string text(ck->str ? std::string(ck->str, ck->len) : "");
      q.metrics = {{"sentinels_configured", ep.sentinels.size()}, {"sentinels_unreachable", errors.size()}};
      if (ck->type == REDIS_REPLY_ERROR) {
        q.status = Status::critical;
        q.value = "no quorum";
        q.message = text;
      } else {
        q.status = errors.empty() ? Status::ok : Status::warning;
        q.value = text;
        if (!errors.empty()) q.message = "unreachable: " + util::join(errors, "; ");
      }
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
  auto c = connect(master, password, t.connect_timeout, error);
  std::map<std::string, std::string> fields;
  if (c) fields = info(c.get(), error);
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
  } else {
    double pct = 100.0 * static_cast<double>(used) / static_cast<double>(max);
    mem.status = t.by_percent("redis_memory", pct);
    mem.value = fmt::format("{} of {} ({})", util::format_size(used), util::format_size(max),
                            pct < 0.1 && pct > 0 ? fmt::format("{:.3f}%", pct) : fmt::format("{:.1f}%", pct));
    if (mem.status != Status::ok) mem.message = "raise maxmemory or shed keys before evictions start";
    mem.metrics = {{"used_bytes", used}, {"max_bytes", max}, {"percent", pct}};
  }
  out.push_back(std::move(mem));

  CheckResult ev = make("redis_evictions", "redis", target);
  std::uint64_t evicted = num(fields, "evicted_keys");
  ev.status = evicted > 0 ? Status::warning : Status::ok;
  ev.value = fmt::format("{} key(s) evicted since start, policy {}", evicted,
                         fields.count("maxmemory_policy") ? fields["maxmemory_policy"] : "unknown");
  if (evicted > 0) ev.message = "state keys are being dropped for memory: raise maxmemory";
  ev.metrics = {{"evicted_keys", evicted}};
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
    rep.status = connected >= expected ? Status::ok : connected == 0 ? Status::critical : Status::warning;
    if (rep.status != Status::ok) rep.message = "a master without its replicas loses acknowledged writes on failover";
  }
  out.push_back(std::move(rep));
}

} // namespace statectl::capacity

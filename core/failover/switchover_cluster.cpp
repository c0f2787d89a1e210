// `failover switchover --backend redis`: Sentinel's (local and compose: CLIENT PAUSE WRITE, wait for
// the replica, SENTINEL FAILOVER) and, on a local Redis Cluster, CLUSTER FAILOVER on a replica,
// the coordinated (lossless) manual failover of Redis Cluster: the master stops its clients, the
// replica catches up with its replication offset, then takes the slots over; the old master
// follows it as a replica.
#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <utility>
#include <vector>

#include "core/clients/redis.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/failover/common.h"
#include "core/failover/failover.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/util/strings.h"

namespace statectl::failover::detail {

using namespace std::chrono;

namespace {

// A login for redis_do: an ACL user (empty = the default user) and its password (empty = none).
struct RedisAuth {
  std::string user;
  std::string password;
};

// A Redis command on 127.0.0.1:port (AUTH first when a password is set); the reply as text.
std::string redis_do(const clients::RedisTls& tls, int port, const RedisAuth& auth, const std::vector<std::string>& args,
                     const std::string& what)
{
  clients::RedisOptions o;
  o.port = port;
  o.tls = tls;
  clients::RedisConnection c;
  try {
    // AUTH runs below as a command, so its failure reads "AUTH on <what> failed" as before.
    c = clients::RedisConnection::connect(o);
  } catch (const clients::RedisError& e) {
    throw Error(ExitCode::unavailable, fmt::format("cannot connect to {} (127.0.0.1:{})", what, port), e.what());
  }
  auto run = [&](const std::vector<std::string>& a) {
    std::string where = a[0] + (a.size() > 1 ? " " + a[1] : "");
    clients::RedisValue r;
    try {
      r = c.command(a);
    } catch (const clients::RedisError& e) {
      throw Error(ExitCode::failed, fmt::format("{} on {} failed", where, what), exec::redact(e.what()));
    }
    if (r.is_error()) throw Error(ExitCode::failed, fmt::format("{} on {} failed", where, what), exec::redact(r.str));
    return r.type == clients::RedisValue::Type::array ? std::string() : r.text();
  };
  if (!auth.password.empty())
    run(auth.user.empty() ? std::vector<std::string>{"AUTH", auth.password} : std::vector<std::string>{"AUTH", auth.user, auth.password});
  return run(args);
}

std::int64_t redis_offset(const clients::RedisTls& tls, int port, const RedisAuth& auth, const std::string& key)
{
  std::string info = redis_do(tls, port, auth, {"INFO", "replication"}, "redis");
  for (auto& line : util::split(info, '\n')) {
    line = util::trim(line);
    if (util::starts_with(line, key + ":")) return std::stoll(line.substr(key.size() + 1));
  }
  return -1;
}

} // namespace

void redis_sentinel_switchover(const config::Config& cfg, const std::vector<std::pair<std::string, int>>& servers, const std::string& where,
                    output::Printer& printer, const SwitchoverOptions& opts, SwitchoverReport& rep)
{
  auto t = redis_clients_path(cfg);
  if (t.sentinels.empty()) throw Error(ExitCode::usage, "failover switchover --backend redis needs Sentinel", "", "set [redis] mode = \"sentinel\"");
  auto m = redis_master(t, 1s);
  if (!m) throw Error(ExitCode::unavailable, "no Sentinel reports a Redis master");
  int old_port = m->second;
  std::string old_name = fmt::format("127.0.0.1:{}", old_port);
  int replica_port = 0;
  bool named = false;
  for (const auto& [name, port] : servers) {
    named = named || name == opts.to;
    if (port == old_port) old_name = name;
    else if (!replica_port && (opts.to.empty() || opts.to == name)) replica_port = port;
  }
  if (!opts.to.empty() && !named)
    throw Error(ExitCode::usage, fmt::format("no Redis member '{}' in the {} stack", opts.to, where), "", "'statectl status' lists them");
  if (!opts.to.empty() && opts.to == old_name) throw Error(ExitCode::usage, fmt::format("{} is already the master", opts.to));
  if (!replica_port) throw Error(ExitCode::failed, "no Redis replica to switch over to");
  rep.old_primary = old_name;
  // Sentinel promotes without waiting for the replica to catch up: hold writes on the master
  // first (CLIENT PAUSE WRITE) and wait until every replica has acknowledged its offset.
  printer.info(fmt::format("pausing writes on {} (CLIENT PAUSE WRITE)", old_name));
  auto pause = Clock::now();
  redis_do(t.tls, old_port, {t.user, t.password}, {"CLIENT", "PAUSE", std::to_string(opts.timeout.count()), "WRITE"}, old_name);
  try {
    std::int64_t master_offset = redis_offset(t.tls, old_port, {t.user, t.password}, "master_repl_offset");
    if (!local::wait_for([&] { return redis_offset(t.tls, replica_port, {t.user, t.password}, "slave_repl_offset") >= master_offset; }, opts.timeout, 20ms))
      throw Error(ExitCode::failed, "the replica did not catch up with the master", fmt::format("master offset {}", master_offset));
    printer.info("asking Sentinel to fail over (SENTINEL FAILOVER)");
    redis_do(t.tls, t.sentinels[0].second, {}, {"SENTINEL", "FAILOVER", t.master_name}, "sentinel");
    if (!local::wait_for(
          [&] {
            auto views = redis_sentinel_views(t, 300ms);
            return !views.empty() && std::all_of(views.begin(), views.end(), [&](int p) { return p != 0 && p != old_port && p == views[0]; });
          },
          opts.timeout, 50ms))
      throw Error(ExitCode::failed, fmt::format("the Sentinels did not agree on a new master within {}", util::format_duration(opts.timeout)));
    // Unpausing while the old master still is a master would let the held writes land there
    // and be lost when Sentinel converts it (which it does only after ~8 s): demote it now, the
    // way Sentinel would, and wait for the conversion.
    // The new master's address as the Sentinels announce it: the one the old master reaches.
    if (auto nm = redis_master(t, 1s); nm && nm->second != old_port)
      if (auto a = redis_master_announced(t, 1s)) redis_do(t.tls, old_port, {t.user, t.password}, {"REPLICAOF", a->first, std::to_string(a->second)}, old_name);
    auto is_replica = [&] {
      try {
        return redis_do(t.tls, old_port, {t.user, t.password}, {"ROLE"}, old_name).find("slave") != std::string::npos ||
               redis_offset(t.tls, old_port, {t.user, t.password}, "slave_repl_offset") >= 0;
      } catch (const Error&) {
        return false;
      }
    };
    if (!local::wait_for(is_replica, opts.timeout, 50ms))
      printer.warn(fmt::format("{} is still a master {} after the failover", old_name, util::format_duration(opts.timeout)));
  } catch (...) {
    try {
      redis_do(t.tls, old_port, {t.user, t.password}, {"CLIENT", "UNPAUSE"}, old_name);
    } catch (const Error&) {
    }
    throw;
  }
  // The old master is a replica now: release the paused clients (their writes get READONLY and
  // the probe re-resolves through Sentinel).
  try {
    redis_do(t.tls, old_port, {t.user, t.password}, {"CLIENT", "UNPAUSE"}, old_name);
  } catch (const Error&) {
  }
  rep.pause_ms = ms_between(pause, Clock::now());
  auto nm = redis_master(t, 1s);
  rep.new_primary = nm ? fmt::format("127.0.0.1:{}", nm->second) : "?";
  for (const auto& [name, port] : servers)
    if (nm && port == nm->second) rep.new_primary = name;
  rep.rejoin = "sentinel";
}


void redis_cluster_switchover(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const SwitchoverOptions& opts,
                              SwitchoverReport& rep)
{
  auto t = redis_clients_path(cfg);
  local::Stack stack(cfg, runner, printer);
  const local::redis_cluster::NodeLogin login{t.user, t.password, t.tls};
  std::map<std::string, local::redis_cluster::NodeProbe> nodes;
  for (const local::Member* m : stack.state().of_kind("redis")) nodes[m->name] = local::redis_cluster::probe(m->port, login, 1s);
  auto name_of = [&](int port) {
    for (const local::Member* m : stack.state().of_kind("redis"))
      if (m->port == port) return m->name;
    return fmt::format("127.0.0.1:{}", port);
  };
  auto port_of = [&](const std::string& name) {
    const local::Member* m = stack.state().find(name);
    return m ? m->port : 0;
  };
  // The replica to promote: --to, else one of the master whose slot the probe writes to.
  std::string replica;
  if (!opts.to.empty()) {
    if (!nodes.count(opts.to)) throw Error(ExitCode::usage, fmt::format("no Redis member '{}' in the local stack", opts.to), "", "'statectl status' lists them");
    if (nodes[opts.to].role != "replica") throw Error(ExitCode::usage, fmt::format("{} is already a master", opts.to), "", "name one of its replicas with --to");
    replica = opts.to;
  } else {
    auto m = redis_master(t, 1s);
    if (!m) throw Error(ExitCode::unavailable, "no Redis Cluster node reports the master of the probe's slot", "", "run 'statectl status'");
    for (const auto& [name, p] : nodes)
      if (replica.empty() && p.ok && p.role == "replica" && p.master_port == m->second && p.link_up) replica = name;
    if (replica.empty()) throw Error(ExitCode::failed, fmt::format("{} has no replica to switch over to", name_of(m->second)));
  }
  int old_port = nodes[replica].master_port;
  rep.old_primary = name_of(old_port);
  int port = port_of(replica);
  printer.info(fmt::format("CLUSTER FAILOVER on {} (replica of {})", replica, rep.old_primary));
  auto pause = Clock::now();
  clients::RedisOptions o;
  o.port = port;
  o.user = t.user;
  o.password = t.password;
  o.tls = t.tls;
  try {
    auto c = clients::RedisConnection::connect(o);
    auto r = c.command({"CLUSTER", "FAILOVER"});
    if (r.is_error()) throw Error(ExitCode::failed, fmt::format("CLUSTER FAILOVER on {} failed", replica), exec::redact(r.str));
  } catch (const clients::RedisError& e) {
    throw clients::to_error(e.failure(), fmt::format("CLUSTER FAILOVER on {} failed", replica));
  }
  // Done when the replica is a master and the old master follows it.
  if (!local::wait_for(
        [&] {
          auto now = local::redis_cluster::probe(port, login, 500ms);
          auto old = local::redis_cluster::probe(old_port, login, 500ms);
          return now.ok && now.role == "master" && old.ok && old.role == "replica" && old.master_port == port && old.link_up;
        },
        opts.timeout, 50ms))
    throw Error(ExitCode::failed, fmt::format("{} did not take over from {} within {}", replica, rep.old_primary, util::format_duration(opts.timeout)),
                "", "run 'statectl status'");
  rep.pause_ms = ms_between(pause, Clock::now());
  rep.new_primary = replica;
  rep.rejoin = "cluster (the old master follows the new one)";
}

} // namespace statectl::failover::detail

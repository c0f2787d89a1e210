// `failover switchover --backend redis` on a local Redis Cluster: CLUSTER FAILOVER on a replica,
// the coordinated (lossless) manual failover of Redis Cluster: the master stops its clients, the
// replica catches up with its replication offset, then takes the slots over; the old master
// follows it as a replica.
#include <fmt/format.h>
#include <map>

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

void redis_cluster_switchover(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const SwitchoverOptions& opts,
                              SwitchoverReport& rep)
{
  auto t = redis_clients_path(cfg);
  local::Stack stack(cfg, runner, printer);
  std::map<std::string, local::redis_cluster::NodeProbe> nodes;
  for (const local::Member* m : stack.state().of_kind("redis")) nodes[m->name] = local::redis_cluster::probe(m->port, t.password, 1s);
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
  o.password = t.password;
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
          auto now = local::redis_cluster::probe(port, t.password, 500ms);
          auto old = local::redis_cluster::probe(old_port, t.password, 500ms);
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

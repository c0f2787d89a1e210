// The compose target's addresses and names: published ports, the Redis NAT, service kinds.
#include "core/targets/compose_endpoints.h"

#include <fmt/format.h>

#include "core/deploy/tools.h"
#include "core/error.h"
#include "core/targets/common.h"
#include "core/targets/compose_redis.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

namespace fs = std::filesystem;

std::map<std::string, int> published_ports(const std::string& compose_file)
{
  std::map<std::string, int> out;
  bool in_services = false;
  std::string service;
  for (const auto& line : util::split(compose_file, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] != ' ') {
      in_services = line == "services:";
      continue;
    }
    if (!in_services) continue;
    if (line.size() > 2 && line[1] == ' ' && line[2] != ' ' && line.back() == ':') {
      service = util::trim(line.substr(0, line.size() - 1));
      continue;
    }
    auto at = line.find("127.0.0.1:");
    if (at == std::string::npos || service.empty() || out.count(service)) continue;
    std::size_t i = at + 10;
    int port = 0;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9') port = port * 10 + (line[i++] - '0');
    if (port > 0 && port < 65536) out[service] = port;
  }
  return out;
}

// The Sentinels run in the project's network and name the master as they know it: the service
// name redis-master, or the container address a promoted replica announced. Each Redis
// container's address maps to the loopback port it publishes, so the state commands and the
// probe reach whichever server is master; an address missing from the map is reported as not
// published rather than tried (it would reach another server, or nothing).
clients::AddressMap redis_nat(const config::Config& cfg, exec::Runner& runner, const fs::path& file, int master_port)
{
  clients::AddressMap nat;
  nat["redis-master:6379"] = {"127.0.0.1", master_port};
  try {
    deploy::Compose compose = deploy::Compose::detect(cfg, runner, file);
    for (const auto& s : compose_redis::servers(runner, compose))
      if (s.published)
        for (const auto& ip : s.ips) nat[ip + ":6379"] = {"127.0.0.1", s.published};
  } catch (const Error&) {
    // The engine does not answer: only the master's service name is mapped; a promoted replica
    // is then reported as not published.
  }
  return nat;
}

// compose service name -> kind, role.
std::pair<std::string, std::string> compose_kind(const std::string& service)
{
  if (service == "postgres-primary") return {"postgres", "primary"};
  if (service == "postgres-replica") return {"postgres", "replica"};
  if (service == "pgbouncer") return {"pgbouncer", "pooler"};
  if (service == "redis-master") return {"redis", "master"};
  if (service == "redis-replica") return {"redis", "replica"};
  if (service == "redis-sentinel") return {"sentinel", "sentinel"};
  if (util::starts_with(service, "redis-node-")) return {"redis", "node"};
  if (util::starts_with(service, "patroni-")) return {"patroni", "member"};
  if (util::starts_with(service, "etcd-")) return {"etcd", "dcs"};
  if (util::starts_with(service, "haproxy-")) return {"haproxy", "proxy"};
  return {service, ""};
}

} // namespace statectl::targets::detail

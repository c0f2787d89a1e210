// The compose target's addresses and names: published ports, the Redis NAT, service kinds.
#include "core/targets/compose_endpoints.h"

#include <fmt/format.h>

#include "core/config/config.h"
#include "core/deploy/tools.h"
#include "core/error.h"
#include "core/render/render.h"
#include "core/targets/common.h"
#include "core/targets/compose_redis.h"
#include "core/util/fs.h"
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

std::vector<std::string> container_redis_cli(const clients::Endpoints& e)
{
  std::vector<std::string> argv = {"redis-cli"};
  if (e.redis_tls.enabled) argv.insert(argv.end(), {"--tls", "--cacert", "/run/secrets/ca.crt"});
  if (!e.redis_user.empty()) argv.insert(argv.end(), {"--user", e.redis_user});
  return argv;
}

bool compose_redis_acl(const config::Config& cfg, const fs::path& dir)
{
  auto text = util::read_file(dir / "docker-compose.yml");
  if (!text) return false;
  bool acl = text->find("\n    file: ./secrets/redis-acl") != std::string::npos;
  if (acl != render::acl_rendered(cfg, render::request_for(cfg, render::Target::compose)))
    throw Error(ExitCode::usage, fmt::format("the compose stack in {} runs Redis {} ACL users", dir.string(), acl ? "with" : "without"),
                fmt::format("the config says [redis] acl = {}{}", cfg.get_bool("redis.acl") ? "true" : "false", cfg.is_set("redis.acl") ? "" : " (the default)"),
                acl ? "set [redis] acl = true, or run 'statectl deploy --target compose' to switch it to requirepass"
                    : "set [redis] acl = false to use it as it is, or run 'statectl deploy --target compose' to give it ACL users "
                      "(the containers are recreated; the data volumes are kept)");
  return acl;
}

bool compose_file_tls(const std::string& compose_file) { return compose_file.find("\n    file: ./secrets/ca.crt") != std::string::npos; }

clients::ClientTls compose_client_tls(const config::Config& cfg, const fs::path& dir)
{
  clients::ClientTls tls;
  auto text = util::read_file(dir / "docker-compose.yml");
  if (!text) return tls; // nothing applied: the callers say so
  tls.enabled = compose_file_tls(*text);
  bool wanted = render::tls_rendered(cfg, render::request_for(cfg, render::Target::compose));
  if (tls.enabled != wanted)
    throw Error(ExitCode::usage,
                fmt::format("the compose stack in {} runs {} TLS", dir.string(), tls.enabled ? "with" : "without"),
                fmt::format("the config says [tls] enabled = {}{}", cfg.get_bool("tls.enabled") ? "true" : "false",
                            cfg.is_set("tls.enabled") ? "" : " (the default)"),
                tls.enabled ? "set [tls] enabled = true, or run 'statectl deploy --target compose' to switch it to plain text"
                            : "set [tls] enabled = false to use it as it is, or run 'statectl deploy --target compose' to switch it to TLS "
                              "(the containers are recreated; the data volumes are kept)");
  if (tls.enabled) tls.ca_file = (dir / "secrets" / "ca.crt").string();
  return tls;
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

// Redis with Sentinel on the compose target: the master's container and a killed master's return.
#include "core/targets/compose_redis.h"

#include <fmt/format.h>
#include <map>
#include <thread>
#include <utility>

#include "core/clients/redis.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/targets/compose_endpoints.h"
#include "core/util/strings.h"

namespace statectl::targets::detail::compose_redis {

using namespace std::chrono;

namespace {

std::optional<clients::MasterAddress> ask(const stack::Endpoints& e, milliseconds timeout, std::string& error)
{
  clients::SentinelOptions so = clients::sentinel_options(e);
  so.timeout = timeout;
  auto m = clients::ask_sentinels(so);
  if (!m) {
    error = exec::redact(m.error());
    return std::nullopt;
  }
  return *m;
}

// How many Sentinels list a replica at `ip` for the master with flags exactly "slave" (reachable,
// not down), i.e. one they may promote in the next failover, out of how many answered.
std::pair<int, int> sentinels_listing(const stack::Endpoints& e, const std::string& ip)
{
  int listing = 0;
  int answered = 0;
  for (const auto& s : e.sentinels) {
    clients::RedisOptions o;
    o.host = s.host;
    o.port = s.port;
    o.tls = clients::redis_tls(e.redis_tls);
    o.connect_timeout = o.command_timeout = 1s;
    try {
      auto c = clients::RedisConnection::connect(o);
      clients::RedisValue r = c.command({"SENTINEL", "replicas", e.master_name});
      if (r.type != clients::RedisValue::Type::array) continue;
      ++answered;
      for (const auto& replica : r.elements) {
        std::map<std::string, std::string> f;
        for (std::size_t i = 0; i + 1 < replica.elements.size(); i += 2) f[replica.elements[i].text()] = replica.elements[i + 1].text();
        if (f["ip"] == ip && f["flags"] == "slave") {
          ++listing;
          break;
        }
      }
    } catch (const clients::RedisError&) {
      // Not answering: counted as not listing it.
    }
  }
  return {listing, answered};
}

} // namespace

std::vector<Server> servers(exec::Runner& runner, const deploy::Compose& compose)
{
  std::vector<std::string> ids;
  for (const char* service : {"redis-master", "redis-replica"}) {
    auto some = deploy::compose_containers(runner, compose, service);
    ids.insert(ids.end(), some.begin(), some.end());
  }
  std::vector<Server> out;
  if (ids.empty()) return out;
  for (const auto& line : deploy::docker_inspect(runner, ids,
                                                 "{{.Id}}|{{.Name}}|{{index .Config.Labels \"com.docker.compose.service\"}}|{{.State.Running}}|"
                                                 "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}|"
                                                 "{{range $p, $b := .NetworkSettings.Ports}}{{if eq $p \"6379/tcp\"}}"
                                                 "{{range $b}}{{.HostPort}} {{end}}{{end}}{{end}}")) {
    auto f = util::split(line, '|');
    if (f.size() < 6) continue;
    Server s;
    s.id = f[0];
    s.name = f[1].substr(f[1].rfind('/') == std::string::npos ? 0 : f[1].rfind('/') + 1);
    s.service = f[2];
    s.running = f[3] == "true";
    for (const auto& ip : util::split(util::trim(f[4]), ' '))
      if (!ip.empty()) s.ips.push_back(ip);
    auto ports = util::split(util::trim(f[5]), ' ');
    if (!ports.empty() && !ports[0].empty() && ports[0].find_first_not_of("0123456789") == std::string::npos) s.published = std::stoi(ports[0]);
    out.push_back(s);
  }
  return out;
}

std::map<std::string, std::string> roles(exec::Runner& runner, const deploy::Compose& compose, const stack::Endpoints& endpoints,
                                         const std::string& password)
{
  std::map<std::string, std::string> out;
  for (const auto& s : servers(runner, compose)) {
    if (!s.running || !s.published) continue;
    clients::RedisOptions o;
    o.port = s.published;
    o.user = endpoints.redis_user;
    o.password = password;
    o.tls = clients::redis_tls(endpoints.redis_tls);
    o.connect_timeout = o.command_timeout = 2s;
    try {
      auto c = clients::RedisConnection::connect(o);
      clients::RedisValue r = c.command({"ROLE"});
      std::string role = r.elements.empty() ? "" : r.elements[0].text();
      if (role == "master") out[s.name] = "master";
      else if (role == "slave") out[s.name] = "replica";
    } catch (const clients::RedisError&) {
      // Not answering: no role to report.
    }
  }
  return out;
}

void annotate(const std::map<std::string, std::string>& live, const std::vector<std::string>& services, std::vector<ComponentRow>& components)
{
  for (std::size_t i = 0; i < components.size() && i < services.size(); ++i) {
    if (services[i] != "redis-master" && services[i] != "redis-replica") continue;
    auto it = live.find(components[i].name);
    components[i].role = it == live.end() ? "unknown" : it->second;
  }
}

Server master(exec::Runner& runner, const deploy::Compose& compose, const stack::Endpoints& endpoints)
{
  std::string error;
  auto m = ask(endpoints, 1s, error);
  if (!m) throw Error(ExitCode::unavailable, "no Sentinel names a Redis master", error, "run 'statectl status --target compose'");
  for (const auto& s : servers(runner, compose))
    if (s.running && s.published == m->port) return s;
  throw Error(ExitCode::failed, fmt::format("no running Redis container publishes the master {} the Sentinels name", m->announced),
              fmt::format("it maps to 127.0.0.1:{}", m->port), "run 'statectl status --target compose'");
}

std::string rejoin(exec::Runner& runner, const deploy::Compose& compose, const stack::Endpoints& endpoints, const std::string& container,
                   milliseconds timeout)
{
  deploy::run_checked(runner, deploy::command({"docker", "start", container}, true, 60s), "starting " + container);
  auto deadline = steady_clock::now() + timeout;
  // The health check's way in: the password from the file its entrypoint wrote (never argv).
  std::vector<std::string> info = {"docker", "exec", container, "sh", "-c",
                                   "REDISCLI_AUTH=\"$(cat /tmp/redis.pass)\" " + util::join(container_redis_cli(endpoints), " ") +
                                     " --no-auth-warning info replication"};
  std::string last = "not asked yet";
  while (steady_clock::now() < deadline) {
    exec::Result r = runner.run(deploy::command(info, false, 10s));
    if (r.ok()) {
      bool replica = r.out.find("role:slave") != std::string::npos;
      bool link_up = r.out.find("master_link_status:up") != std::string::npos;
      int own_port = 0; // published again at the start (the range's port may differ)
      std::string own_ip;
      for (const auto& s : servers(runner, compose))
        if (s.name == container || s.id == container) {
          own_port = s.published;
          own_ip = s.ips.empty() ? "" : s.ips[0];
        }
      std::string error;
      auto m = ask(endpoints, 1s, error);
      bool elsewhere = m && m->port != own_port;
      // Every Sentinel must know it as a healthy replica before the next fault: the master is
      // gone then, and the Sentinels can no longer learn of its replicas.
      auto [listing, answered] = replica && link_up && elsewhere ? sentinels_listing(endpoints, own_ip) : std::pair<int, int>{0, 0};
      int all = static_cast<int>(endpoints.sentinels.size());
      if (replica && link_up && elsewhere && listing == all)
        return fmt::format("restarted {}; a replica of {}, the master the Sentinels name, and listed by all {} Sentinels", container, m->announced, all);
      last = !replica ? "still a master"
             : !link_up ? "its link to the master is down"
             : !elsewhere ? "the Sentinels still name it master"
                         : fmt::format("{} of {} Sentinels list it as a replica ({} answered)", listing, all, answered);
    } else {
      last = util::trim(exec::redact(r.err));
    }
    std::this_thread::sleep_for(250ms);
  }
  throw Error(ExitCode::failed, fmt::format("{} did not come back as a replica within {} s", container, duration_cast<seconds>(timeout).count()),
              last, "run 'statectl status --target compose'");
}

} // namespace statectl::targets::detail::compose_redis

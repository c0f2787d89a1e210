#pragma once

// Redis with Sentinel on the compose target (not a public API): which container holds the master
// the Sentinels name, and bringing a killed master's container back as a replica. The Sentinels
// announce container addresses; the published loopback ports (Endpoints::redis_nat) reach them.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/deploy/tools.h"
#include "core/exec/runner.h"
#include "core/stack/endpoints.h"
#include "core/targets/results.h"

namespace statectl::targets::detail::compose_redis {

// One Redis server container (redis-master or redis-replica) of the project.
struct Server {
  std::string id;
  std::string name;    // the container name
  std::string service; // redis-master | redis-replica
  int published = 0;   // the loopback port its 6379 is published on; 0 when none (or not running)
  std::vector<std::string> ips; // its addresses on the project's networks (what a Sentinel announces)
  bool running = false;
};

// The project's Redis server containers, running or not, asked of the engine directly. Throws
// Error(external) when the engine does not answer.
std::vector<Server> servers(exec::Runner& runner, const deploy::Compose& compose);

// The container of the master the Sentinels name now (asked through their published ports, the
// announced address mapped to its published port). Throws Error(unavailable) when no Sentinel
// answers, Error(failed) when no container publishes that address.
Server master(exec::Runner& runner, const deploy::Compose& compose, const stack::Endpoints& endpoints);

// The replication role each running Redis server reports (ROLE through its published loopback
// port, logged in with endpoints' user and password): container name -> "master" or "replica". A
// server that does not answer is left out.
std::map<std::string, std::string> roles(exec::Runner& runner, const deploy::Compose& compose, const stack::Endpoints& endpoints,
                                         const std::string& password);

// Sets the role of each redis-master / redis-replica row (services[i] is row i's service) to
// the one its server reported in live, or "unknown" when it did not answer.
void annotate(const std::map<std::string, std::string>& live, const std::vector<std::string>& services, std::vector<ComponentRow>& components);

// After `failover test` killed the master's container: starts it again and waits until it is a
// replica with its link to the master up (its entrypoint follows the master the Sentinels name;
// asked inside the container with the health check's password file), the Sentinels name
// another master and every Sentinel lists it as a replica it may promote.
// Returns what was done. Throws Error(failed) when that does not happen within timeout,
// Error(external) when the engine refuses the start.
std::string rejoin(exec::Runner& runner, const deploy::Compose& compose, const stack::Endpoints& endpoints, const std::string& container,
                   std::chrono::milliseconds timeout);

} // namespace statectl::targets::detail::compose_redis

#pragma once

#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/deploy/tools.h"
#include "core/exec/runner.h"
#include "core/render/render.h"

namespace statectl::deploy {

// What a healthy deploy of the config has: standbys beside the primary (recorded scale counts
// included), the Redis mode and Sentinel's master name.
struct Expect {
  std::int64_t pg_replicas = 0;
  std::string redis_mode; // standalone, sentinel, cluster
  std::string master_name;
  // redis-cli as run inside the stack's containers: with --tls --cacert /run/secrets/ca.crt when
  // the render speaks TLS only (render::tls_rendered), verifying the servers against the CA.
  std::vector<std::string> redis_cli = {"redis-cli"};
};
Expect expectations(const config::Config& cfg, const render::Request& req);

// Polls `compose ps -q [SERVICE]` + `docker inspect` every 2 s until every container (of the
// service, when one is named) is healthy (or running, for one without a health check). Throws
// Error(failed) naming the containers that are not when timeout passes, or at once when one has
// exited.
void wait_compose_healthy(exec::Runner& runner, const Compose& compose, std::chrono::milliseconds timeout,
                          const std::string& service = "");

// The post-deploy checks, through `compose exec -T` / `kubectl exec`: the primary accepts a
// write, the expected number of standbys stream, Sentinel knows the master (sentinel mode) or
// the cluster is formed (cluster mode). Returns {check: detail}; throws Error(failed) on the
// first check that fails. With [postgres] ha = "patroni" the streaming count is read again for
// up to 60 s (a member is ready once PostgreSQL runs, shortly before it streams); on compose the
// primary's service is then the member that leads.
nlohmann::json verify_compose(const config::Config& cfg, exec::Runner& runner, const Compose& compose, const render::Request& req,
                              const std::string& primary = "postgres-primary");
nlohmann::json verify_k8s(const config::Config& cfg, exec::Runner& runner, const Kubectl& kubectl, const render::Request& req);

} // namespace statectl::deploy

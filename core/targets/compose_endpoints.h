#pragma once

// The compose target's addresses and names (not a public API): the Redis servers' published
// ports and what each service of the render is.

#include <filesystem>
#include <string>
#include <utility>

#include "core/clients/endpoint.h"
#include "core/config/config_fwd.h"
#include "core/exec/runner.h"

namespace statectl::targets::detail {

// The Sentinels run in the project's network and name the master as they know it: the service
// name redis-master, or the container address a promoted replica announced. Maps each Redis
// container's address to the loopback port it publishes (master_port for redis-master).
clients::AddressMap redis_nat(const config::Config& cfg, exec::Runner& runner, const std::filesystem::path& file, int master_port);

// A service of the compose render -> its kind and role ("postgres-primary" -> postgres, primary;
// "patroni-2" -> patroni, member; "etcd-1" -> etcd, dcs; "haproxy-1" -> haproxy, proxy).
std::pair<std::string, std::string> compose_kind(const std::string& service);

} // namespace statectl::targets::detail

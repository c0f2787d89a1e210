#pragma once

// The compose target's addresses and names (not a public API): the Redis servers' published
// ports and what each service of the render is.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/config/config_fwd.h"
#include "core/exec/runner.h"

namespace statectl::targets::detail {

// The Sentinels run in the project's network and name the master as they know it: the service
// name redis-master, or the container address a promoted replica announced. Maps each Redis
// container's address to the loopback port it publishes (master_port for redis-master).
clients::AddressMap redis_nat(const config::Config& cfg, exec::Runner& runner, const std::filesystem::path& file, int master_port);

// How statectl reaches the servers of the compose render applied in dir: TLS verified against
// dir/secrets/ca.crt (the CA the containers mount; the certificate names 127.0.0.1, where the
// ports are published) when that render speaks TLS, else plain text. Throws Error(usage) when
// the config would render the other mode than the applied one (a stack deployed before compose
// had TLS, or a changed [tls] enabled): statectl never falls back to plain text.
clients::ClientTls compose_client_tls(const config::Config& cfg, const std::filesystem::path& dir);

// Whether the compose render applied in dir gives Redis ACL users (render::acl_rendered). Throws
// Error(usage) when the config would render the other mode than the applied one.
bool compose_redis_acl(const config::Config& cfg, const std::filesystem::path& dir);

// redis-cli as run inside a container of the render: with --tls --cacert /run/secrets/ca.crt (the
// mounted CA) when the servers speak TLS (e.redis_tls), and --user e.redis_user on a stack with
// ACL users (the admin; redis-cli sends it only with a password).
std::vector<std::string> container_redis_cli(const clients::Endpoints& e);

// Whether the compose file text mounts the TLS secrets (the render speaks TLS only).
bool compose_file_tls(const std::string& compose_file);

// A service of the compose render -> its kind and role ("postgres-primary" -> postgres, primary;
// "patroni-2" -> patroni, member; "etcd-1" -> etcd, dcs; "haproxy-1" -> haproxy, proxy).
std::pair<std::string, std::string> compose_kind(const std::string& service);

} // namespace statectl::targets::detail

#pragma once

#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/exec/runner.h"

namespace statectl::deploy {

// `statectl psql` and `statectl redis-cli` on a compose or k8s deploy. The client runs inside the
// server's own container (`docker compose exec`, `kubectl exec`), where PostgreSQL trusts local
// connections and Redis' password is read from the mounted secret file, so no password crosses
// argv or leaves the cluster. tty: give the client a terminal (stdin and stdout are one).
// stdio is inherited; the exit code is the client's. Throws Error: usage (terraform, which has
// no container to enter), failed (nothing deployed), unavailable (docker / kubectl missing).

// psql as the superuser on the primary, or on a standby with replica.
exec::Command psql_exec(const config::Config& cfg, exec::Runner& runner, bool replica, const std::vector<std::string>& args, bool tty);

// redis-cli on the current master (sentinel mode: the address the Sentinel reports now, asked
// inside its container), on a replica with replica, or on a cluster node with -c (cluster mode).
exec::Command redis_cli_exec(const config::Config& cfg, exec::Runner& runner, bool replica, const std::vector<std::string>& args,
                             bool tty);

} // namespace statectl::deploy

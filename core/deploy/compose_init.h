#pragma once

#include <chrono>
#include <string>

#include "core/config/config_fwd.h"
#include "core/deploy/tools.h"
#include "core/exec/runner.h"
#include "core/render/render.h"

namespace statectl::deploy {

// The role the compose standbys clone and stream as (the rendered pg_hba.conf and
// replica-entrypoint.sh name it too).
inline constexpr const char* k_compose_replication_role = "replicator";

// The SQL statectl feeds the compose primary after every `up`: creates the replication,
// pgbouncer and application roles when missing, sets every role's password from the secret
// store as a SCRAM verifier computed here (never the password itself), creates the database and
// the application's grants, then sets synchronous_standby_names (ALTER SYSTEM + reload) — only
// now, so the image's temporary init server never waits for a standby; under Patroni
// ([postgres] ha = "patroni") not at all: Patroni's synchronous_mode names the standbys. The
// session commits locally, so a deploy repairs roles even while no standby streams.
std::string compose_primary_sql(const config::Config& cfg, const render::Request& req);

// Runs compose_primary_sql through `compose exec -T SERVICE psql` with the SQL on stdin (over
// the container's own socket), once the primary's service (postgres-primary, or the Patroni
// member that leads) is healthy. Throws Error(failed) when it does not become healthy within
// timeout or psql fails.
void init_compose_primary(const config::Config& cfg, exec::Runner& runner, const Compose& compose, const render::Request& req,
                          std::chrono::milliseconds timeout, const std::string& service = "postgres-primary");

} // namespace statectl::deploy

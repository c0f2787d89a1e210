#pragma once

// Which container holds the PostgreSQL primary role of a bare-mode compose stack (not a public
// API). The render deploys postgres-primary as the primary; a `failover switchover` (or a failover
// test left unhealed) moves the role to a postgres-replica container, and the compose target
// records that here so status, psql, the poolers and the next switchover follow the role.

#include <filesystem>
#include <string>

#include "core/config/config_fwd.h"

namespace statectl::targets::detail::compose_roles {

// <state dir>/compose-primary: the name of the container that holds the primary role, present only
// while that is not postgres-primary's container.
std::filesystem::path record_path(const config::Config& cfg);

// The recorded primary container; empty when nothing is recorded (postgres-primary's container is
// the primary, as deployed).
std::string recorded_primary(const config::Config& cfg);

// Records container as the one holding the primary role; deployed_primary (postgres-primary's own
// container) removes the record instead. Throws Error(failed) when the file cannot be written.
void record_primary(const config::Config& cfg, const std::string& container, bool deployed_primary);

// Removes the record (destroy --purge: the containers are gone).
void forget(const config::Config& cfg);

// Throws Error(usage) saying that `what` needs the deployed roles while the record names another
// container as the primary; nothing recorded: returns. The hint names the switchover back.
void refuse_while_switched(const config::Config& cfg, const std::string& what, const std::string& why);

// PgBouncer's configuration with the `* = host=NAME ...` line of [databases] pointed at host (the
// rest unchanged). Returns the text unchanged when it has no such line.
std::string pgbouncer_ini_for(const std::string& ini, const std::string& host);

// After a re-render of the applied render in dir: its pgbouncer.ini names postgres-primary again;
// while the record names another container, points it there, so a restarted or added PgBouncer
// starts pointed at the primary. Throws Error(failed) when the file cannot be rewritten.
void keep_pooler_host(const config::Config& cfg, const std::filesystem::path& dir);

} // namespace statectl::targets::detail::compose_roles

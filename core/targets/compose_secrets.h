#pragma once

// `secrets rotate --apply` on a compose project (not a public API).

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/deploy/tools.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/render/render.h"
#include "core/secrets/manage.h"
#include "core/stack/endpoints.h"
#include "core/targets/compose_patroni.h"

namespace statectl::targets::detail {

// The Patroni members of the project as Patroni and the engine report them (ha = "patroni").
using PatroniMembers = std::function<std::vector<compose_patroni::Member>()>;

// Writes the files the rendered compose file references as ./secrets/<name> into dir/secrets,
// readable by the containers' user, in a 0700 directory; values from the secret store
// (generated there on first use). A TLS render (render::tls_rendered) also gets ca.crt, tls.crt
// and tls.key, issued into the store on first use like the local stack's (statectl's CA; the
// names include every compose service and 127.0.0.1).
void write_compose_secrets(const config::Config& cfg, const render::Request& req, const std::filesystem::path& dir, output::Printer& printer);

// The ApplyFn of `secrets rotate NAME --apply` on the running containers of a compose project,
// with the guarantees of the local stack: no container restarts, and a fresh login with the new
// value verifies each change.
//   postgres, app, pgbouncer, replication: ALTER ROLE ... PASSWORD with a SCRAM verifier computed
//     by statectl, over postgres-primary's own socket (`docker exec -i ... psql`, SQL on stdin);
//     every PgBouncer gets a new auth file in its container and a RELOAD (SIGHUP); replication:
//     every standby's passfile; then logins through the published primary and PgBouncer ports.
//     With Patroni (`patroni` not empty) the primary is the member that leads, reached the same
//     way; for postgres and replication Patroni's own credentials file is rewritten in every
//     member and Patroni reloaded before the ALTER ROLE, and Patroni's own fresh logins verify it
//     afterwards (PatroniCredentials).
//   redis: CONFIG SET masterauth, then requirepass (+ CONFIG REWRITE) on every Redis container,
//     SENTINEL SET auth-pass on every Sentinel, the password file the health checks read; then
//     AUTH with the new value on every server.
// The secret files under dir/secrets are rewritten too (atomically: a container sees them at its
// next start). Values travel on stdin only. Throws Error(usage) for a secret the stack does not
// use; the returned function throws Error when a step fails (rotate then undoes it).
secrets::ApplyFn compose_secrets_applier(const config::Config& cfg, const secrets::Store& store, exec::Runner& runner,
                                         output::Printer& printer, const deploy::Compose& compose, const std::filesystem::path& dir,
                                         const std::string& name, const stack::Endpoints& endpoints, PatroniMembers patroni);

} // namespace statectl::targets::detail

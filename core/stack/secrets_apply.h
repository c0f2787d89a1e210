#pragma once

#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/secrets/manage.h"
#include "core/secrets/store.h"

namespace statectl::stack {

// The ApplyFn of `secrets rotate --apply` on the local stack: the running servers take a new
// password without a restart, and a fresh connection with it is verified.
//   postgres, app, pgbouncer, replication: ALTER ROLE ... PASSWORD with a SCRAM verifier computed
//     client-side (libpq PQencryptPasswordConn), so the plaintext never reaches a server or its
//     log; the PgBouncer auth file is rewritten and PgBouncer reloaded (SIGHUP); standbys'
//     passfiles get the new replication password.
//   redis: CONFIG SET masterauth/requirepass on every server (+ CONFIG REWRITE), then
//     SENTINEL SET <master> auth-pass on every Sentinel.
// Throws Error(usage) right away when the target is not a deployed local stack or the secret is
// not one the stack uses; the returned function throws Error when a server refuses.
// Throws Error(usage) when `secret_name` is a password the deployed local stack uses: rotating
// it in the store alone would leave the running servers on the old value and lock statectl out
// of them. Passes for TLS material, other names, and when nothing is deployed locally.
void refuse_store_only_rotation(const config::Config& cfg, const std::string& secret_name);

// Finishes or rolls back the rotations a killed `secrets rotate --apply` left in the journal of
// the deployed local stack: the value the servers accept wins (the new one: finished; the old
// one: rolled back), is stored and applied everywhere again (idempotent), and the journal entry
// goes. An entry whose servers accept neither value or cannot be reached stays, with a warning.
// Returns one line per settled entry ("finished the interrupted rotation of 'postgres'").
std::vector<std::string> settle_rotations(const config::Config& cfg, secrets::Store& store, exec::Runner& runner,
                                          output::Printer& printer);

secrets::ApplyFn local_stack_applier(const config::Config& cfg, const secrets::Store& store, exec::Runner& runner,
                                     output::Printer& printer, const std::string& secret_name);

} // namespace statectl::stack

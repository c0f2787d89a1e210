#pragma once

#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"

namespace statectl::stack {

// `secrets tls --rotate --apply` on the deployed local stack with [tls] enabled: the store's
// (new) certificate and key are written over <state dir>/tls/ (atomic renames), then every
// server loads them without a restart - PostgreSQL members reload their configuration (pg_ctl
// reload: new connections get the new certificate), PgBouncer reloads (SIGHUP), Redis servers
// take CONFIG SET tls-cert-file/tls-key-file (re-read even when the path is the same); a
// Sentinel, which has no CONFIG SET for them, is restarted one at a time (the others keep the
// quorum). Finally a fresh TLS connection to each server must present the new certificate.
// Returns the steps taken. Throws Error(usage) when nothing TLS is deployed locally, and
// Error(failed) naming the server that still presents the old certificate.
std::vector<std::string> apply_tls_rotation(const config::Config& cfg, exec::Runner& runner, output::Printer& printer);

} // namespace statectl::stack

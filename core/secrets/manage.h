#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/secrets/store.h"
#include "core/secrets/tls.h"

namespace statectl::secrets {

// What `secrets generate` did to one name.
struct GenerateEntry {
  std::string name;
  std::string action; // generated, replaced, kept (exists and no --force)
  std::filesystem::path backup;
};

// Generates passwords for names (the stack's set when empty); existing ones are kept unless
// force, in which case the old value becomes a dated backup. With plan set nothing is written.
// Throws Error(usage) for a TLS name or a length outside [k_min_length, k_max_length].
std::vector<GenerateEntry> generate(Store& store, std::vector<std::string> names, std::size_t length, bool force, bool plan);

// What `secrets tls` issued.
struct TlsResult {
  bool ca_created = false;
  tls::CertInfo cert;
  std::vector<std::string> written; // names written to the store
};

// Issues a server certificate (and a CA when the store has none), storing ca.crt/ca.key
// (when created) and tls.crt/tls.key (the previous pair kept as backups). With plan set the
// material is issued in memory only. Throws Error(usage) when only one of ca.crt/ca.key exists.
// When the store holds the application role's client certificate (pg-app.crt/.key) it is
// reissued too, with the same CN, by the same CA.
TlsResult issue_tls(Store& store, const tls::Request& request, bool plan);

// Issues the application role's client certificate (CN = role, clientAuth) with the store's CA
// into pg-app.crt/pg-app.key (0600 like every secret); false when the store has no CA yet.
bool issue_app_cert(Store& store, const std::string& role, bool plan);

// One row of `secrets list`.
struct ListEntry {
  std::string name;
  Metadata meta;
  std::optional<long> days_left; // certificates only
};

std::vector<ListEntry> list(const Store& store);

// Days from now until an ISO 8601 UTC time; nullopt when text does not parse.
std::optional<long> days_until(const std::string& iso_utc);

// What `secrets rotate` did.
struct RotateResult {
  std::string name;
  std::string kind;
  std::vector<std::filesystem::path> backups;
  std::vector<std::string> replaced;   // names whose value changed (tls.crt + tls.key, ...)
  std::vector<std::string> applied;    // steps done on the running stack ("postgres: ALTER ROLE postgres")
  bool verified = false;               // a fresh connection with the new value succeeded
  bool planned = false;
};

// Applies a changed password to the running servers; returns the steps taken. Throws
// Error when a server refuses; the caller restores the old value then.
using ApplyFn = std::function<std::vector<std::string>(const std::string& name, const std::string& old_value,
                                                       const std::string& new_value)>;

// Rotates a secret: a password gets a new value of `length` characters; tls.crt/tls.key a new
// server certificate with the same names and lifetime; ca.crt/ca.key a new CA and a new server
// certificate; the application role's client certificate, when issued, is reissued with either.
// The previous values are kept as dated backups. When apply is set (passwords only) it runs
// after the new value is stored; if it throws, the old value is put back (and apply is asked
// to restore it on the servers) before the error propagates.
RotateResult rotate(const config::Config& cfg, Store& store, const std::string& name, std::size_t length, bool plan,
                    const ApplyFn& apply = {});

} // namespace statectl::secrets

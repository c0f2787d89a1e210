#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"

namespace statectl::stack {

// Which PostgreSQL server `statectl psql` connects to.
struct PsqlTarget {
  bool direct = false;  // the primary itself instead of PgBouncer
  bool replica = false; // a standby
  std::string host;     // another instance (e.g. a restored copy); empty = the stack's
  int port = 0;         // 0 = the chosen endpoint's port
};

// The psql command for the stack: the superuser on PgBouncer (or the chosen server), the
// password in the child's environment (PGPASSWORD), never in argv; stdio inherited.
exec::Command psql_command(const config::Config& cfg, const PsqlTarget& target, const std::vector<std::string>& args);

// The redis-cli command for the current Redis master (what a Sentinel reports, else the
// recorded master) or, with replica, a replica; as the admin user (--user) on a stack with ACL
// users; password in REDISCLI_AUTH; stdio inherited.
exec::Command redis_cli_command(const config::Config& cfg, bool replica, const std::vector<std::string>& args);

// Splits the password out of a URL: postgresql://u:pw@h/db -> (postgresql://u@h/db, pw).
std::pair<std::string, std::string> split_url_password(const std::string& url);

} // namespace statectl::stack

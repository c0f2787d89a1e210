#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clients/postgres.h"
#include "core/config/config_fwd.h"

namespace statectl::backup {

// Where and as whom statectl reaches a PostgreSQL server. The password is passed to libpq as a
// parameter and to child programs as PGPASSWORD in their environment, never in argv.
struct PgTarget {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user = "postgres";
  std::string database = "postgres";
  std::string password;
  std::string url; // [postgres] url instead of host/port
  clients::ClientTls tls; // the target's TLS: verify-full with its CA (children: PGSSLMODE/PGSSLROOTCERT)

  // libpq connection arguments for child programs (-h -p -U or -d URL), without the password.
  std::vector<std::string> argv() const;
  // The environment a child program needs (PGPASSWORD when there is a password).
  std::map<std::string, std::string> env() const;
  std::string display() const;
};

// The current primary of the config (core/clients/endpoint.h) with its password from the secret
// store (registered for redaction); no password when the store has none.
PgTarget primary_target(const config::Config& cfg);

// A session on the one PostgreSQL client (core/clients/postgres.h); throws Error(unavailable)
// when it cannot connect and Error(failed) on a failed statement. Values come back as text;
// NULL as nullopt.
class PgSession {
public:
  explicit PgSession(const PgTarget& target, int connect_timeout_s = 5);

  std::vector<std::vector<std::optional<std::string>>> query(const std::string& sql);
  // The first column of the first row ("" when NULL or no row).
  std::string scalar(const std::string& sql);

private:
  clients::PgConnection m_conn;
  std::string m_where;
};

} // namespace statectl::backup

#pragma once

#include <string>

namespace statectl::clients {

// One PostgreSQL address with the role and database to use. The password is never part of a
// connection string that could be logged: callers pass it to libpq separately (PGPASSWORD in a
// child's environment, or a 0600 passfile).
struct PgEndpoint {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user;
  std::string database;
  std::string password_secret; // name in the secret store ("postgres"), empty = none
  std::string url;             // set instead of host/port when [postgres] url is configured
};

// One host and port (a Redis server or Sentinel).
struct HostPort {
  std::string host = "127.0.0.1";
  int port = 0;
};

} // namespace statectl::clients

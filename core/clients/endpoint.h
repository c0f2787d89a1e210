#pragma once

#include <map>
#include <optional>
#include <string>

namespace statectl::clients {

// How a client secures its link to a server of the stack: off (plain text), or TLS that
// verifies the server's certificate against ca_file only (CA pinning) and its name (the host
// connected to, or server_name when set). Filled by the target that knows how its servers run.
struct ClientTls {
  bool enabled = false;
  std::string ca_file;     // PEM CA the server's certificate must chain to
  std::string server_name; // name (or IP) to verify instead of the host; empty = the host
};

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
  ClientTls tls;               // enabled: sslmode=verify-full with tls.ca_file as sslrootcert
};

// One host and port (a Redis server or Sentinel).
struct HostPort {
  std::string host = "127.0.0.1";
  int port = 0;
};

// Addresses as servers announce them ("host:port": a container's name or address that a Sentinel
// inside a container network reports) mapped to where this machine reaches them (a published
// loopback port), as ioredis's natMap. Empty: announced addresses are used as they are.
using AddressMap = std::map<std::string, HostPort>;

// Where this machine reaches host:port under map: the mapped address, or host:port itself when
// the map is empty; nullopt when the map is not empty and has no entry (the server is not
// published: connecting to the announced address would reach something else or nothing).
std::optional<HostPort> map_address(const AddressMap& map, const std::string& host, int port);

} // namespace statectl::clients

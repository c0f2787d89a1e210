#pragma once

// The one Redis client of statectl (hiredis). Every connection statectl makes to a Redis server
// or a Sentinel goes through RedisConnection: timeouts, AUTH (with an ACL user), Sentinel master
// discovery, reply conversion and the mapping of failures to exit codes live here once.

#include <chrono>
#include <map>
#include <memory>
#include <utility>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/error.h"
#include "core/util/expected.h"

struct redisContext;
struct redisReply;

namespace statectl::clients {

class RedisTlsTransport;

// TLS settings. hiredis 0.14 has no TLS, so an enabled connection is statectl's own transport
// (OpenSSL over a TCP socket, RESP through hiredis's formatter and reader): TLS 1.2 or later,
// the server's certificate must chain to ca_file alone (CA pinning, not the system's CAs) and
// name server_name (or the host connected to; an IP address is matched against IP SANs).
struct RedisTls {
  bool enabled = false;
  std::string ca_file;
  std::string cert_file; // client certificate (tls-auth-clients), optional
  std::string key_file;
  std::string server_name;
};

// The Redis TLS settings of a stack link: CA pinning with the link's CA file when enabled.
RedisTls redis_tls(const ClientTls& tls);

// Where and how to connect to one Redis server or Sentinel. Cluster routing (issue 19) belongs
// in a slot-aware layer over several RedisConnections; redirect_of() reads MOVED/ASK replies.
struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;     // ACL user; empty = the default user (AUTH <password>)
  std::string password; // empty = no AUTH
  int db = 0;           // SELECT after connecting when not 0
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{5000};
  // A server without a password answers AUTH with an error; with this set that is not a failure.
  bool tolerate_no_password = true;
  RedisTls tls;

  // "host:port".
  std::string display() const;
};

// redis://[[user]:password@]host[:port][/db] (the password registered for redaction). Throws
// Error(usage) for another scheme.
RedisOptions parse_redis_url(const std::string& url);

// How a Redis call failed.
enum class RedisFailureKind {
  connect,     // refused, unreachable, timed out while connecting
  auth,        // AUTH was rejected
  timeout,     // no answer within the command timeout
  io,          // the connection broke during a call
  reply,       // the server answered with an error
  unsupported, // asked for something this client cannot do
};

// One failure: its kind and the reason (secrets redacted).
struct RedisFailure {
  RedisFailureKind kind = RedisFailureKind::reply;
  std::string message;
};

// The exit code of a failure: reply errors are reply_code (the call sites' "failed" or
// "external"), unsupported is usage, everything else ExitCode::unavailable.
ExitCode exit_code(const RedisFailure& f, ExitCode reply_code = ExitCode::failed);

// The one mapping of a failure to a statectl::Error: "<what>: <message>" with the exit code of
// exit_code() and the hint given, or for AUTH failures a hint about the password.
Error to_error(const RedisFailure& f, const std::string& what, const std::string& hint = {},
               ExitCode reply_code = ExitCode::failed);

// Thrown by RedisConnection's calls.
class RedisError : public std::runtime_error {
public:
  explicit RedisError(RedisFailure f);
  const RedisFailure& failure() const { return m_failure; }
  RedisFailureKind kind() const { return m_failure.kind; }

private:
  RedisFailure m_failure;
};

// A reply, converted from hiredis (RESP2: hiredis 0.14 has no RESP3).
struct RedisValue {
  enum class Type { nil, string, status, error, integer, array };
  Type type = Type::nil;
  std::string str;       // string, status, error
  long long integer = 0; // integer
  std::vector<RedisValue> elements;

  static RedisValue from(const redisReply* r);
  bool is_nil() const { return type == Type::nil; }
  bool is_error() const { return type == Type::error; }
  // Text of a string/status/error, the decimal of an integer, else "".
  std::string text() const;
};

// A MOVED or ASK redirect of Redis Cluster.
struct RedisRedirect {
  bool ask = false;
  int slot = 0;
  std::string host;
  int port = 0;
};
// The redirect an error reply carries, nullopt for any other reply.
std::optional<RedisRedirect> redirect_of(const RedisValue& v);

// The "field:value" lines of an INFO reply's text, trimmed (section headers and blank lines
// skipped).
std::map<std::string, std::string> info_fields(std::string_view info);

// One connection (RAII, move-only). Error replies are returned as values; a broken connection
// or a timeout throws RedisError.
class RedisConnection {
public:
  RedisConnection();
  ~RedisConnection();
  RedisConnection(RedisConnection&& o) noexcept;
  RedisConnection& operator=(RedisConnection&& o) noexcept;
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects, sets the command timeout, authenticates and selects the database; throws
  // RedisError(connect|auth|timeout|reply|unsupported).
  static RedisConnection connect(const RedisOptions& options);

  explicit operator bool() const { return connected(); }
  // What the connection points at ("host:port").
  const std::string& display() const { return m_display; }

  // One command, arguments binary-safe (redisCommandArgv).
  RedisValue command(const std::vector<std::string>& args);
  // Several commands in one round trip; the replies in order.
  std::vector<RedisValue> pipeline(const std::vector<std::vector<std::string>>& commands);
  // Streaming pipelining: append() queues a command, send() writes what is queued, read()
  // returns the next reply.
  void append(const std::vector<std::string>& args);
  void send();
  RedisValue read();

  // Changes the command timeout (read and write) of the connection.
  void set_timeout(std::chrono::milliseconds timeout);

  // The TLS protocol of the connection ("TLSv1.3"), empty when it is plain text.
  std::string tls_protocol() const;

  // The hiredis context, for what this API does not cover yet (nullptr over TLS).
  redisContext* native() const { return m_ctx; }

private:
  [[noreturn]] void fail();
  bool connected() const { return m_ctx != nullptr || m_tls != nullptr; }
  redisContext* m_ctx = nullptr;
  std::unique_ptr<RedisTlsTransport> m_tls; // set instead of m_ctx for a TLS connection
  std::string m_display;
};

// The Sentinels of a master set and how to talk to them.
struct SentinelOptions {
  std::vector<HostPort> sentinels;
  std::string master_name;
  // The Sentinels' own credentials, used only when a Sentinel answers NOAUTH.
  std::string user;
  std::string password;
  std::chrono::milliseconds timeout{2000};
  // TLS of the Sentinels (the masters' is RedisOptions::tls of connect_master()).
  RedisTls tls;
  // The announced addresses of the master set mapped to reachable ones (map_address()); a
  // master missing from a non-empty map is an error, never an unmapped connection.
  AddressMap nat;
};

// The Sentinels of a stack's endpoints: their addresses, the master set's name, the map of the
// addresses they announce (Endpoints::redis_nat, asked now) and their TLS; `password` is the
// Sentinels' own (empty: none).
SentinelOptions sentinel_options(const Endpoints& endpoints, const std::string& password = "");

// A master as a Sentinel reports it.
struct MasterAddress {
  std::string host; // where this machine reaches it (after SentinelOptions::nat)
  int port = 0;
  std::string announced; // "host:port" as the Sentinel reported it
  std::string sentinel; // "host:port" of the Sentinel that answered
};

// Asks each Sentinel in turn for the master's address (SENTINEL get-master-addr-by-name); the
// first answer wins. The failure says why each Sentinel did not answer ("sentinel h:p: why; ...").
util::Expected<MasterAddress> ask_sentinels(const SentinelOptions& sentinels);

// A discovered, verified master and a connection to it.
struct RedisMaster {
  MasterAddress address;
  RedisConnection connection;
};

// Master discovery: asks the Sentinels for the master, connects to it with master's options
// (host and port replaced) and verifies with ROLE that it is a master; a Sentinel whose master
// is unreachable or not a master is skipped for the next one. The failure says why each failed.
util::Expected<RedisMaster> connect_master(const SentinelOptions& sentinels, const RedisOptions& master);

} // namespace statectl::clients

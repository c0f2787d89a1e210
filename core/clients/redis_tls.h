#pragma once

// The TLS transport of RedisConnection (private to core/clients): hiredis 0.14 cannot speak TLS,
// so a TLS connection is a TCP socket with an OpenSSL session; commands are formatted with
// hiredis's redisFormatCommandArgv and replies parsed with its redisReader, so the bytes on the
// wire and the reply objects are exactly hiredis's.

#include <chrono>
#include <string>
#include <vector>

#include "core/clients/redis.h"

struct ssl_st;
struct ssl_ctx_st;
struct redisReader;

namespace statectl::clients {

// One TLS connection: connect() performs the TCP connect and the verified handshake; the calls
// throw RedisError(connect|timeout|io) like the hiredis path.
class RedisTlsTransport {
public:
  // Connects to host:port and completes the handshake within connect_timeout; throws
  // RedisError(connect) naming the reason (refused, certificate not trusted, name mismatch).
  static std::unique_ptr<RedisTlsTransport> connect(const std::string& host, int port, const RedisTls& tls,
                                                    std::chrono::milliseconds connect_timeout);
  ~RedisTlsTransport();
  RedisTlsTransport(const RedisTlsTransport&) = delete;
  RedisTlsTransport& operator=(const RedisTlsTransport&) = delete;

  // Queues one command (binary-safe arguments) for send().
  void append(const std::vector<std::string>& args);
  // Writes everything queued.
  void send();
  // The next reply (a redisReply the caller frees with freeReplyObject), reading as needed.
  void* read();
  // Read and write timeout of the socket.
  void set_timeout(std::chrono::milliseconds timeout);
  // "TLSv1.3".
  std::string protocol() const;

private:
  RedisTlsTransport() = default;
  [[noreturn]] void fail_io(int ret, const char* what);
  // After a failed call the stream may hold half a reply: the connection is not used again.
  void check_usable() const;
  bool m_broken = false;
  int m_fd = -1;
  ssl_ctx_st* m_ctx = nullptr;
  ssl_st* m_ssl = nullptr;
  redisReader* m_reader = nullptr;
  std::string m_out;
};

} // namespace statectl::clients

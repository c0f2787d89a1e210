#include "core/clients/redis_tls.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/exec/redact.h"

namespace statectl::clients {

namespace {

// The first OpenSSL error queued (then the queue is cleared), or fallback.
std::string ssl_error(const std::string& fallback)
{
  unsigned long e = ERR_get_error();
  std::string out = fallback;
  if (e) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out;
}

[[noreturn]] void connect_failure(const std::string& why) { throw RedisError({RedisFailureKind::connect, exec::redact(why)}); }

void set_socket_timeout(int fd, std::chrono::milliseconds d)
{
  d = std::max(d, std::chrono::milliseconds(1));
  timeval tv{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A TCP connection to host:port within timeout (non-blocking connect, then blocking again).
int tcp_connect(const std::string& host, int port, std::chrono::milliseconds timeout)
{
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
    connect_failure(fmt::format("cannot resolve {}: {}", host, ::gai_strerror(rc)));
  std::string why = "no address";
  int fd = -1;
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(1, timeout.count())));
      if (n == 0) {
        why = "timed out";
        ::close(fd);
        fd = -1;
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err ? -1 : 0;
      errno = err;
    }
    if (rc == 0) {
      ::fcntl(fd, F_SETFL, flags);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      break;
    }
    why = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) connect_failure(why);
  return fd;
}

bool is_ip_address(const std::string& s)
{
  in6_addr a6{};
  in_addr a4{};
  return ::inet_pton(AF_INET, s.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

} // namespace

std::unique_ptr<RedisTlsTransport> RedisTlsTransport::connect(const std::string& host, int port, const RedisTls& tls,
                                                              std::chrono::milliseconds connect_timeout)
{
  if (tls.ca_file.empty()) connect_failure("TLS needs a CA file to verify the server (CA pinning)");
  std::unique_ptr<RedisTlsTransport> t(new RedisTlsTransport());
  t->m_ctx = SSL_CTX_new(TLS_client_method());
  if (!t->m_ctx) connect_failure(ssl_error("cannot create a TLS context"));
  SSL_CTX_set_min_proto_version(t->m_ctx, TLS1_2_VERSION);
  // Only statectl's CA: the system's CAs are not loaded.
  if (SSL_CTX_load_verify_locations(t->m_ctx, tls.ca_file.c_str(), nullptr) != 1)
    connect_failure(fmt::format("cannot read the CA file {}: {}", tls.ca_file, ssl_error("unreadable")));
  SSL_CTX_set_verify(t->m_ctx, SSL_VERIFY_PEER, nullptr);
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(t->m_ctx, tls.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(t->m_ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      connect_failure(fmt::format("cannot read the client certificate {}: {}", tls.cert_file, ssl_error("unreadable")));
  }
  t->m_ssl = SSL_new(t->m_ctx);
  if (!t->m_ssl) connect_failure(ssl_error("cannot create a TLS session"));
  std::string name = tls.server_name.empty() ? host : tls.server_name;
  X509_VERIFY_PARAM* param = SSL_get0_param(t->m_ssl);
  if (is_ip_address(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    SSL_set_tlsext_host_name(t->m_ssl, name.c_str());
  }

  t->m_fd = tcp_connect(host, port, connect_timeout);
  set_socket_timeout(t->m_fd, connect_timeout);
  SSL_set_fd(t->m_ssl, t->m_fd);
  if (int rc = SSL_connect(t->m_ssl); rc != 1) {
    long verify = SSL_get_verify_result(t->m_ssl);
    int err = SSL_get_error(t->m_ssl, rc);
    if (verify != X509_V_OK)
      connect_failure(fmt::format("TLS handshake with {}: server certificate not accepted: {}", name, X509_verify_cert_error_string(verify)));
    if ((err == SSL_ERROR_SYSCALL || err == SSL_ERROR_WANT_READ) && (errno == EAGAIN || errno == EWOULDBLOCK))
      connect_failure("timed out during the TLS handshake");
    connect_failure(fmt::format("TLS handshake failed: {}", ssl_error(err == SSL_ERROR_SYSCALL ? "connection closed by the server (does it speak TLS?)" : "protocol error")));
  }
  t->m_reader = redisReaderCreate();
  if (!t->m_reader) connect_failure("cannot allocate a reply reader");
  return t;
}

RedisTlsTransport::~RedisTlsTransport()
{
  if (m_ssl) {
    SSL_shutdown(m_ssl); // best effort close_notify; the socket closes anyway
    SSL_free(m_ssl);
  }
  if (m_ctx) SSL_CTX_free(m_ctx);
  if (m_fd >= 0) ::close(m_fd);
  if (m_reader) redisReaderFree(m_reader);
}

void RedisTlsTransport::check_usable() const
{
  if (m_broken) throw RedisError({RedisFailureKind::io, "the connection failed earlier and was closed"});
}

void RedisTlsTransport::fail_io(int ret, const char* what)
{
  m_broken = true;
  int err = SSL_get_error(m_ssl, ret);
  int saved = errno;
  if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_SYSCALL) && (saved == EAGAIN || saved == EWOULDBLOCK))
    throw RedisError({RedisFailureKind::timeout, "timed out"});
  if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ret == 0))
    throw RedisError({RedisFailureKind::io, "Server closed the connection"});
  throw RedisError({RedisFailureKind::io, fmt::format("TLS {} failed: {}", what, ssl_error(err == SSL_ERROR_SYSCALL ? std::strerror(saved) : "protocol error"))});
}

void RedisTlsTransport::append(const std::vector<std::string>& args)
{
  check_usable();
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (len < 0 || !cmd) throw RedisError({RedisFailureKind::io, "out of memory formatting a command"});
  m_out.append(cmd, static_cast<std::size_t>(len));
  redisFreeCommand(cmd);
}

void RedisTlsTransport::send()
{
  check_usable();
  std::size_t done = 0;
  while (done < m_out.size()) {
    std::size_t chunk = std::min<std::size_t>(m_out.size() - done, 1u << 20);
    int n = SSL_write(m_ssl, m_out.data() + done, static_cast<int>(chunk));
    if (n <= 0) {
      m_out.erase(0, done);
      fail_io(n, "write");
    }
    done += static_cast<std::size_t>(n);
  }
  m_out.clear();
}

void* RedisTlsTransport::read()
{
  send(); // a reply can only come for what was written
  char buf[16384];
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(m_reader, &reply) != REDIS_OK) {
      m_broken = true;
      throw RedisError({RedisFailureKind::io, fmt::format("protocol error: {}", m_reader->errstr)});
    }
    if (reply) return reply;
    int n = SSL_read(m_ssl, buf, sizeof buf);
    if (n <= 0) fail_io(n, "read");
    if (redisReaderFeed(m_reader, buf, static_cast<std::size_t>(n)) != REDIS_OK) {
      m_broken = true;
      throw RedisError({RedisFailureKind::io, fmt::format("protocol error: {}", m_reader->errstr)});
    }
  }
}

void RedisTlsTransport::set_timeout(std::chrono::milliseconds timeout) { set_socket_timeout(m_fd, timeout); }

std::string RedisTlsTransport::protocol() const { return m_ssl ? SSL_get_version(m_ssl) : ""; }

} // namespace statectl::clients

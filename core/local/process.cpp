#include "core/local/process.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "core/exec/runner.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::local {

namespace fs = std::filesystem;
using namespace std::chrono;

std::optional<std::uint64_t> process_start_time(int pid)
{
  if (pid <= 0) return std::nullopt;
  auto text = util::read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  auto close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  auto fields = util::split(util::trim(text->substr(close + 1)), ' ');
  // fields[0] is field 3 (state); the start time is field 22, so fields[19].
  if (fields.size() < 20) return std::nullopt;
  if (fields[0] == "Z" || fields[0] == "X") return std::nullopt;
  try {
    return std::stoull(fields[19]);
  } catch (...) {
    return std::nullopt;
  }
}

bool process_matches(int pid, std::uint64_t start_time)
{
  auto st = process_start_time(pid);
  if (!st) return false;
  return start_time == 0 || *st == start_time;
}

bool wait_reaped(int pid, milliseconds timeout)
{
  if (pid <= 0) return true;
  std::string proc = "/proc/" + std::to_string(pid);
  return wait_for([&] { return ::access(proc.c_str(), F_OK) != 0 || process_start_time(pid).has_value(); }, timeout, 50ms);
}

bool wait_no_process_in(const fs::path& dir, milliseconds timeout)
{
  std::error_code ec;
  fs::path want = fs::weakly_canonical(dir, ec);
  if (ec) return true;
  auto none_left = [&] {
    std::error_code it_ec;
    for (const auto& entry : fs::directory_iterator("/proc", it_ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::error_code link_ec;
      fs::path cwd = fs::read_symlink(entry.path() / "cwd", link_ec);
      if (!link_ec && cwd == want) return false;
    }
    return true;
  };
  return wait_for(none_left, timeout, 50ms);
}

std::optional<int> read_pidfile(const fs::path& path)
{
  auto text = util::read_file(path);
  if (!text) return std::nullopt;
  auto line = util::trim(text->substr(0, text->find('\n')));
  try {
    std::size_t used = 0;
    int pid = std::stoi(line, &used);
    if (used != line.size() || pid <= 0) return std::nullopt;
    return pid;
  } catch (...) {
    return std::nullopt;
  }
}

static sockaddr_in loopback(int port)
{
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Connects to 127.0.0.1:port with a timeout; returns the socket or -1.
static int connect_loopback(int port, milliseconds timeout)
{
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = loopback(port);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  if (rc != 0) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
      ::close(fd);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

bool port_open(int port, milliseconds timeout)
{
  int fd = connect_loopback(port, timeout);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

bool port_in_use(int port)
{
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  // SO_REUSEADDR: a port with only TIME_WAIT connections left is free for a server.
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = loopback(port);
  bool in_use = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno == EADDRINUSE;
  ::close(fd);
  return in_use;
}

bool wait_for(const std::function<bool()>& pred, milliseconds timeout, milliseconds interval)
{
  auto end = steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(interval);
  }
}

namespace {

// "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"; nullopt when resp is no HTTP response.
std::optional<HttpResponse> parse_http_response(const std::string& resp)
{
  if (resp.rfind("HTTP/", 0) != 0) return std::nullopt;
  auto sp = resp.find(' ');
  if (sp == std::string::npos) return std::nullopt;
  HttpResponse r;
  try {
    r.status = std::stoi(resp.substr(sp + 1, 3));
  } catch (...) {
    return std::nullopt;
  }
  auto body = resp.find("\r\n\r\n");
  if (body != std::string::npos) r.body = resp.substr(body + 4);
  return r;
}

// The request over TLS on a connected (non-blocking) socket: blocking again with socket
// timeouts, the server's certificate verified against ca_file only and for 127.0.0.1.
std::optional<HttpResponse> https_exchange(int fd, const std::string& req, const std::string& ca_file, milliseconds timeout)
{
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  milliseconds t = std::max(timeout, milliseconds(1));
  timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::optional<HttpResponse> out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  if (ctx && SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) == 1) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    ssl = SSL_new(ctx);
  }
  if (ssl) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1 && SSL_write(ssl, req.data(), static_cast<int>(req.size())) == static_cast<int>(req.size())) {
      std::string resp;
      char buf[8192];
      int n;
      while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) resp.append(buf, static_cast<std::size_t>(n));
      out = parse_http_response(resp);
      if (out) out->tls_protocol = SSL_get_version(ssl);
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  if (ctx) SSL_CTX_free(ctx);
  ERR_clear_error();
  return out;
}

} // namespace

std::optional<HttpResponse> http_request(int port, const std::string& method, const std::string& path, milliseconds timeout,
                                         const std::string& ca_file, const std::string& body)
{
  auto end = steady_clock::now() + timeout;
  int fd = connect_loopback(port, timeout);
  if (fd < 0) return std::nullopt;
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  if (!ca_file.empty()) {
    auto r = https_exchange(fd, req, ca_file, duration_cast<milliseconds>(end - steady_clock::now()));
    ::close(fd);
    return r;
  }
  std::string resp;
  std::size_t sent = 0;
  char buf[8192];
  while (true) {
    auto left = duration_cast<milliseconds>(end - steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, static_cast<short>(sent < req.size() ? POLLOUT : POLLIN), 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    if (sent < req.size()) {
      ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
      continue;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      ::close(fd);
      fd = -1;
      break;
    }
    resp.append(buf, static_cast<std::size_t>(n));
  }
  if (fd >= 0) ::close(fd);
  return parse_http_response(resp);
}

std::string find_binary(const std::string& name)
{
  std::string full;
  if (exec::find_program(name, &full)) return full;
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/local/sbin"}) {
    std::string candidate = std::string(dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

fs::path self_exe()
{
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("statectl") : p;
}

} // namespace statectl::local

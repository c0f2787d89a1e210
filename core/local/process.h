#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace statectl::local {

// The start time of a live process in clock ticks since boot (field 22 of /proc/PID/stat);
// nullopt when the process is gone or a zombie. Together with the pid it identifies one process:
// a pid that was reused by someone else's program has another start time.
std::optional<std::uint64_t> process_start_time(int pid);

// True when pid is alive and, when start_time is non-zero, is the very process that had that
// start time. statectl signals a process only when this holds for what the state file recorded.
bool process_matches(int pid, std::uint64_t start_time);

// Waits until pid has left the process table (a killed daemon stays a zombie until init reaps
// it, and PostgreSQL refuses to start while its old postmaster's pid still answers kill -0).
// True when it is gone (or is alive and not a zombie: then it is no corpse to wait for).
bool wait_reaped(int pid, std::chrono::milliseconds timeout);

// Waits until no process works in dir (its /proc/PID/cwd): the backends a SIGKILLed postmaster
// leaves behind keep its shared memory attached until they notice, and PostgreSQL refuses a new
// start on that data directory meanwhile. True when none is left.
bool wait_no_process_in(const std::filesystem::path& dir, std::chrono::milliseconds timeout);

// The pid in the first line of a pid file (PostgreSQL's postmaster.pid, Redis', PgBouncer's).
std::optional<int> read_pidfile(const std::filesystem::path& path);

// True when something accepts TCP connections on 127.0.0.1:port (connect within timeout).
bool port_open(int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(300));

// True when 127.0.0.1:port cannot be bound because it is in use (someone else listens there).
bool port_in_use(int port);

// Polls pred every interval until it returns true (true) or timeout passes (false).
bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
              std::chrono::milliseconds interval = std::chrono::milliseconds(100));

// A minimal HTTP/1.0 client for loopback endpoints (Patroni's REST API, etcd, the exporters).
// With ca_file, HTTPS: the server's certificate must chain to that CA alone and name 127.0.0.1
// (a plain-HTTP server or another certificate is no answer); without, plain HTTP. A body is
// sent as application/json. nullopt when no HTTP answer came within timeout.
struct HttpResponse {
  int status = 0;
  std::string body;
  std::string tls_protocol; // "TLSv1.3" over HTTPS, empty over plain HTTP
};
std::optional<HttpResponse> http_request(int port, const std::string& method, const std::string& path, std::chrono::milliseconds timeout,
                                         const std::string& ca_file, const std::string& body = {});

// The absolute path of a program: PATH first, then /usr/sbin and /sbin (pgbouncer, haproxy and
// start-stop-daemon live there and are not on an ordinary user's PATH). Empty when not found.
std::string find_binary(const std::string& name);

// The absolute path of the running statectl binary (/proc/self/exe).
std::filesystem::path self_exe();

} // namespace statectl::local

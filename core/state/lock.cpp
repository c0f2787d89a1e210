#include "core/state/lock.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <random>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/error.h"
#include "core/exec/runner.h"
#include "core/state/common.h"
#include "core/util/strings.h"

namespace statectl::state {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> g_signal{0};
// The write end of the self-pipe that wakes the waits below when a signal arrives.
std::atomic<int> g_wake_fd{-1};

void on_signal(int sig)
{
  int saved = errno;
  g_signal.store(sig);
  if (int fd = g_wake_fd.load(); fd >= 0) {
    char c = 0;
    [[maybe_unused]] auto n = ::write(fd, &c, 1);
  }
  errno = saved;
}

// Installs the forwarding handlers for the lifetime of the lock and restores the old ones.
// A signal also makes wake_fd() readable, so a wait on it (the child's exit, the pause between
// tries) ends at once instead of at its timeout.
class SignalForwarding {
public:
  SignalForwarding()
  {
    g_signal.store(0);
    if (::pipe2(m_pipe.data(), O_CLOEXEC | O_NONBLOCK) == 0) g_wake_fd.store(m_pipe[1]);
    else m_pipe = {-1, -1};
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (std::size_t i = 0; i < k_signals.size(); ++i) sigaction(k_signals[i], &sa, &m_old[i]);
  }
  ~SignalForwarding()
  {
    for (std::size_t i = 0; i < k_signals.size(); ++i) sigaction(k_signals[i], &m_old[i], nullptr);
    g_wake_fd.store(-1);
    for (int fd : m_pipe)
      if (fd >= 0) ::close(fd);
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;

  // Readable after a forwarded signal (-1 when no pipe could be made: waits then time out).
  int wake_fd() const { return m_pipe[0]; }

private:
  static constexpr std::array<int, 3> k_signals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> m_old{};
  std::array<int, 2> m_pipe{-1, -1};
};

// Sleeps for d, or less when a signal arrives.
void pause_for(Millis d, const SignalForwarding& forwarding)
{
  pollfd p{forwarding.wake_fd(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(d.count())) > 0) {
    char drain[64];
    [[maybe_unused]] auto n = ::read(p.fd, drain, sizeof drain);
  }
}

// Waits until the child exits (its exit code), the deadline passes or a signal arrives (nullopt).
// Woken by the exit itself through a pidfd; without one (kernels before 5.3, some seccomp
// profiles) it looks every few milliseconds.
class ChildWait {
public:
  ChildWait(exec::Child& child, const SignalForwarding& forwarding)
    : m_child(child), m_wake(forwarding.wake_fd()), m_pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child.pid(), 0)))
  {
    // The child is not reaped before this object is gone, so its pid cannot have been reused.
    if (m_pidfd >= 0) ::fcntl(m_pidfd, F_SETFD, FD_CLOEXEC);
  }
  ~ChildWait()
  {
    if (m_pidfd >= 0) ::close(m_pidfd);
  }
  ChildWait(const ChildWait&) = delete;
  ChildWait& operator=(const ChildWait&) = delete;

  std::optional<int> until(Clock::time_point deadline)
  {
    Millis pause{1};
    for (;;) {
      if (auto code = m_child.poll()) return code;
      auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) return std::nullopt;
      // Whole milliseconds rounded up, so a wait does not end just before its deadline and spin.
      long long ms = std::min<long long>(std::chrono::ceil<Millis>(left).count(), 1 << 30);
      if (m_pidfd < 0) {
        ms = std::min<long long>(ms, pause.count());
        pause = std::min(Millis(20), pause * 2);
      }
      pollfd fds[2] = {{m_pidfd, POLLIN, 0}, {m_wake, POLLIN, 0}}; // poll skips negative fds
      if (::poll(fds, 2, static_cast<int>(ms)) > 0 && (fds[1].revents & POLLIN)) {
        char drain[64];
        [[maybe_unused]] auto n = ::read(m_wake, drain, sizeof drain);
        return m_child.poll();
      }
    }
  }

private:
  exec::Child& m_child;
  int m_wake;
  int m_pidfd;
};

std::int64_t acquire(Backend& backend, const LockRun& run, const std::string& owner, const SignalForwarding& forwarding)
{
  auto start = Clock::now();
  std::mt19937 rng(std::random_device{}());
  Millis pause{5};
  for (;;) {
    if (auto token = backend.lock_acquire(run.name, owner, run.ttl)) return *token;
    if (int sig = g_signal.load()) throw Error(ExitCode::interrupted, fmt::format("interrupted while waiting for lock '{}'", run.name), strsignal(sig));
    auto waited = std::chrono::duration_cast<Millis>(Clock::now() - start);
    if (run.wait && waited >= *run.wait) {
      std::string holder;
      for (const auto& l : backend.locks())
        if (l.name == run.name)
          holder = fmt::format("held by {} (token {}) for another {}", l.owner, l.token, util::format_duration(l.expires_in));
      throw Error(ExitCode::lock_timeout, fmt::format("lock '{}' not acquired within {}", run.name, util::format_duration(*run.wait)),
                  holder.empty() ? "it was held the whole time" : holder, "retry later or raise --wait");
    }
    // Jittered polling, so waiters do not wake in lockstep.
    Millis sleep = Millis(std::uniform_int_distribution<long long>(pause.count() / 2, pause.count())(rng));
    if (run.wait) sleep = std::min(sleep, *run.wait - waited);
    pause_for(std::max(sleep, Millis(1)), forwarding);
    pause = std::min(Millis(100), pause * 2);
  }
}

} // namespace

int run_with_lock(Backend& backend, const LockRun& run, output::Printer& printer)
{
  check_lock_name(run.name);
  if (run.argv.empty()) throw Error(ExitCode::usage, "lock needs a command", {}, "usage: statectl lock NAME [--ttl D] [--wait D] -- CMD [ARG...]");
  SignalForwarding forwarding;
  const std::string owner = lease_owner();
  std::int64_t token = acquire(backend, run, owner, forwarding);
  printer.detail(fmt::format("acquired lock '{}' with token {}", run.name, token));

  bool held = true;
  auto release = [&]() {
    if (!held) return;
    held = false;
    try {
      backend.lock_release(run.name, owner, token);
    } catch (const Error& e) {
      printer.warn(fmt::format("could not release lock '{}': {} (it expires within {})", run.name, e.message(),
                               util::format_duration(run.ttl)));
    }
  };

  exec::Command cmd;
  cmd.argv = run.argv;
  cmd.io = exec::Io::inherit;
  cmd.env["STATECTL_LOCK_NAME"] = run.name;
  cmd.env["STATECTL_LOCK_TOKEN"] = std::to_string(token);
  exec::Child child;
  try {
    child = exec::Child::start(cmd);
  } catch (...) {
    release();
    throw;
  }

  const Millis renew_every = std::max(Millis(1), run.ttl / 3);
  auto lease_until = Clock::now() + run.ttl; // the lease surely lasts until here
  auto next_renew = Clock::now() + renew_every;
  std::string lost_why;
  std::optional<int> code;
  ChildWait wait(child, forwarding);
  // Asleep until the child exits, a signal arrives or the next renewal is due: no polling.
  while (!(code = wait.until(std::min(next_renew, lease_until)))) {
    if (int sig = g_signal.exchange(0)) child.signal_group(sig);
    auto now = Clock::now();
    if (now >= lease_until) {
      lost_why = fmt::format("lease not renewed within its ttl {}", util::format_duration(run.ttl));
      break;
    }
    if (now >= next_renew) {
      try {
        if (backend.lock_renew(run.name, owner, token, run.ttl)) {
          lease_until = now + run.ttl;
          next_renew = now + renew_every;
        } else {
          lost_why = fmt::format("lease taken over or expired (our token {})", token);
          break;
        }
      } catch (const Error& e) {
        // A transient failure: keep trying until the lease would have run out.
        printer.warn(fmt::format("renewing lock '{}' failed: {}", run.name, e.message()));
        next_renew = now + std::min(renew_every, Millis(500));
      }
    }
  }
  if (!code) {
    held = false; // not ours any more: nothing to release
    printer.warn(fmt::format("lock lost: stopping the command (TERM, KILL after {})", util::format_duration(run.grace)));
    child.terminate(run.grace);
    throw Error(ExitCode::lock_lost, "lock lost", fmt::format("lock '{}': {}; the command was stopped", run.name, lost_why));
  }
  release();
  return *code;
}

} // namespace statectl::state

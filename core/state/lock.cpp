#include "core/state/lock.h"

#include <array>
#include <atomic>
#include <cstring>
#include <csignal>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "core/exec/runner.h"
#include "core/state/common.h"
#include "core/util/strings.h"

namespace statectl::state {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> g_signal{0};

void on_signal(int sig) { g_signal.store(sig); }

// Installs the forwarding handlers for the lifetime of the lock and restores the old ones.
class SignalForwarding {
public:
  SignalForwarding()
  {
    g_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (std::size_t i = 0; i < k_signals.size(); ++i) sigaction(k_signals[i], &sa, &m_old[i]);
  }
  ~SignalForwarding()
  {
    for (std::size_t i = 0; i < k_signals.size(); ++i) sigaction(k_signals[i], &m_old[i], nullptr);
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;

private:
  static constexpr std::array<int, 3> k_signals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> m_old{};
};

std::int64_t acquire(Backend& backend, const LockRun& run, const std::string& owner)
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
    std::this_thread::sleep_for(std::max(sleep, Millis(1)));
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
  std::int64_t token = acquire(backend, run, owner);
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
  Millis pause{1};
  std::string lost_why;
  std::optional<int> code;
  while (!(code = child.poll())) {
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
    std::this_thread::sleep_for(pause);
    pause = std::min(Millis(20), pause * 2);
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

#include "core/util/interrupt.h"

#include <array>
#include <atomic>
#include <csignal>
#include <mutex>

namespace statectl::util {

namespace {

std::atomic<int> g_signal{0};
std::mutex g_mutex;
int g_depth = 0;
constexpr std::array<int, 2> k_signals{SIGINT, SIGTERM};
std::array<struct sigaction, 2> g_old{};

void on_signal(int sig) { g_signal.store(sig); }

} // namespace

InterruptScope::InterruptScope()
{
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_depth++ > 0) return;
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  // Restart interrupted reads and writes: a server call finishes, then the code sees the flag.
  sa.sa_flags = SA_RESTART;
  for (std::size_t i = 0; i < k_signals.size(); ++i) ::sigaction(k_signals[i], &sa, &g_old[i]);
}

InterruptScope::~InterruptScope()
{
  std::lock_guard<std::mutex> lock(g_mutex);
  if (--g_depth > 0) return;
  for (std::size_t i = 0; i < k_signals.size(); ++i) ::sigaction(k_signals[i], &g_old[i], nullptr);
}

int interrupt_signal() { return g_signal.load(); }

} // namespace statectl::util

#include "core/util/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <sched.h>
#include <thread>
#include <vector>

namespace statectl::util {

unsigned worker_count(unsigned cap)
{
  unsigned n = 0;
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) n = static_cast<unsigned>(CPU_COUNT(&set));
  if (n == 0) n = std::thread::hardware_concurrency();
  return std::clamp(n, 1u, std::max(1u, cap));
}

void parallel_for(std::size_t n, unsigned workers, const std::function<void(std::size_t)>& fn)
{
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first;
  std::mutex mutex;
  auto work = [&] {
    for (std::size_t i; !failed.load() && (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!first) first = std::current_exception();
        failed = true;
      }
    }
  };
  std::size_t extra = std::min<std::size_t>(n, std::max(1u, workers)) - (n > 0 ? 1 : 0);
  std::vector<std::thread> threads;
  threads.reserve(extra);
  for (std::size_t t = 0; t < extra; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

} // namespace statectl::util

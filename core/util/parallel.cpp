#include "core/util/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <sched.h>
#include <string>
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

namespace {

// Thrown inside the producer when the consumer gave up.
struct Stopped {};

} // namespace

void pipeline_chunks(const std::function<void(const std::function<void(std::string_view)>& emit)>& produce,
                     const std::function<void(std::string_view)>& consume, std::size_t max_buffered)
{
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::string> queue;
  std::size_t buffered = 0;
  bool done = false, stop = false;
  std::exception_ptr produced_error;
  std::thread producer([&] {
    try {
      produce([&](std::string_view chunk) {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stop || buffered < max_buffered || queue.empty(); });
        if (stop) throw Stopped{};
        queue.emplace_back(chunk);
        buffered += chunk.size();
        changed.notify_all();
      });
    } catch (const Stopped&) {
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      produced_error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
    changed.notify_all();
  });
  std::exception_ptr consumed_error;
  try {
    while (true) {
      std::string chunk;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return done || !queue.empty(); });
        if (queue.empty()) break; // done, and everything consumed
        chunk = std::move(queue.front());
        queue.pop_front();
        buffered -= chunk.size();
        changed.notify_all();
      }
      consume(chunk);
    }
  } catch (...) {
    consumed_error = std::current_exception();
    std::lock_guard<std::mutex> lock(mutex);
    stop = true;
    changed.notify_all();
  }
  producer.join();
  if (produced_error) std::rethrow_exception(produced_error);
  if (consumed_error) std::rethrow_exception(consumed_error);
}

} // namespace statectl::util

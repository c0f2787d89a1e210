#pragma once

#include <cstddef>
#include <functional>

namespace statectl::util {

// How many worker threads CPU-bound work should use here: the CPUs this process may run on,
// at least 1 and at most `cap`.
unsigned worker_count(unsigned cap = 8);

// Calls fn(i) for every i in [0, n) on up to `workers` threads (the calling thread is one of
// them), each index exactly once, in no particular order; returns when all are done. The first
// exception thrown by fn is rethrown here after the others finished (the remaining indexes are
// skipped).
void parallel_for(std::size_t n, unsigned workers, const std::function<void(std::size_t)>& fn);

} // namespace statectl::util

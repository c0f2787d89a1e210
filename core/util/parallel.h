#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace statectl::util {

// How many worker threads CPU-bound work should use here: the CPUs this process may run on,
// at least 1 and at most `cap`.
unsigned worker_count(unsigned cap = 8);

// Calls fn(i) for every i in [0, n) on up to `workers` threads (the calling thread is one of
// them), each index exactly once, in no particular order; returns when all are done. The first
// exception thrown by fn is rethrown here after the others finished (the remaining indexes are
// skipped).
void parallel_for(std::size_t n, unsigned workers, const std::function<void(std::size_t)>& fn);

// Runs produce on a second thread and hands every chunk it emits, in order, to consume on the
// calling thread, so that producing (reading, decrypting, decompressing) and consuming
// (parsing, hashing, writing) run at the same time. A chunk is copied when emitted; at most
// about max_buffered bytes wait between the two. When either side throws, the other stops at its
// next chunk and the exception is rethrown here (the producer's when both threw).
void pipeline_chunks(const std::function<void(const std::function<void(std::string_view)>& emit)>& produce,
                     const std::function<void(std::string_view)>& consume, std::size_t max_buffered = 8u << 20);

} // namespace statectl::util

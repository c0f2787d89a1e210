#pragma once

#include <cstdint>

namespace statectl::test {

// Sizes the capacity tests write their inputs in.
inline constexpr std::uint64_t GiB = 1024ULL * 1024 * 1024;

} // namespace statectl::test

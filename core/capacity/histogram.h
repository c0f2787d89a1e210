#pragma once

#include <cstdint>
#include <vector>

namespace statectl::capacity {

// A latency histogram in the style of HdrHistogram: values below 256 are counted exactly, larger
// ones in log-linear buckets of 128 per power of two, so a reported value is within 0.4% (half a
// bucket, at most 1/256 relative) of the recorded one. Values are nanoseconds up to 2^40 (about
// 18 minutes); larger ones are clamped. Recording is O(1) with no allocation; one histogram per
// thread, merged at the end.
class Histogram {
public:
  Histogram();

  void record(std::uint64_t value);
  // Adds every count of other into this histogram.
  void merge(const Histogram& other);

  std::uint64_t count() const { return m_count; }
  // Exact extremes and mean of the recorded values (0 when empty).
  std::uint64_t max() const { return m_max; }
  std::uint64_t min() const { return m_count ? m_min : 0; }
  double mean() const;
  // The value at a percentile (0 < p <= 100): the smallest recorded value v such that at least
  // p% of the values are <= v, reported as the midpoint of its bucket (exact below 256), and
  // never above max(). 0 when empty.
  std::uint64_t percentile(double p) const;

  // Bucket index of a value and the [lowest, highest] values sharing that bucket (for tests).
  static std::size_t index_of(std::uint64_t value);
  static std::uint64_t lowest_in(std::size_t index);
  static std::uint64_t highest_in(std::size_t index);

private:
  std::vector<std::uint64_t> m_counts;
  std::uint64_t m_count = 0;
  std::uint64_t m_max = 0;
  std::uint64_t m_min = UINT64_MAX;
  long double m_sum = 0;
};

} // namespace statectl::capacity

#include "core/capacity/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace statectl::capacity {

namespace {

constexpr int k_sub_bits = 7;                          // 128 sub-buckets per power of two
constexpr std::uint64_t k_sub = 1ULL << k_sub_bits;    // 128
constexpr std::uint64_t k_exact = 2 * k_sub;           // values below 256 are exact
constexpr int k_max_bits = 40;                         // values up to 2^40 - 1
constexpr std::uint64_t k_max_value = (1ULL << k_max_bits) - 1;
constexpr std::size_t k_buckets = k_exact + (k_max_bits - k_sub_bits - 1) * k_sub;

} // namespace

Histogram::Histogram() : m_counts(k_buckets, 0) {}

std::size_t Histogram::index_of(std::uint64_t value)
{
  value = std::min(value, k_max_value);
  if (value < k_exact) return static_cast<std::size_t>(value);
  int msb = 63 - std::countl_zero(value);
  int shift = msb - k_sub_bits; // >= 1: (value >> shift) is in [128, 255]
  return static_cast<std::size_t>(k_exact + static_cast<std::uint64_t>(shift - 1) * k_sub + ((value >> shift) - k_sub));
}

std::uint64_t Histogram::lowest_in(std::size_t index)
{
  if (index < k_exact) return index;
  std::uint64_t rel = index - k_exact;
  int shift = static_cast<int>(rel / k_sub) + 1;
  return (k_sub + rel % k_sub) << shift;
}

std::uint64_t Histogram::highest_in(std::size_t index)
{
  if (index < k_exact) return index;
  int shift = static_cast<int>((index - k_exact) / k_sub) + 1;
  return lowest_in(index) + (1ULL << shift) - 1;
}

void Histogram::record(std::uint64_t value)
{
  ++m_counts[index_of(value)];
  ++m_count;
  m_max = std::max(m_max, value);
  m_min = std::min(m_min, value);
  m_sum += static_cast<long double>(value);
}

void Histogram::merge(const Histogram& other)
{
  for (std::size_t i = 0; i < m_counts.size(); ++i) m_counts[i] += other.m_counts[i];
  m_count += other.m_count;
  m_max = std::max(m_max, other.m_max);
  m_min = std::min(m_min, other.m_min);
  m_sum += other.m_sum;
}

double Histogram::mean() const { return m_count ? static_cast<double>(m_sum / static_cast<long double>(m_count)) : 0.0; }

std::uint64_t Histogram::percentile(double p) const
{
  if (m_count == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(m_count)));
  rank = std::clamp<std::uint64_t>(rank, 1, m_count);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < m_counts.size(); ++i) {
    seen += m_counts[i];
    if (seen >= rank) {
      std::uint64_t lo = lowest_in(i), hi = highest_in(i);
      std::uint64_t mid = lo + (hi - lo) / 2;
      return std::clamp(mid, min(), m_max);
    }
  }
  return m_max;
}

} // namespace statectl::capacity

// The bench latency histogram: bucket layout and percentile error against exact sorted samples.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/capacity/histogram.h"

using statectl::capacity::Histogram;

namespace {

// The exact percentile the histogram approximates: the smallest value with at least p% at or below.
std::uint64_t exact(std::vector<std::uint64_t> v, double p)
{
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

} // namespace

TEST_CASE("capacity histogram: values below 256 are exact, buckets are contiguous")
{
  CHECK(Histogram::index_of(0) == 0);
  CHECK(Histogram::index_of(255) == 255);
  CHECK(Histogram::index_of(256) == 256);
  CHECK(Histogram::lowest_in(256) == 256);
  CHECK(Histogram::highest_in(256) == 257); // width 2 above 256
  CHECK(Histogram::index_of(257) == 256);
  CHECK(Histogram::index_of(258) == 257);
  CHECK(Histogram::lowest_in(Histogram::index_of(1000000)) <= 1000000);
  CHECK(Histogram::highest_in(Histogram::index_of(1000000)) >= 1000000);
  for (std::size_t i = 256; i < 4000; ++i) {
    CHECK(Histogram::lowest_in(i + 1) == Histogram::highest_in(i) + 1);
    // Bucket width relative to its lowest value: at most 1/128.
    double width = static_cast<double>(Histogram::highest_in(i) - Histogram::lowest_in(i) + 1);
    CHECK(width / static_cast<double>(Histogram::lowest_in(i)) <= 1.0 / 128 + 1e-12);
  }
}

TEST_CASE("capacity histogram: percentiles within 1% of the exact values")
{
  std::mt19937_64 rng(42);
  // Latency-like data: log-normal around 300 us with a long tail, plus a few slow outliers.
  std::lognormal_distribution<double> dist(std::log(300000.0), 0.8);
  std::vector<std::uint64_t> samples;
  Histogram a, b;
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng));
    if (i % 10000 == 0) v = 250000000 + static_cast<std::uint64_t>(i);
    samples.push_back(v);
    (i % 2 ? a : b).record(v);
  }
  a.merge(b);
  CHECK(a.count() == samples.size());
  CHECK(a.max() == *std::max_element(samples.begin(), samples.end()));
  CHECK(a.min() == *std::min_element(samples.begin(), samples.end()));
  for (double p : {1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
    double want = static_cast<double>(exact(samples, p));
    double got = static_cast<double>(a.percentile(p));
    CAPTURE(p);
    CHECK(std::abs(got - want) / want <= 0.01);
  }
  double sum = 0;
  for (auto v : samples) sum += static_cast<double>(v);
  CHECK(a.mean() == doctest::Approx(sum / static_cast<double>(samples.size())));
}

TEST_CASE("capacity histogram: empty and single values")
{
  Histogram h;
  CHECK(h.percentile(99) == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0);
  h.record(123456789);
  CHECK(h.percentile(50) == 123456789); // clamped to the exact min/max of one value
  CHECK(h.percentile(100) == 123456789);
}

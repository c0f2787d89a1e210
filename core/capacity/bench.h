#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "core/capacity/histogram.h"
#include "core/config/config_fwd.h"

namespace statectl::capacity {

// What `capacity bench` runs: `clients` threads, each with its own backend connection, doing
// get (with probability read_ratio) or put of value_size bytes on keys drawn uniformly from
// `keys` names, for `duration`.
struct BenchOptions {
  std::string backend = "postgres";
  int clients = 4;
  std::chrono::milliseconds duration{10000};
  double read_ratio = 0.9;
  std::uint64_t value_size = 100;
  std::uint64_t keys = 10000;
  std::string key_prefix = "capacity-bench:";
};

// The seed's published figure for a backend, which the measured rate is compared with.
struct Reference {
  std::string name;           // redis | postgresql | postgresql_pgbouncer
  double ops_per_second = 0;
  std::optional<double> p99_max_ms; // the p99 the seed promises at that rate, when it gives one
  std::string description;
};

// The reference for a backend kind; pooled is whether the address in use is PgBouncer's.
Reference reference_for(const std::string& kind, bool pooled);

struct BenchResult {
  BenchOptions options;
  std::string address;
  Reference reference;
  std::uint64_t operations = 0, reads = 0, writes = 0, errors = 0;
  double elapsed_s = 0;
  Histogram latency; // nanoseconds, successful operations only
  std::string first_error;

  double ops_per_second() const { return elapsed_s > 0 ? static_cast<double>(operations) / elapsed_s : 0; }
};

// Validates options; throws Error(usage) naming the flag.
void validate(const BenchOptions& o, const config::Config& cfg);

// Runs the load with the backend code of get/put (state::make_backend per thread): loads every
// key once, runs the timed phase, deletes the keys again. Throws Error(unavailable) when the
// backend cannot be reached at all. progress gets a line per second (ops so far), may be empty.
BenchResult run_bench(const config::Config& cfg, const BenchOptions& o, const std::function<void(const std::string&)>& progress);

nlohmann::json to_json(const BenchResult& r);
std::string to_text(const BenchResult& r);

} // namespace statectl::capacity

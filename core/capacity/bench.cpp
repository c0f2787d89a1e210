#include "core/capacity/bench.h"

#include <atomic>
#include <fmt/format.h>
#include <latch>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/interrupt.h"
#include "core/exec/redact.h"
#include "core/stack/endpoints.h"
#include "core/state/backend.h"
#include "core/util/strings.h"

namespace statectl::capacity {

namespace {

using Clock = std::chrono::steady_clock;

// xorshift64*: a fast per-thread generator; quality is ample for picking keys.
struct Rng {
  std::uint64_t s;
  std::uint64_t next()
  {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

struct Worker {
  std::unique_ptr<state::Backend> backend;
  Histogram latency;
  std::atomic<std::uint64_t> ops{0};
  std::uint64_t reads = 0, writes = 0, errors = 0;
  std::string first_error;
};

// Consecutive failures after which a worker gives up (the server is gone; spinning on it would
// only count errors).
constexpr int k_max_consecutive_errors = 1000;
constexpr std::size_t k_chunk = 1000;

std::string format_ms(std::uint64_t ns) { return fmt::format("{:.3f}", static_cast<double>(ns) / 1e6); }

} // namespace

Reference reference_for(const std::string& kind, bool pooled)
{
  if (kind == "redis") return {"redis", 100000, 1.0, "Redis standalone: 100K ops/s, p99 < 1 ms"};
  if (pooled) return {"postgresql_pgbouncer", 50000, std::nullopt, "PostgreSQL + PgBouncer: 50K ops/s"};
  return {"postgresql", 10000, 5.0, "PostgreSQL: 10K ops/s, p99 1-5 ms"};
}

void validate(const BenchOptions& o, const config::Config& cfg)
{
  if (o.backend != "postgres" && o.backend != "redis")
    throw Error(ExitCode::usage, "invalid --backend", fmt::format("'{}' is not postgres or redis", o.backend));
  if (o.clients < 1 || o.clients > 1024)
    throw Error(ExitCode::usage, "invalid --clients", fmt::format("must be between 1 and 1024, got {}", o.clients));
  if (o.duration.count() < 100 || o.duration > std::chrono::hours(24))
    throw Error(ExitCode::usage, "invalid --duration", fmt::format("must be between 100ms and 24h, got {}", util::format_duration(o.duration)));
  if (!(o.read_ratio >= 0.0 && o.read_ratio <= 1.0))
    throw Error(ExitCode::usage, "invalid --read-ratio", fmt::format("must be between 0 and 1, got {}", o.read_ratio),
                "e.g. --read-ratio 0.9 for 90% reads");
  auto max_value = config::settings(cfg).state.max_value_size;
  if (o.value_size > max_value)
    throw Error(ExitCode::usage, "invalid --value-size",
                fmt::format("{} exceeds [state] max_value_size {}", util::format_size(o.value_size), util::format_size(max_value)));
  if (o.keys < 1 || o.keys > 10000000)
    throw Error(ExitCode::usage, "invalid --keys", fmt::format("must be between 1 and 10000000, got {}", o.keys));
}

BenchResult run_bench(const config::Config& cfg, const BenchOptions& o, const std::function<void(const std::string&)>& progress)
{
  validate(o, cfg);
  BenchResult r;
  r.options = o;

  // Ctrl-C (or SIGTERM) stops the load, and the keys are deleted before exit 130.
  util::InterruptScope interrupt_scope;
  // Every worker connects before the clock starts: connection set-up is not load.
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < o.clients; ++i) {
    auto w = std::make_unique<Worker>();
    w->backend = state::make_backend(cfg, o.backend);
    workers.push_back(std::move(w));
  }
  r.address = workers.front()->backend->address();
  auto ep = stack::resolve(cfg);
  bool pooled = o.backend == "postgres" && ep.pooler.url.empty() &&
                r.address == fmt::format("{}:{}", ep.pooler.host, ep.pooler.port);
  r.reference = reference_for(o.backend, pooled);

  std::vector<std::string> keys;
  keys.reserve(o.keys);
  for (std::uint64_t i = 0; i < o.keys; ++i) keys.push_back(fmt::format("{}{:08}", o.key_prefix, i));
  const std::string value(o.value_size, 'v');

  // Load every key once so reads find values, as a running system's would.
  auto& loader = *workers.front()->backend;
  for (std::size_t i = 0; i < keys.size() && !util::interrupt_signal(); i += k_chunk) {
    std::vector<state::BatchItem> batch;
    for (std::size_t j = i; j < std::min(keys.size(), i + k_chunk); ++j) batch.push_back({keys[j], value, std::nullopt, {}});
    loader.put_batch(batch);
  }

  std::latch start(o.clients + 1);
  Clock::time_point t0, deadline;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < o.clients; ++i) {
    threads.emplace_back([&, i] {
      Worker& w = *workers[static_cast<std::size_t>(i)];
      Rng rng{0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(i + 1)};
      int consecutive = 0;
      start.arrive_and_wait();
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const auto end = deadline;
      for (;;) {
        const std::string& key = keys[rng.next() % keys.size()];
        bool read = rng.unit() < o.read_ratio;
        auto a = Clock::now();
        if (a >= end || util::interrupt_signal()) break;
        try {
          if (read) w.backend->get(key);
          else w.backend->put(key, value);
          auto b = Clock::now();
          w.latency.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count()));
          ++(read ? w.reads : w.writes);
          w.ops.fetch_add(1, std::memory_order_relaxed);
          consecutive = 0;
        } catch (const std::exception& e) {
          if (w.errors++ == 0) {
            const auto* err = dynamic_cast<const Error*>(&e);
            w.first_error = exec::redact(err ? err->message() : std::string(e.what()));
          }
          if (++consecutive >= k_max_consecutive_errors) break;
        }
      }
    });
  }
  start.arrive_and_wait();
  t0 = Clock::now();
  deadline = t0 + o.duration;
  go.store(true, std::memory_order_release);

  auto next_report = t0 + std::chrono::seconds(1);
  while (Clock::now() < deadline && !util::interrupt_signal()) {
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(100), deadline - Clock::now()));
    if (Clock::now() < next_report) continue;
    next_report += std::chrono::seconds(1);
    if (progress) {
      std::uint64_t ops = 0;
      for (const auto& w : workers) ops += w->ops.load(std::memory_order_relaxed);
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      progress(fmt::format("{:.0f} s: {} operations, {:.0f} ops/s", secs, ops, secs > 0 ? static_cast<double>(ops) / secs : 0));
    }
  }
  for (auto& t : threads) t.join();
  r.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();

  for (const auto& w : workers) {
    r.latency.merge(w->latency);
    r.reads += w->reads;
    r.writes += w->writes;
    r.errors += w->errors;
    if (r.first_error.empty()) r.first_error = w->first_error;
  }
  r.operations = r.reads + r.writes;

  // Leave the key space as it was.
  try {
    for (std::size_t i = 0; i < keys.size(); i += k_chunk)
      loader.del(std::vector<std::string>(keys.begin() + static_cast<std::ptrdiff_t>(i),
                                          keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + k_chunk))));
  } catch (const std::exception& e) {
    if (r.first_error.empty()) r.first_error = std::string("cleanup: ") + exec::redact(e.what());
    if (util::interrupt_signal())
      throw Error(ExitCode::interrupted, "capacity bench interrupted", "deleting its keys failed: " + r.first_error,
                  fmt::format("delete the keys starting with '{}' with statectl del", o.key_prefix));
  }
  if (util::interrupt_signal())
    throw Error(ExitCode::interrupted, "capacity bench interrupted", fmt::format("its {} keys were deleted", keys.size()));
  return r;
}

nlohmann::json to_json(const BenchResult& r)
{
  const auto& h = r.latency;
  double ratio = r.reference.ops_per_second > 0 ? r.ops_per_second() / r.reference.ops_per_second : 0;
  double p99_ms = static_cast<double>(h.percentile(99)) / 1e6;
  nlohmann::json ref = {{"name", r.reference.name},
                        {"ops_per_second", r.reference.ops_per_second},
                        {"p99_max_ms", r.reference.p99_max_ms ? nlohmann::json(*r.reference.p99_max_ms) : nlohmann::json(nullptr)},
                        {"description", r.reference.description}};
  return {
    {"backend", r.options.backend},
    {"address", r.address},
    {"clients", r.options.clients},
    {"duration_seconds", r.elapsed_s},
    {"read_ratio", r.options.read_ratio},
    {"value_size", r.options.value_size},
    {"keys", r.options.keys},
    {"operations", r.operations},
    {"reads", r.reads},
    {"writes", r.writes},
    {"errors", r.errors},
    {"first_error", r.first_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.first_error)},
    {"ops_per_second", r.ops_per_second()},
    {"latency_ms",
     {{"p50", static_cast<double>(h.percentile(50)) / 1e6},
      {"p95", static_cast<double>(h.percentile(95)) / 1e6},
      {"p99", p99_ms},
      {"max", static_cast<double>(h.max()) / 1e6},
      {"mean", h.mean() / 1e6}}},
    {"reference", ref},
    {"ratio", ratio},
    {"p99_within_reference", r.reference.p99_max_ms ? nlohmann::json(p99_ms <= *r.reference.p99_max_ms) : nlohmann::json(nullptr)},
  };
}

std::string to_text(const BenchResult& r)
{
  const auto& h = r.latency;
  std::string out = fmt::format("{} at {}: {} clients, {:.1f} s, {:.0f}% reads, {} B values, {} keys\n", r.options.backend,
                                r.address, r.options.clients, r.elapsed_s, r.options.read_ratio * 100, r.options.value_size,
                                r.options.keys);
  out += fmt::format("operations  {} ({} reads, {} writes), {} errors\n", r.operations, r.reads, r.writes, r.errors);
  out += fmt::format("throughput  {:.0f} ops/s\n", r.ops_per_second());
  out += fmt::format("latency ms  p50 {}  p95 {}  p99 {}  max {}\n", format_ms(h.percentile(50)), format_ms(h.percentile(95)),
                     format_ms(h.percentile(99)), format_ms(h.max()));
  double ratio = r.reference.ops_per_second > 0 ? r.ops_per_second() / r.reference.ops_per_second : 0;
  out += fmt::format("reference   {} -> ratio {:.2f}\n", r.reference.description, ratio);
  if (r.errors) out += fmt::format("first error {}\n", r.first_error);
  return out;
}

} // namespace statectl::capacity

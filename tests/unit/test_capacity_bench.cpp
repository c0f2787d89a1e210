// capacity bench: option validation, the seed reference per backend and the JSON/text result;
// the load itself runs against real servers in tests/integration/test_capacity_stack.sh.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/capacity/bench.h"
#include "core/config/config.h"
#include "core/error.h"

using namespace statectl;
using namespace statectl::capacity;

TEST_CASE("capacity bench: references of the seed")
{
  CHECK(reference_for("redis", false).ops_per_second == 100000);
  CHECK(reference_for("redis", false).p99_max_ms == 1.0);
  CHECK(reference_for("postgres", false).name == "postgresql");
  CHECK(reference_for("postgres", false).ops_per_second == 10000);
  CHECK(reference_for("postgres", true).name == "postgresql_pgbouncer");
  CHECK(reference_for("postgres", true).ops_per_second == 50000);
  CHECK_FALSE(reference_for("postgres", true).p99_max_ms.has_value());
}

TEST_CASE("capacity bench: invalid options are usage errors")
{
  config::Config cfg;
  BenchOptions o;
  CHECK_NOTHROW(validate(o, cfg));
  o.read_ratio = 1.5;
  try {
    validate(o, cfg);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "invalid --read-ratio: must be between 0 and 1, got 1.5");
  }
  o = {};
  o.value_size = 17ULL * 1024 * 1024;
  try {
    validate(o, cfg);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.message() == "invalid --value-size: 17.0 MiB exceeds [state] max_value_size 16.0 MiB");
  }
  o = {};
  o.clients = 0;
  CHECK_THROWS_AS(validate(o, cfg), Error);
  o = {};
  o.duration = std::chrono::milliseconds(10);
  CHECK_THROWS_AS(validate(o, cfg), Error);
  o = {};
  o.backend = "mysql";
  CHECK_THROWS_AS(validate(o, cfg), Error);
}

TEST_CASE("capacity bench: result JSON and text")
{
  BenchResult r;
  r.options.backend = "redis";
  r.options.clients = 2;
  r.address = "127.0.0.1:16379";
  r.reference = reference_for("redis", false);
  r.reads = 900;
  r.writes = 100;
  r.operations = 1000;
  r.elapsed_s = 0.5;
  for (int i = 1; i <= 1000; ++i) r.latency.record(static_cast<std::uint64_t>(i) * 1000); // 1..1000 us
  auto j = to_json(r);
  CHECK(j["ops_per_second"] == 2000.0);
  CHECK(j["ratio"] == doctest::Approx(0.02));
  CHECK(j["errors"] == 0);
  CHECK(j["first_error"].is_null());
  CHECK(j["latency_ms"]["p50"] == doctest::Approx(0.5).epsilon(0.01));
  CHECK(j["latency_ms"]["p99"] == doctest::Approx(0.99).epsilon(0.01));
  CHECK(j["latency_ms"]["max"] == doctest::Approx(1.0));
  CHECK(j["p99_within_reference"] == true);
  CHECK(j["reference"]["name"] == "redis");
  for (const char* k : {"backend", "address", "clients", "duration_seconds", "read_ratio", "value_size", "keys", "operations",
                        "reads", "writes"})
    CHECK(j.contains(k));
  std::string text = to_text(r);
  CHECK(text.find("throughput  2000 ops/s\n") != std::string::npos);
  CHECK(text.find("reference   Redis standalone: 100K ops/s, p99 < 1 ms -> ratio 0.02\n") != std::string::npos);
}

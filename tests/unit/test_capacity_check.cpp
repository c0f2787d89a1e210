// capacity check: thresholds, flag parsing, the report's text/JSON and exit status; the checks
// against real servers are in tests/integration/test_capacity_stack.sh.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/capacity/check.h"
#include "core/clients/endpoint.h"
#include "core/config/config.h"
#include "core/error.h"
#include "core/targets/target.h"

using namespace statectl;
using namespace statectl::capacity;

namespace {

CheckResult result(const std::string& name, Status s, const std::string& value, const std::string& message = {})
{
  CheckResult c;
  c.name = name;
  c.component = "postgres";
  c.target = "127.0.0.1:15432";
  c.status = s;
  c.value = value;
  c.message = message;
  return c;
}

} // namespace

TEST_CASE("capacity check: thresholds from config and flags")
{
  auto cfg = config::Config::from_string("[capacity]\nwarn = 70\ncrit = 85\nreplication_lag_warn = \"1MB\"\n", "t.toml");
  Thresholds t = thresholds_from_config(cfg);
  CHECK(t.warn_pct.text() == "70");
  CHECK(t.crit_pct.text() == "85");
  CHECK(t.lag_warn_bytes == 1024 * 1024);
  CHECK(t.xact_warn_s == 300);
  CHECK(t.backup_max_age == std::chrono::hours(26));
  // Nagios: a value equal to its threshold is OK, only beyond it alerts.
  CHECK(t.by_percent("connections", 69.9) == Status::ok);
  CHECK(t.by_percent("connections", 70) == Status::ok);
  CHECK(t.by_percent("connections", 70.01) == Status::warning);
  CHECK(t.by_percent("connections", 85) == Status::warning);
  CHECK(t.by_percent("connections", 85.5) == Status::critical);

  apply_threshold_flag(t, "--warn", "0.01");
  apply_threshold_flag(t, "--crit", "redis_memory=50%");
  CHECK(t.warn_pct.text() == "0.01");
  CHECK(t.by_percent("connections", 0.5) == Status::warning);
  CHECK(t.crit_for("redis_memory").text() == "50");
  CHECK(t.crit_for("connections").text() == "85");
  // Ranges: alert below 20% (an emptied pool), or inside 40..60.
  apply_threshold_flag(t, "--warn", "database_size=20:");
  CHECK(t.by_percent("database_size", 19) == Status::warning);
  CHECK(t.by_percent("database_size", 20) == Status::ok);
  apply_threshold_flag(t, "--warn", "@40:60");
  CHECK(t.by_percent("wraparound", 50) == Status::warning);
  CHECK(t.by_percent("wraparound", 61) == Status::ok);
}

TEST_CASE("capacity check: bad threshold flags are usage errors with a hint")
{
  Thresholds t;
  try {
    apply_threshold_flag(t, "--warn", "conections=5");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "invalid --warn 'conections=5': unknown check 'conections'");
    CHECK(e.hint() == "did you mean 'connections'?");
  }
  try {
    apply_threshold_flag(t, "--crit", "lots");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.message() == "invalid --crit 'lots': expected a percentage between 0 and 100 or a Nagios range (10:, ~:90, @10:20)");
    CHECK(e.hint() == "e.g. --crit 80 or --crit connections=50");
  }
  CHECK_THROWS_AS(apply_threshold_flag(t, "--warn", "101"), Error);
  CHECK_THROWS_AS(apply_threshold_flag(t, "--warn", "5x"), Error);
  CHECK_THROWS_AS(apply_threshold_flag(t, "--warn", "20:10"), Error);
  CHECK_THROWS_AS(apply_threshold_flag(t, "--warn", ":10"), Error);
}

TEST_CASE("capacity check: the worst state is the exit code, UNKNOWN outranks CRITICAL")
{
  CheckReport r;
  CHECK(r.worst() == Status::ok);
  r.checks.push_back(result("connections", Status::ok, "6 of 200 (3.0%)"));
  r.checks.push_back(result("wraparound", Status::warning, "x"));
  CHECK(r.worst() == Status::warning);
  r.checks.push_back(result("replication_lag", Status::critical, "unreachable", "connection refused"));
  CHECK(r.worst() == Status::critical);
  r.checks.push_back(result("redis_memory", Status::unknown, "", "cannot connect: Connection refused"));
  CHECK(r.worst() == Status::unknown);
  CHECK(static_cast<int>(r.worst()) == 3);
}

TEST_CASE("capacity check: text and JSON rendering")
{
  CheckReport r;
  r.checks.push_back(result("connections", Status::ok, "6 of 200 (3.0%)"));
  r.checks.push_back(result("replication_lag", Status::critical, "unreachable", "connection refused"));
  CHECK(to_text(r, false) ==
        "CAPACITY CRITICAL: 1 critical, 0 warning, 0 unknown, 1 ok\n"
        "STATUS    CHECK            TARGET           VALUE\n"
        "OK        connections      127.0.0.1:15432  6 of 200 (3.0%)\n"
        "CRITICAL  replication_lag  127.0.0.1:15432  unreachable - connection refused\n");
  CHECK(to_text(r, true) ==
        "CAPACITY CRITICAL: 1 critical, 0 warning, 0 unknown, 1 ok\n"
        "CRITICAL replication_lag 127.0.0.1:15432: unreachable - connection refused\n");
  auto j = to_json(r);
  CHECK(j["status"] == "CRITICAL");
  CHECK(j["exit_code"] == 2);
  CHECK(j["summary"]["critical"] == 1);
  CHECK(j["summary"]["ok"] == 1);
  CHECK(j["checks"][1]["name"] == "replication_lag");
  CHECK(j["checks"][1]["message"] == "connection refused");

  CheckReport ok;
  ok.checks.push_back(result("connections", Status::ok, "1 of 200 (0.5%)"));
  // -q still prints the one status line Nagios needs.
  CHECK(to_text(ok, true) == "CAPACITY OK: 0 critical, 0 warning, 0 unknown, 1 ok\n");
}

TEST_CASE("capacity check: LSNs and durations")
{
  CHECK(capacity::parse_lsn("0/3000060") == 0x3000060ULL);
  CHECK(capacity::parse_lsn("16/B374D848") == 0x16B374D848ULL);
  CHECK(capacity::parse_lsn("16B374D848") == std::nullopt);
  CHECK(capacity::parse_lsn("x/1") == std::nullopt);
  CHECK(capacity::parse_lsn("1/") == std::nullopt);
  CHECK(format_seconds(42.4) == "42 s");
  CHECK(format_seconds(3725) == "1h2m5s");
}

TEST_CASE("capacity check: unreachable servers make their checks UNKNOWN, never an exception")
{
  // Ports nobody listens on (below 1024 is refused without privileges... use high unused ones).
  auto cfg = config::Config::from_string(
    "[local]\npostgres_port = 35901\npgbouncer_port = 35910\nredis_port = 35903\nsentinel_port = 35904\n"
    "dir = \"/nonexistent/statectl-capacity-test\"\n[capacity]\nconnect_timeout = \"1s\"\n",
    "t.toml");
  // As the command line does: the checks reach the local target's addresses through it.
  clients::set_endpoint_source(targets::endpoints_of);
  Thresholds t = thresholds_from_config(cfg);
  // certificate_expiry reads the secret store, not a server (TLS is on by default, so a store
  // without certificates is CRITICAL: test_capacity_certificates covers it).
  CheckReport r = run_checks(cfg, t, {"backup_age", "certificate_expiry"});
  REQUIRE_FALSE(r.checks.empty());
  for (const auto& c : r.checks) {
    CAPTURE(c.name);
    CHECK(c.status == Status::unknown);
    CHECK_FALSE(c.message.empty());
  }
  CHECK(r.worst() == Status::unknown);
  bool saw_sentinel = false;
  for (const auto& c : r.checks) saw_sentinel = saw_sentinel || c.name == "sentinel_quorum";
  CHECK(saw_sentinel);
}

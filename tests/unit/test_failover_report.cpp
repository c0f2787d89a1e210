// failover: the report summary (p50/max, limits, reasons), LSN parsing and the fault commands
// for the container targets.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/failover/common.h"
#include "core/deploy/tools.h"
#include "core/failover/failover.h"

using namespace statectl::failover;

namespace {

Trial trial(int n, std::int64_t rto, std::uint64_t lost)
{
  Trial t;
  t.number = n;
  t.old_primary = "postgres-0";
  t.new_primary = "postgres-1";
  t.rto_ms = rto;
  t.lost = lost;
  t.acked = 100;
  t.read_back = true;
  t.healthy_after = true;
  return t;
}

} // namespace

TEST_CASE("failover report: p50 is the lower median, max over trials, lost_total sums")
{
  CHECK(percentile50({}) == -1);
  CHECK(percentile50({700}) == 700);
  CHECK(percentile50({900, 300, 600}) == 600);
  CHECK(percentile50({900, 300, 600, 100}) == 300);
  TestReport r;
  r.max_lost = -1;
  r.trials = {trial(1, 900, 0), trial(2, 300, 2), trial(3, 600, 1)};
  summarize(r);
  CHECK(r.rto_ms_p50 == 600);
  CHECK(r.rto_ms_max == 900);
  CHECK(r.lost_total == 3);
  CHECK(r.passed);
}

TEST_CASE("failover report: limits turn into exact reasons and passed = false")
{
  TestReport r;
  r.max_lost = 0;
  r.max_rto_ms = 500;
  r.trials = {trial(1, 400, 0), trial(2, 800, 3)};
  r.trials[0].problems.push_back("the stack is not healthy after healing: postgres-0: not streaming");
  summarize(r);
  CHECK_FALSE(r.passed);
  REQUIRE(r.reasons.size() == 3);
  CHECK(r.reasons[0] == "trial 1: the stack is not healthy after healing: postgres-0: not streaming");
  CHECK(r.reasons[1] == "trial 2: RTO 800 ms exceeds --max-rto 500 ms");
  CHECK(r.reasons[2] == "trial 2: 3 acknowledged writes lost, more than --max-lost 0");
  TestReport none;
  summarize(none);
  CHECK_FALSE(none.passed);
}

TEST_CASE("failover report: JSON has the documented keys; null for what was not measured")
{
  TestReport r;
  r.backend = "redis";
  r.target = "local";
  r.mode = "sentinel";
  r.max_lost = -1;
  Trial t = trial(1, 1200, 4);
  t.promote_ms = -1;
  r.trials = {t};
  summarize(r);
  auto j = r.to_json();
  for (const char* k : {"backend", "target", "trials", "rto_ms_p50", "rto_ms_max", "lost_total", "passed", "lossless", "lossless_how"})
    CHECK_MESSAGE(j.contains(k), k);
  for (const char* k : {"rto_ms", "detect_ms", "promote_ms", "acked", "lost", "unknown", "old_primary", "new_primary"})
    CHECK_MESSAGE(j["trials"][0].contains(k), k);
  CHECK(j["trials"][0]["promote_ms"].is_null());
  CHECK(j["trials"][0]["rto_ms"] == 1200);
  CHECK(j["max_lost"].is_null());
  CHECK(j["lost_total"] == 4);
}

TEST_CASE("failover report: a failed read-back leaves the loss unknown, never 0")
{
  TestReport r;
  r.backend = "postgres";
  r.target = "compose";
  r.mode = "bare";
  r.lossless = true;
  Trial ok = trial(1, 900, 0);
  Trial blind = trial(2, 1100, 0);
  blind.read_back = false;
  blind.problems = {"the read-back failed: cannot connect"};
  r.trials = {ok, blind};
  summarize(r);
  CHECK_FALSE(r.passed);
  CHECK_FALSE(r.lost_known);
  auto j = r.to_json();
  CHECK(j["trials"][0]["lost"] == 0);
  CHECK(j["trials"][1]["lost"].is_null());
  CHECK(j["trials"][1]["read_back"] == false);
  CHECK(j["lost_total"].is_null());
  std::string text = r.to_text();
  CHECK(text.find("lost acknowledged writes: unknown (a read-back failed)") != std::string::npos);
  CHECK(text.find("lost acknowledged writes: 0") == std::string::npos);
  CHECK(text.find("FAILED: trial 2: the read-back failed: cannot connect") != std::string::npos);
}

TEST_CASE("failover: LSN parsing")
{
  using statectl::failover::detail::parse_lsn;
  CHECK(parse_lsn("0/3000060").value() == 0x3000060ULL);
  CHECK(parse_lsn("16/B374D848").value() == 0x16B374D848ULL);
  CHECK_FALSE(parse_lsn("").has_value());
  CHECK_FALSE(parse_lsn("0/").has_value());
  CHECK_FALSE(parse_lsn("x/1").has_value());
  CHECK_FALSE(parse_lsn("1/2/3").has_value());
}

TEST_CASE("failover: fault commands of the container targets")
{
  using namespace statectl::deploy;
  CHECK(compose_kill_argv({"docker", "compose"}, "c0ffee") == std::vector<std::string>{"docker", "kill", "--signal", "KILL", "c0ffee"});
  CHECK(k8s_delete_argv({"kubectl", "--namespace", "ns"}, "statectl-postgres-primary-0") ==
        std::vector<std::string>{"kubectl", "--namespace", "ns", "delete", "pod", "statectl-postgres-primary-0", "--grace-period=0", "--force",
                                 "--wait=false"});
  CHECK(k8s_primary_selector("postgres") == "app.kubernetes.io/name=postgres,app.kubernetes.io/component=primary");
  CHECK(k8s_primary_selector("redis") == "app.kubernetes.io/name=redis,app.kubernetes.io/component=master");
  CHECK(compose_primary_service("postgres") == "postgres-primary");
  CHECK(compose_primary_service("redis") == "redis-master");
}

TEST_CASE("failover: --no-heal reports what stays down, and 'platform' only where the platform restarts the member")
{
  using statectl::failover::detail::unhealed;
  // Compose with Sentinel or Patroni: the killed container stays down; nothing else is wrong.
  auto compose = unhealed(false, false, "p_redis-master_1", "p_redis-replica_1");
  CHECK(compose.heal == "skipped");
  CHECK_FALSE(compose.problem.has_value());
  // k8s: the StatefulSet recreates the deleted pod whatever statectl does.
  auto k8s = unhealed(true, false, "statectl-postgres-primary-0", "");
  CHECK(k8s.heal == "platform");
  CHECK_FALSE(k8s.problem.has_value());
  // Bare compose: statectl promoted the standby; the stack must not be redeployed yet.
  auto bare = unhealed(false, true, "p_postgres-primary_1", "p_postgres-replica_1");
  CHECK(bare.heal == "skipped");
  CHECK(bare.problem.value() ==
        "--no-heal: p_postgres-primary_1 stays down and p_postgres-replica_1 is the primary; PgBouncer points at it. Run 'statectl deploy' "
        "only after making p_postgres-primary_1 a standby (it would start as a second primary)");
}

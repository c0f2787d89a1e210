// failover test --format prometheus: the last trial's RTO and loss, exact exposition text.
#include <doctest/doctest.h>

#include "core/failover/metrics.h"

using namespace statectl;
using namespace statectl::failover;

TEST_CASE("failover metrics: last RTO and loss of a run")
{
  TestReport r;
  r.backend = "postgres";
  r.target = "local";
  r.mode = "bare";
  r.passed = true;
  Trial a, b;
  a.rto_ms = 1200;
  b.rto_ms = 850;
  b.lost = 0;
  a.read_back = b.read_back = true;
  r.trials = {a, b};
  r.lost_known = true;
  r.rto_ms_max = 1200;
  const std::string l = "{backend=\"postgres\",mode=\"bare\",target=\"local\"}";
  CHECK(test_to_prometheus(r, 1767312000) ==
        "# HELP statectl_failover_test_passed 1 when the last statectl failover test met its RTO and loss limits, else 0.\n"
        "# TYPE statectl_failover_test_passed gauge\n"
        "statectl_failover_test_passed" + l + " 1\n"
        "# HELP statectl_failover_test_trials Trials (injected failures) of the last failover test.\n"
        "# TYPE statectl_failover_test_trials gauge\n"
        "statectl_failover_test_trials" + l + " 2\n"
        "# HELP statectl_failover_test_rto_seconds RTO of the last trial: fault to the first acknowledged write on the new primary.\n"
        "# TYPE statectl_failover_test_rto_seconds gauge\n"
        "statectl_failover_test_rto_seconds" + l + " 0.85\n"
        "# HELP statectl_failover_test_lost_writes Acknowledged writes the last trial lost (missing after the failover).\n"
        "# TYPE statectl_failover_test_lost_writes gauge\n"
        "statectl_failover_test_lost_writes" + l + " 0\n"
        "# HELP statectl_failover_test_rto_max_seconds Worst RTO over the last failover test's trials.\n"
        "# TYPE statectl_failover_test_rto_max_seconds gauge\n"
        "statectl_failover_test_rto_max_seconds" + l + " 1.2\n"
        "# HELP statectl_failover_test_lost_writes_all_trials Acknowledged writes lost over all trials of the last failover test.\n"
        "# TYPE statectl_failover_test_lost_writes_all_trials gauge\n"
        "statectl_failover_test_lost_writes_all_trials" + l + " 0\n"
        "# HELP statectl_failover_test_timestamp_seconds Unix time at which the last failover test finished.\n"
        "# TYPE statectl_failover_test_timestamp_seconds gauge\n"
        "statectl_failover_test_timestamp_seconds" + l + " 1767312000\n");
}

TEST_CASE("failover metrics: a trial that never recovered has no RTO sample")
{
  TestReport r;
  r.backend = "redis";
  r.target = "local";
  r.mode = "sentinel";
  Trial t;
  t.lost = 3;
  t.read_back = true;
  r.trials = {t};
  std::string text = test_to_prometheus(r, 1);
  CHECK(text.find("statectl_failover_test_rto_seconds") == std::string::npos);
  CHECK(text.find("statectl_failover_test_passed{backend=\"redis\",mode=\"sentinel\",target=\"local\"} 0\n") != std::string::npos);
  CHECK(text.find("statectl_failover_test_lost_writes{backend=\"redis\",mode=\"sentinel\",target=\"local\"} 3\n") != std::string::npos);
}

TEST_CASE("failover metrics: no loss sample when the read-back failed")
{
  TestReport r;
  r.backend = "postgres";
  r.target = "compose";
  r.mode = "bare";
  Trial t;
  t.rto_ms = 900;
  r.trials = {t}; // read_back false: the loss is unknown
  std::string text = test_to_prometheus(r, 1);
  CHECK(text.find("statectl_failover_test_lost_writes") == std::string::npos);
  CHECK(text.find("statectl_failover_test_rto_seconds") != std::string::npos);
}

#pragma once

#include <string>

#include "core/failover/failover.h"

namespace statectl::failover {

// `failover test --format prometheus`: the last trial's RTO and lost acknowledged writes, the
// run's worst RTO and total loss, whether it passed, and when it ran, as Prometheus text
// exposition (statectl_failover_test_*, labelled backend, mode and target). now_s is Unix time.
std::string test_to_prometheus(const TestReport& report, double now_s);

} // namespace statectl::failover

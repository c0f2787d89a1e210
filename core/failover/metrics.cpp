#include "core/failover/metrics.h"

#include "core/output/prometheus.h"

namespace statectl::failover {

std::string test_to_prometheus(const TestReport& report, double now_s)
{
  output::PromWriter w;
  const output::PromWriter::Labels labels = {{"backend", report.backend}, {"mode", report.mode}, {"target", report.target}};
  w.add("statectl_failover_test_passed", "gauge", "1 when the last statectl failover test met its RTO and loss limits, else 0.",
        labels, report.passed ? 1 : 0);
  w.add("statectl_failover_test_trials", "gauge", "Trials (injected failures) of the last failover test.", labels,
        static_cast<double>(report.trials.size()));
  if (!report.trials.empty()) {
    const Trial& last = report.trials.back();
    // A trial that never recovered has no RTO: the sample is left out rather than faked.
    if (last.rto_ms >= 0)
      w.add("statectl_failover_test_rto_seconds", "gauge",
            "RTO of the last trial: fault to the first acknowledged write on the new primary.", labels,
            static_cast<double>(last.rto_ms) / 1000.0);
    // A failed read-back leaves the loss unknown: no sample rather than a 0.
    if (last.read_back)
      w.add("statectl_failover_test_lost_writes", "gauge", "Acknowledged writes the last trial lost (missing after the failover).",
            labels, static_cast<double>(last.lost));
  }
  if (report.rto_ms_max >= 0)
    w.add("statectl_failover_test_rto_max_seconds", "gauge", "Worst RTO over the last failover test's trials.", labels,
          static_cast<double>(report.rto_ms_max) / 1000.0);
  if (report.lost_known)
    w.add("statectl_failover_test_lost_writes_all_trials", "gauge", "Acknowledged writes lost over all trials of the last failover test.",
          labels, static_cast<double>(report.lost_total));
  w.add("statectl_failover_test_timestamp_seconds", "gauge", "Unix time at which the last failover test finished.", labels, now_s);
  return w.render();
}

} // namespace statectl::failover

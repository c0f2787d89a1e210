#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"

namespace statectl::capacity {

// Nagios plugin states; the numeric value is the plugin exit code.
enum class Status { ok = 0, warning = 1, critical = 2, unknown = 3 };

// "OK", "WARNING", "CRITICAL", "UNKNOWN".
const char* status_name(Status s);

// The worse of two states: the higher exit code (UNKNOWN outranks CRITICAL, so an unreachable
// server is never hidden behind a threshold breach elsewhere).
Status worse(Status a, Status b);

// A Nagios threshold range (the plugin guidelines' `[@]start:end`): "10" alerts outside 0..10,
// "10:" below 10, "~:10" above 10, "10:20" outside 10..20 and "@10:20" inside it. Bounds are
// inclusive, so a value equal to a threshold is OK (Nagios alerts only beyond it).
struct Range {
  double start = 0;
  bool start_infinite = false;
  double end = 0;
  bool end_infinite = true;
  bool inside = false;

  // Whether a value is to be alerted on.
  bool alerts(double value) const;
  // The range in Nagios syntax, as perfdata's warn/crit fields carry it ("80", "2:", "@1:5").
  std::string text() const;
  // The same range with both bounds multiplied by factor (a percentage range applied to a count).
  Range scaled(double factor) const;

  // "limit": alert when the value is above limit.
  static Range above(double limit);
  // "limit:": alert when the value is below limit.
  static Range below(double limit);
  // Parses Nagios range syntax; nullopt when malformed or start > end.
  static std::optional<Range> parse(const std::string& text);
};

// One measured value as Nagios performance data (`'label'=value[uom];warn;crit;min;max`) and,
// when `metric` is set, as the Prometheus gauge or counter `statectl_<metric>`.
struct Perf {
  std::string label; // unique within a report
  double value = 0;
  std::string uom;   // "", "s", "B", "%" or "c" (a counter)
  std::optional<Range> warn, crit;
  std::optional<double> min, max;
  std::string metric; // Prometheus name without the statectl_ prefix, base units; empty: not exported
  std::string help;   // the Prometheus HELP text
};

// Formats one Perf the way the Nagios plugin guidelines define it.
std::string format_perf(const Perf& p);

// One check's outcome. `value` is the measured value in words ("6 of 200 (3.0%)"), `metrics` the
// same numbers for machines; `message` says what is wrong when the status is not OK.
struct CheckResult {
  std::string name;      // stable snake_case id: connections, replication_lag, redis_memory, ...
  std::string component; // postgres | pgbouncer | redis | sentinel | backup
  std::string target;    // host:port (or repository path) the check measured
  Status status = Status::unknown;
  std::string value;
  std::string message;
  nlohmann::json metrics = nlohmann::json::object();
  std::vector<Perf> perf; // every value the check measured (none when it could not measure)
};

// A result not yet measured (status unknown), named and placed.
inline CheckResult new_check(const std::string& name, const std::string& component, const std::string& target)
{
  CheckResult c;
  c.name = name;
  c.component = component;
  c.target = target;
  return c;
}

// The thresholds of every check. Percent thresholds apply to the ratio checks (connections,
// database_size, wraparound, redis_memory); the overrides hold per-check `NAME=RANGE` values.
// Every threshold alerts only when the value is beyond it (Nagios), never when equal.
struct Thresholds {
  Range warn_pct = Range::above(80);
  Range crit_pct = Range::above(90);
  std::map<std::string, Range> warn_overrides;
  std::map<std::string, Range> crit_overrides;
  std::uint64_t lag_warn_bytes = 16ULL << 20;
  std::uint64_t lag_crit_bytes = 256ULL << 20;
  double lag_warn_s = 30;
  double lag_crit_s = 300;
  std::int64_t archive_ready_warn = 10;
  std::int64_t archive_ready_crit = 100;
  double xact_warn_s = 300;
  double xact_crit_s = 3600;
  double pool_wait_crit_s = 5;
  std::chrono::milliseconds backup_max_age{26 * 3600 * 1000};
  long cert_warn_days = 30; // certificate_expiry: days left that warn
  long cert_crit_days = 7;  // ... and that are critical
  std::chrono::milliseconds connect_timeout{3000};

  // This check's percent ranges (its override, else the default).
  const Range& warn_for(const std::string& check) const;
  const Range& crit_for(const std::string& check) const;
  // The state of a percentage against this check's warn/crit ranges.
  Status by_percent(const std::string& check, double pct) const;
};

// Thresholds from [capacity] and [backup] max_age; flags override afterwards.
Thresholds thresholds_from_config(const config::Config& cfg);

// Parses one --warn/--crit value: "PCT" (or a Nagios range of percentages) sets the default,
// "NAME=PCT" one check's. Throws Error(usage) naming the flag on a bad number or range or an
// unknown check name.
void apply_threshold_flag(Thresholds& t, const std::string& flag, const std::string& text);

// Names of every check, in report order (for --skip and NAME=PCT validation).
const std::vector<std::string>& check_names();

// All the checks' results, in report order.
struct CheckReport {
  std::vector<CheckResult> checks;
  Status worst() const;
};

// Runs every check against the deployed stack of cfg (addresses from core/stack/endpoints,
// passwords from the secret store). Never throws for an unreachable server: its checks are
// UNKNOWN. Checks named in skip are left out.
CheckReport run_checks(const config::Config& cfg, const Thresholds& t, const std::set<std::string>& skip = {});

// The groups run_checks is made of (one connection per server each).
void check_postgres(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out);
void check_pgbouncer(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out);
void check_redis(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out);
// check_redis() on a Redis Cluster: redis_cluster (every master's cluster_state and slots ok),
// redis_replicas (the master with the fewest), redis_memory and redis_evictions per master.
void check_redis_cluster(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out);
void check_backup(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out);
// certificate_expiry: the days left of the store's tls.crt and ca.crt, the sooner counting
// (warning within Thresholds::cert_warn_days, critical within cert_crit_days). Left out when
// the store has no certificate and [tls] is off; CRITICAL when [tls] enabled has none.
void check_certificates(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out);

// {"status": "WARNING", "exit_code": 1, "summary": {...}, "checks": [...]}.
nlohmann::json to_json(const CheckReport& report);
// The Nagios plugin output: one status line ("CAPACITY WARNING: 1 critical, ... | perfdata") and
// an aligned table; with only_problems the status line and just the lines that are not OK.
std::string to_text(const CheckReport& report, bool only_problems);

// Every check's perfdata, space-separated, in report order.
std::string perfdata(const CheckReport& report);

// Prometheus text exposition (for the node exporter's textfile collector): each check's state as
// statectl_capacity_check_status and every exported measurement as its own metric family.
// now_s is the run's Unix time, exported as statectl_capacity_check_timestamp_seconds.
std::string to_prometheus(const CheckReport& report, double now_s);

// Parses a PostgreSQL LSN ("16/B374D848") into a byte position; nullopt when malformed.
std::optional<std::uint64_t> parse_lsn(const std::string& text);

// "42 s", "3m12s", "1h5m" — a duration in seconds for check values.
std::string format_seconds(double seconds);

} // namespace statectl::capacity

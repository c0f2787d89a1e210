#include "core/capacity/check.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "core/error.h"
#include "core/output/printer.h"
#include "core/util/strings.h"

namespace statectl::capacity {

const char* status_name(Status s)
{
  switch (s) {
  case Status::ok: return "OK";
  case Status::warning: return "WARNING";
  case Status::critical: return "CRITICAL";
  case Status::unknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

Status worse(Status a, Status b) { return static_cast<int>(a) >= static_cast<int>(b) ? a : b; }

const std::vector<std::string>& check_names()
{
  static const std::vector<std::string> names = {
    "connections",     "database_size",      "replication_replicas", "replication_lag",  "wraparound",
    "archive_ready",   "archive_failure",    "longest_transaction",  "idle_in_transaction",
    "pgbouncer_waiting", "redis_memory",     "redis_evictions",      "redis_replicas",   "sentinel_quorum",
    "backup_age",
  };
  return names;
}

namespace {

const std::vector<std::string>& percent_checks()
{
  static const std::vector<std::string> names = {"connections", "database_size", "wraparound", "redis_memory"};
  return names;
}

} // namespace

double Thresholds::warn_for(const std::string& check) const
{
  auto it = warn_overrides.find(check);
  return it == warn_overrides.end() ? warn_pct : it->second;
}

double Thresholds::crit_for(const std::string& check) const
{
  auto it = crit_overrides.find(check);
  return it == crit_overrides.end() ? crit_pct : it->second;
}

Status Thresholds::by_percent(const std::string& check, double pct) const
{
  if (pct >= crit_for(check)) return Status::critical;
  if (pct >= warn_for(check)) return Status::warning;
  return Status::ok;
}

Thresholds thresholds_from_config(const config::Config& cfg)
{
  Thresholds t;
  t.warn_pct = static_cast<double>(cfg.get_int("capacity.warn"));
  t.crit_pct = static_cast<double>(cfg.get_int("capacity.crit"));
  t.lag_warn_bytes = cfg.get_size("capacity.replication_lag_warn");
  t.lag_crit_bytes = cfg.get_size("capacity.replication_lag_crit");
  auto secs = [&](const char* key) { return static_cast<double>(cfg.get_duration(key).count()) / 1000.0; };
  t.lag_warn_s = secs("capacity.replication_delay_warn");
  t.lag_crit_s = secs("capacity.replication_delay_crit");
  t.archive_ready_warn = cfg.get_int("capacity.archive_ready_warn");
  t.archive_ready_crit = cfg.get_int("capacity.archive_ready_crit");
  t.xact_warn_s = secs("capacity.transaction_warn");
  t.xact_crit_s = secs("capacity.transaction_crit");
  t.pool_wait_crit_s = secs("capacity.pool_wait_crit");
  t.backup_max_age = cfg.get_duration("backup.max_age");
  t.connect_timeout = cfg.get_duration("capacity.connect_timeout");
  return t;
}

void apply_threshold_flag(Thresholds& t, const std::string& flag, const std::string& text)
{
  std::string name, number = util::trim(text);
  if (auto eq = number.find('='); eq != std::string::npos) {
    name = util::trim(number.substr(0, eq));
    number = util::trim(number.substr(eq + 1));
    const auto& pc = percent_checks();
    if (std::find(pc.begin(), pc.end(), name) == pc.end()) {
      std::string hint = fmt::format("percent thresholds apply to {}", util::join(pc, ", "));
      if (auto m = util::closest_match(name, pc)) hint = fmt::format("did you mean '{}'?", *m);
      throw Error(ExitCode::usage, fmt::format("invalid {} '{}'", flag, text), fmt::format("unknown check '{}'", name), hint);
    }
  }
  if (!number.empty() && number.back() == '%') number.pop_back();
  double pct = 0;
  std::size_t used = 0;
  try {
    pct = std::stod(number, &used);
  } catch (...) {
    used = 0;
  }
  if (number.empty() || used != number.size() || !std::isfinite(pct) || pct < 0 || pct > 100)
    throw Error(ExitCode::usage, fmt::format("invalid {} '{}'", flag, text), "expected a percentage between 0 and 100",
                fmt::format("e.g. {} 80 or {} connections=50", flag, flag));
  auto& overrides = flag == "--warn" ? t.warn_overrides : t.crit_overrides;
  if (name.empty()) (flag == "--warn" ? t.warn_pct : t.crit_pct) = pct;
  else overrides[name] = pct;
}

Status CheckReport::worst() const
{
  Status s = Status::ok;
  for (const auto& c : checks) s = worse(s, c.status);
  return s;
}

CheckReport run_checks(const config::Config& cfg, const Thresholds& t, const std::set<std::string>& skip)
{
  CheckReport r;
  std::vector<CheckResult> all;
  check_postgres(cfg, t, all);
  check_pgbouncer(cfg, t, all);
  check_redis(cfg, t, all);
  check_backup(cfg, t, all);
  for (auto& c : all)
    if (!skip.count(c.name)) r.checks.push_back(std::move(c));
  return r;
}

nlohmann::json to_json(const CheckReport& report)
{
  int counts[4] = {0, 0, 0, 0};
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : report.checks) {
    ++counts[static_cast<int>(c.status)];
    checks.push_back({{"name", c.name},
                      {"component", c.component},
                      {"target", c.target},
                      {"status", status_name(c.status)},
                      {"value", c.value},
                      {"message", c.message},
                      {"metrics", c.metrics}});
  }
  Status worst = report.worst();
  return {{"status", status_name(worst)},
          {"exit_code", static_cast<int>(worst)},
          {"summary", {{"ok", counts[0]}, {"warning", counts[1]}, {"critical", counts[2]}, {"unknown", counts[3]}}},
          {"checks", checks}};
}

std::string to_text(const CheckReport& report, bool only_problems)
{
  int counts[4] = {0, 0, 0, 0};
  for (const auto& c : report.checks) ++counts[static_cast<int>(c.status)];
  output::Table table{{"STATUS", "CHECK", "TARGET", "VALUE"}, {}};
  for (const auto& c : report.checks) {
    if (only_problems && c.status == Status::ok) continue;
    std::string value = c.value;
    if (!c.message.empty()) value += value.empty() ? c.message : " - " + c.message;
    table.rows.push_back({status_name(c.status), c.name, c.target, value});
  }
  if (only_problems) {
    std::string out;
    for (const auto& row : table.rows) out += fmt::format("{} {} {}: {}\n", row[0], row[1], row[2], row[3]);
    return out;
  }
  std::string head = fmt::format("CAPACITY {}: {} critical, {} warning, {} unknown, {} ok\n", status_name(report.worst()),
                                 counts[2], counts[1], counts[3], counts[0]);
  return head + table.render();
}

std::optional<std::uint64_t> parse_lsn(const std::string& text)
{
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= text.size()) return std::nullopt;
  try {
    std::size_t a = 0, b = 0;
    std::uint64_t hi = std::stoull(text.substr(0, slash), &a, 16);
    std::uint64_t lo = std::stoull(text.substr(slash + 1), &b, 16);
    if (a != slash || b != text.size() - slash - 1 || lo > 0xFFFFFFFFULL) return std::nullopt;
    return (hi << 32) | lo;
  } catch (...) {
    return std::nullopt;
  }
}

std::string format_seconds(double seconds)
{
  if (seconds < 60) return fmt::format("{:.0f} s", std::max(0.0, seconds));
  return util::format_duration(std::chrono::milliseconds(static_cast<std::int64_t>(seconds) * 1000));
}

} // namespace statectl::capacity

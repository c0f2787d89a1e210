#include "core/capacity/check.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/output/printer.h"
#include "core/output/prometheus.h"
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

namespace {

// A perfdata or range number: plain decimal (perfdata allows no exponent), at most 3 decimals.
std::string number_text(double v)
{
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  std::string s = fmt::format("{:.3f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::optional<double> parse_number(const std::string& text)
{
  if (text.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(v)) return std::nullopt;
    return v;
  } catch (...) {
    return std::nullopt;
  }
}

} // namespace

bool Range::alerts(double value) const
{
  bool in = (start_infinite || value >= start) && (end_infinite || value <= end);
  return inside ? in : !in;
}

std::string Range::text() const
{
  std::string out = inside ? "@" : "";
  if (start_infinite) out += "~:";
  else if (start != 0 || end_infinite) out += number_text(start) + ":";
  if (!end_infinite) out += number_text(end);
  return out;
}

Range Range::scaled(double factor) const
{
  Range r = *this;
  r.start *= factor;
  r.end *= factor;
  return r;
}

Range Range::above(double limit)
{
  Range r;
  r.end = limit;
  r.end_infinite = false;
  return r;
}

Range Range::below(double limit)
{
  Range r;
  r.start = limit;
  return r;
}

std::optional<Range> Range::parse(const std::string& text)
{
  Range r;
  std::string s = text;
  if (!s.empty() && s[0] == '@') {
    r.inside = true;
    s.erase(0, 1);
  }
  auto colon = s.find(':');
  std::string lo = colon == std::string::npos ? "" : s.substr(0, colon);
  std::string hi = colon == std::string::npos ? s : s.substr(colon + 1);
  if (lo == "~") r.start_infinite = true;
  else if (!lo.empty()) {
    auto v = parse_number(lo);
    if (!v) return std::nullopt;
    r.start = *v;
  } else if (colon != std::string::npos) {
    return std::nullopt; // ":10" is not a range
  }
  if (hi.empty()) {
    if (colon == std::string::npos) return std::nullopt;
    r.end_infinite = true;
  } else {
    auto v = parse_number(hi);
    if (!v) return std::nullopt;
    r.end = *v;
    r.end_infinite = false;
  }
  if (!r.start_infinite && !r.end_infinite && r.start > r.end) return std::nullopt;
  return r;
}

std::string format_perf(const Perf& p)
{
  // Labels may hold anything but '=' and a single quote; quoting covers spaces and colons.
  std::string label;
  for (char c : p.label) label += c == '=' || c == '\'' ? '_' : c;
  auto opt_range = [](const std::optional<Range>& r) { return r ? r->text() : std::string(); };
  auto opt_num = [](const std::optional<double>& v) { return v ? number_text(*v) : std::string(); };
  std::string out = fmt::format("'{}'={}{};{};{};{};{}", label, number_text(p.value), p.uom, opt_range(p.warn),
                                opt_range(p.crit), opt_num(p.min), opt_num(p.max));
  while (out.back() == ';') out.pop_back();
  return out;
}

const std::vector<std::string>& check_names()
{
  static const std::vector<std::string> names = {
    "connections",     "database_size",      "replication_replicas", "replication_lag",  "wraparound",
    "archive_ready",   "archive_failure",    "longest_transaction",  "idle_in_transaction",
    "pgbouncer_waiting", "redis_memory",     "redis_evictions",      "redis_replicas",   "sentinel_quorum",   "redis_cluster",
    "backup_age",      "certificate_expiry",
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

const Range& Thresholds::warn_for(const std::string& check) const
{
  auto it = warn_overrides.find(check);
  return it == warn_overrides.end() ? warn_pct : it->second;
}

const Range& Thresholds::crit_for(const std::string& check) const
{
  auto it = crit_overrides.find(check);
  return it == crit_overrides.end() ? crit_pct : it->second;
}

Status Thresholds::by_percent(const std::string& check, double pct) const
{
  if (crit_for(check).alerts(pct)) return Status::critical;
  if (warn_for(check).alerts(pct)) return Status::warning;
  return Status::ok;
}

Thresholds thresholds_from_config(const config::Config& cfg)
{
  Thresholds t;
  t.warn_pct = Range::above(static_cast<double>(config::settings(cfg).capacity.warn));
  t.crit_pct = Range::above(static_cast<double>(config::settings(cfg).capacity.crit));
  t.lag_warn_bytes = config::settings(cfg).capacity.replication_lag_warn;
  t.lag_crit_bytes = config::settings(cfg).capacity.replication_lag_crit;
  auto secs = [](std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; };
  t.lag_warn_s = secs(config::settings(cfg).capacity.replication_delay_warn);
  t.lag_crit_s = secs(config::settings(cfg).capacity.replication_delay_crit);
  t.archive_ready_warn = config::settings(cfg).capacity.archive_ready_warn;
  t.archive_ready_crit = config::settings(cfg).capacity.archive_ready_crit;
  t.xact_warn_s = secs(config::settings(cfg).capacity.transaction_warn);
  t.xact_crit_s = secs(config::settings(cfg).capacity.transaction_crit);
  t.pool_wait_crit_s = secs(config::settings(cfg).capacity.pool_wait_crit);
  t.backup_max_age = config::settings(cfg).backup.max_age;
  t.connect_timeout = config::settings(cfg).capacity.connect_timeout;
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
  // A plain number is a percentage limit; anything else must be a Nagios range of percentages.
  std::optional<Range> range;
  if (auto v = parse_number(number)) {
    if (*v >= 0 && *v <= 100) range = Range::above(*v);
  } else {
    range = Range::parse(number);
  }
  if (!range)
    throw Error(ExitCode::usage, fmt::format("invalid {} '{}'", flag, text),
                "expected a percentage between 0 and 100 or a Nagios range (10:, ~:90, @10:20)",
                fmt::format("e.g. {} 80 or {} connections=50", flag, flag));
  auto& overrides = flag == "--warn" ? t.warn_overrides : t.crit_overrides;
  if (name.empty()) (flag == "--warn" ? t.warn_pct : t.crit_pct) = *range;
  else overrides[name] = *range;
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
  check_certificates(cfg, t, all);
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
    nlohmann::json perf = nlohmann::json::array();
    for (const auto& p : c.perf) perf.push_back(format_perf(p));
    checks.push_back({{"name", c.name},
                      {"component", c.component},
                      {"target", c.target},
                      {"status", status_name(c.status)},
                      {"value", c.value},
                      {"message", c.message},
                      {"metrics", c.metrics},
                      {"perfdata", perf}});
  }
  Status worst = report.worst();
  return {{"status", status_name(worst)},
          {"exit_code", static_cast<int>(worst)},
          {"summary", {{"ok", counts[0]}, {"warning", counts[1]}, {"critical", counts[2]}, {"unknown", counts[3]}}},
          {"checks", checks}};
}

std::string perfdata(const CheckReport& report)
{
  std::vector<std::string> parts;
  for (const auto& c : report.checks)
    for (const auto& p : c.perf) parts.push_back(format_perf(p));
  return util::join(parts, " ");
}

std::string to_text(const CheckReport& report, bool only_problems)
{
  int counts[4] = {0, 0, 0, 0};
  for (const auto& c : report.checks) ++counts[static_cast<int>(c.status)];
  // A '|' in the text would start Nagios's perfdata early.
  auto clean = [](std::string s) {
    for (auto& ch : s)
      if (ch == '|') ch = '/';
    return s;
  };
  output::Table table{{"STATUS", "CHECK", "TARGET", "VALUE"}, {}};
  for (const auto& c : report.checks) {
    if (only_problems && c.status == Status::ok) continue;
    std::string value = c.value;
    if (!c.message.empty()) value += value.empty() ? c.message : " - " + c.message;
    table.rows.push_back({status_name(c.status), c.name, clean(c.target), clean(value)});
  }
  std::string head = fmt::format("CAPACITY {}: {} critical, {} warning, {} unknown, {} ok", status_name(report.worst()),
                                 counts[2], counts[1], counts[3], counts[0]);
  std::string perf = perfdata(report);
  head += perf.empty() ? "\n" : " | " + perf + "\n";
  if (only_problems) {
    for (const auto& row : table.rows) head += fmt::format("{} {} {}: {}\n", row[0], row[1], row[2], row[3]);
    return head;
  }
  return head + table.render();
}

std::string to_prometheus(const CheckReport& report, double now_s)
{
  output::PromWriter w;
  for (const auto& c : report.checks)
    w.add("statectl_capacity_check_status", "gauge",
          "State of a statectl capacity check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios plugin codes).",
          {{"check", c.name}, {"component", c.component}, {"target", c.target}}, static_cast<int>(c.status));
  for (const auto& c : report.checks)
    for (const auto& p : c.perf)
      if (!p.metric.empty())
        w.add("statectl_" + p.metric, p.uom == "c" ? "counter" : "gauge", p.help, {{"target", c.target}}, p.value);
  w.add("statectl_capacity_check_timestamp_seconds", "gauge", "Unix time at which statectl capacity check ran.", {}, now_s);
  return w.render();
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

#include "core/backup/retention.h"

#include <algorithm>
#include <ctime>
#include <set>

namespace statectl::backup {

enum class Period { day, week, month };

static std::string bucket(std::int64_t us, Period p)
{
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  switch (p) {
  case Period::day: std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm); break;
  case Period::week: std::strftime(buf, sizeof buf, "%G-W%V", &tm); break;
  case Period::month: std::strftime(buf, sizeof buf, "%Y-%m", &tm); break;
  }
  return buf;
}

std::map<std::string, std::vector<std::string>> select_kept(const std::vector<std::pair<std::string, std::int64_t>>& backups,
                                                            const RetentionRules& rules)
{
  std::map<std::string, std::vector<std::string>> kept;
  auto sorted = backups;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first > b.first; });
  if (sorted.empty()) return kept;
  auto apply = [&](int count, Period period, const char* rule) {
    std::set<std::string> seen;
    for (const auto& [id, t] : sorted) {
      if (static_cast<int>(seen.size()) >= count) break;
      std::string b = bucket(t, period);
      if (seen.insert(b).second) kept[id].push_back(std::string(rule) + " " + b);
    }
  };
  apply(rules.daily, Period::day, "daily");
  apply(rules.weekly, Period::week, "weekly");
  apply(rules.monthly, Period::month, "monthly");
  if (!kept.count(sorted.front().first)) kept[sorted.front().first].push_back("newest");
  return kept;
}

std::optional<std::string> wal_anchor(const std::vector<std::pair<std::string, std::int64_t>>& backups, std::int64_t window_us,
                                      std::int64_t now_us)
{
  if (window_us <= 0 || backups.empty()) return std::nullopt;
  auto sorted = backups;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second < b.second : a.first < b.first; });
  std::string anchor = sorted.front().first;
  for (const auto& [id, stop] : sorted)
    if (stop <= now_us - window_us) anchor = id;
  return anchor;
}

} // namespace statectl::backup

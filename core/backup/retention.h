#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace statectl::backup {

// The grandfather-father-son rules of [backup] retention_*: keep the newest backup of each of
// the last `daily` days, `weekly` ISO weeks and `monthly` months that have a backup (UTC).
struct RetentionRules {
  int daily = 7;
  int weekly = 4;
  int monthly = 12;
};

// Given valid backups as (id, stop time in microseconds since the epoch), returns the kept IDs
// with the rules that keep each ("daily 2026-11-22", "weekly 2026-W47", "monthly 2026-11",
// "newest"). The newest backup is always kept.
std::map<std::string, std::vector<std::string>> select_kept(const std::vector<std::pair<std::string, std::int64_t>>& backups,
                                                            const RetentionRules& rules);

} // namespace statectl::backup

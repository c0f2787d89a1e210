#pragma once

#include <cstdint>
#include <map>
#include <optional>
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

// [backup] wal_retention: the point-in-time window. Of the physical backups given as (id, stop
// time in microseconds), returns the one from whose start every archived WAL segment is kept:
// the newest that stopped before now - window (so that any point in the window can be
// reached), else the oldest. The backups older than it keep only the WAL from their start to
// their stop. nullopt when window_us is 0 (every WAL segment from the oldest backup is kept)
// or no backup is given.
std::optional<std::string> wal_anchor(const std::vector<std::pair<std::string, std::int64_t>>& backups, std::int64_t window_us,
                                      std::int64_t now_us);

} // namespace statectl::backup

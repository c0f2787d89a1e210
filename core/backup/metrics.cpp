#include "core/backup/metrics.h"

#include <map>

#include "core/output/prometheus.h"

namespace statectl::backup {

std::string list_to_prometheus(const std::vector<BackupEntry>& entries, std::int64_t now_us)
{
  struct Newest {
    const Manifest* manifest = nullptr;
    std::int64_t start_us = 0, stop_us = 0;
    int valid = 0;
  };
  std::map<std::string, Newest> by_type;
  int incomplete = 0;
  for (const auto& e : entries) {
    if (!e.valid || !e.manifest) {
      ++incomplete;
      continue;
    }
    auto& n = by_type[e.manifest->type];
    ++n.valid;
    auto stop = parse_time(e.manifest->stop_time);
    auto start = parse_time(e.manifest->start_time);
    if (stop && (!n.manifest || *stop > n.stop_us)) {
      n.manifest = &*e.manifest;
      n.stop_us = *stop;
      n.start_us = start ? *start : *stop;
    }
  }
  output::PromWriter w;
  for (const auto& [type, n] : by_type)
    w.add("statectl_backup_valid_backups", "gauge", "Valid backups in the statectl repository, by type.", {{"type", type}}, n.valid);
  w.add("statectl_backup_incomplete_backups", "gauge", "Backup directories without a manifest (unfinished or broken).", {},
        incomplete);
  auto each = [&](const char* name, const char* help, auto value) {
    for (const auto& [type, n] : by_type)
      if (n.manifest) w.add(name, "gauge", help, {{"type", type}}, value(n));
  };
  each("statectl_backup_newest_timestamp_seconds", "Unix time at which the newest valid backup of the type stopped.",
       [](const Newest& n) { return static_cast<double>(n.stop_us) / 1e6; });
  each("statectl_backup_newest_age_seconds", "Age of the newest valid backup of the type when the metrics were written.",
       [&](const Newest& n) { return static_cast<double>(now_us - n.stop_us) / 1e6; });
  each("statectl_backup_newest_duration_seconds", "How long the newest valid backup of the type took.",
       [](const Newest& n) { return static_cast<double>(n.stop_us - n.start_us) / 1e6; });
  each("statectl_backup_newest_size_bytes", "Size of the newest valid backup's data before compression.",
       [](const Newest& n) { return static_cast<double>(n.manifest->size()); });
  each("statectl_backup_newest_stored_size_bytes", "Size of the newest valid backup in the repository (compressed).",
       [](const Newest& n) { return static_cast<double>(n.manifest->stored_size()); });
  return w.render();
}

} // namespace statectl::backup

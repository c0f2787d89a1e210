// The backup age check of `capacity check`: the newest valid backup in the repository of
// core/backup against [backup] max_age.
#include <filesystem>
#include <fmt/format.h>

#include "core/backup/repository.h"
#include "core/capacity/check.h"
#include "core/util/strings.h"

namespace statectl::capacity {

void check_backup(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out)
{
  CheckResult r;
  r.name = "backup_age";
  r.component = "backup";
  try {
    auto repo = backup::Repository::from_config(cfg);
    r.target = repo.location();
    std::error_code ec;
    if (!repo.root().empty() && !std::filesystem::is_directory(repo.root() / "backups", ec)) {
      r.status = Status::unknown;
      r.value = "no backup repository";
      r.message = fmt::format("{} does not exist: run `statectl backup create`", (repo.root() / "backups").string());
      out.push_back(std::move(r));
      return;
    }
    std::optional<backup::Manifest> newest;
    std::int64_t newest_us = 0;
    std::size_t valid = 0;
    for (const auto& e : repo.backups()) {
      if (!e.valid || !e.manifest) continue;
      ++valid;
      auto stop = backup::parse_time(e.manifest->stop_time);
      if (stop && (!newest || *stop > newest_us)) {
        newest = e.manifest;
        newest_us = *stop;
      }
    }
    if (!newest) {
      r.status = Status::critical;
      r.value = "no valid backup";
      r.message = "the repository holds no backup with a manifest: run `statectl backup create`";
      r.metrics = {{"valid_backups", 0}};
      // Perfdata only: `backup list --format prometheus` exports the backups per type.
      r.perf.push_back({.label = "valid_backups", .value = 0, .crit = Range::below(1), .min = 0});
      out.push_back(std::move(r));
      return;
    }
    double age_s = static_cast<double>(backup::now_us() - newest_us) / 1e6;
    double max_s = static_cast<double>(t.backup_max_age.count()) / 1000.0;
    r.value = fmt::format("{} ({}) is {} old, max {}", newest->id, newest->type, format_seconds(age_s), format_seconds(max_s));
    r.metrics = {{"age_seconds", age_s}, {"max_age_seconds", max_s}, {"newest_id", newest->id}, {"valid_backups", valid}};
    r.status = age_s > max_s ? Status::critical : Status::ok;
    // Perfdata only: `backup list --format prometheus` exports the newest backup per type, and
    // one metric name must not come from two textfiles with different help and labels.
    r.perf.push_back({.label = "backup_age", .value = age_s, .uom = "s", .crit = Range::above(max_s), .min = 0});
    r.perf.push_back({.label = "valid_backups", .value = static_cast<double>(valid), .crit = Range::below(1), .min = 0});
    if (r.status != Status::ok) r.message = "the newest backup is older than [backup] max_age: check the backup schedule";
  } catch (const std::exception& e) {
    r.status = Status::unknown;
    r.value = "repository unreadable";
    r.message = e.what();
  }
  out.push_back(std::move(r));
}

} // namespace statectl::capacity


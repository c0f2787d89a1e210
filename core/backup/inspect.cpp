// backup list / info / prune (verify: core/backup/verify.cpp).
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "core/backup/backup.h"
#include "core/backup/pg.h"
#include "core/backup/restore.h"
#include "core/backup/retention.h"
#include "core/backup/stream.h"
#include "core/backup/tar.h"
#include "core/backup/unpack.h"
#include "core/backup/wal.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

RepositoryInfo repository_info(const config::Config& cfg)
{
  Repository repo = Repository::from_config(cfg);
  import_spool(cfg, repo); // the newest archived WAL includes what the servers spooled (compose)
  auto all = repo.backups();
  std::vector<Manifest> full;
  RepositoryInfo info;
  info.repository = repo.location();
  for (const auto& e : all) {
    e.valid ? ++info.valid_backups : ++info.incomplete_backups;
    if (e.valid && is_physical(e.manifest->type)) full.push_back(*e.manifest);
  }
  // The newest archived segment over every timeline.
  std::string newest;
  for (auto tl : repo.timelines())
    for (const auto& n : repo.wal_segments(tl))
      if (newest.empty() || n.substr(8) > newest.substr(8) || (n.substr(8) == newest.substr(8) && n > newest)) newest = n;
  std::int64_t newest_time = 0;
  if (!newest.empty()) {
    newest_time = repo.find_wal(newest)->mtime_us;
    info.newest_archived_wal = ArchivedWal{newest, format_time(newest_time)};
    info.archive_lag_seconds = (now_us() - newest_time) / 1000000;
  }
  if (!full.empty()) {
    const auto& o = full.front();
    info.oldest_recovery_point = RecoveryPoint{o.id, o.stop_time, o.stop_lsn, std::nullopt};
    const auto& n = full.back();
    auto chain = check_wal_chain(repo, n.timeline, parse_lsn(n.start_lsn).value_or(0) / n.wal_segment_size, n.wal_segment_size);
    std::uint64_t end_lsn = (chain.last_contiguous + 1) * n.wal_segment_size;
    info.newest_recovery_point = RecoveryPoint{n.id, chain.last_contiguous_time_us ? format_time(chain.last_contiguous_time_us) : n.stop_time,
                                               format_lsn(end_lsn), chain.timeline};
    if (chain.missing) info.wal_gap = *chain.missing;
  }
  if (auto f = repo.last_failure(); f && f->is_object())
    info.last_failure = BackupFailure{f->value("time", ""), f->value("message", "")};
  // The server's own view, when it is reachable: archiver failures and how far it is ahead.
  try {
    PgSession s(primary_target(cfg), 2);
    auto rows = s.query("SELECT coalesce(last_failed_wal, ''), coalesce(last_failed_time::text, ''), "
                        "coalesce(last_archived_time::text, ''), pg_current_wal_lsn()::text FROM pg_stat_archiver");
    if (!rows.empty()) {
      if (!newest.empty()) {
        auto w = parse_wal_name(newest);
        auto cur = parse_lsn(rows[0][3].value_or(""));
        std::uint64_t seg_size = full.empty() ? 16u << 20 : full.back().wal_segment_size;
        std::uint64_t archived_end = (w->segment + 1) * seg_size;
        if (cur) info.archive_lag_bytes = *cur > archived_end ? *cur - archived_end : 0;
      }
      std::string failed_wal = rows[0][0].value_or("");
      std::string failed_time = rows[0][1].value_or("");
      if (!failed_wal.empty() && failed_time > rows[0][2].value_or("")) {
        BackupFailure archiver{failed_time, fmt::format("archive_command failed for {} (see the server log)", failed_wal)};
        if (!info.last_failure || failed_time > info.last_failure->time) info.last_failure = archiver;
      }
    }
  } catch (const Error&) {
  }
  return info;
}

PruneReport prune_repository(const config::Config& cfg, bool dry_run)
{
  Repository repo = Repository::from_config(cfg);
  std::optional<RepoLock> lock;
  if (!dry_run) lock.emplace(repo, "backup prune");
  RetentionRules rules{static_cast<int>(config::settings(cfg).backup.retention_daily), static_cast<int>(config::settings(cfg).backup.retention_weekly),
                       static_cast<int>(config::settings(cfg).backup.retention_monthly)};
  auto all = repo.backups();
  // Each kind has its own retention: a nightly logical dump does not push out a base backup.
  // Full, diff and incr backups are one kind: the rules pick among all of them.
  std::map<std::string, std::vector<std::pair<std::string, std::int64_t>>> by_type;
  std::map<std::string, const Manifest*> valid;
  for (const auto& e : all)
    if (e.valid) {
      by_type[is_physical(e.manifest->type) ? "physical" : e.manifest->type].emplace_back(e.id, parse_time(e.manifest->stop_time).value_or(0));
      valid[e.id] = &*e.manifest;
    }
  std::map<std::string, std::vector<std::string>> kept;
  for (const auto& [type, list] : by_type)
    for (auto& [id, why] : select_kept(list, rules)) kept[id] = why;
  // A kept diff or incr keeps its prior backup and every backup holding its files, transitively
  // (so expiring a full expires the diffs and incrs built on it, as pgBackRest does).
  std::vector<std::string> todo;
  for (const auto& [id, why] : kept) todo.push_back(id);
  while (!todo.empty()) {
    std::string id = todo.back();
    todo.pop_back();
    auto v = valid.find(id);
    if (v == valid.end()) continue;
    std::vector<std::string> deps = v->second->references;
    if (!v->second->prior.empty()) deps.push_back(v->second->prior);
    for (const auto& d : deps) {
      if (!valid.count(d)) continue; // verify reports the broken chain
      bool fresh = !kept.count(d);
      auto& why = kept[d];
      std::string reason = "needed by " + id;
      if (std::find(why.begin(), why.end(), reason) == why.end()) why.push_back(reason);
      if (fresh) todo.push_back(d);
    }
  }
  PruneReport doc;
  doc.dry_run = dry_run;
  doc.daily = rules.daily;
  doc.weekly = rules.weekly;
  doc.monthly = rules.monthly;
  std::vector<std::pair<std::string, std::int64_t>> kept_physical; // (id, stop time)
  bool damaged_manifest = false;
  for (const auto& e : all) {
    PruneDecision b{e.id, e.valid ? e.manifest->type : "unknown", "", "", {}};
    auto it = kept.find(e.id);
    if (!e.valid && !e.problem.empty()) {
      // A manifest.json that is there but cannot be read (a changed byte, or not the key it was
      // sealed with) is damage, not an interrupted backup: never removed, and since what WAL it
      // needs is unknown, no WAL is expired while it is there.
      b.action = "keep";
      b.reason = fmt::format("damaged, never removed by prune: manifest.json: {}; no WAL expired while it is there", e.problem);
      damaged_manifest = true;
    } else if (it != kept.end()) {
      b.action = "keep";
      b.reason = util::join(it->second, ", ");
      b.kept_by = it->second;
      if (is_physical(e.manifest->type)) kept_physical.emplace_back(e.id, parse_time(e.manifest->stop_time).value_or(0));
    } else {
      b.action = "remove";
      b.reason = e.valid ? "not kept by any retention rule" : "incomplete";
      if (!dry_run) repo.remove_backup(e.id);
    }
    doc.backups.push_back(std::move(b));
  }
  // The WAL kept: every segment from the start of the oldest kept full, diff or incr backup or,
  // with [backup] wal_retention, of wal_anchor(); the kept backups before the anchor keep only
  // the segments from their start to their stop (what makes them consistent), as pgBackRest's
  // archive retention does.
  std::optional<std::pair<std::uint32_t, std::uint64_t>> oldest_needed; // (timeline, segment)
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;         // consistency-only backups
  auto window_us = std::chrono::duration_cast<std::chrono::microseconds>(config::settings(cfg).backup.wal_retention).count();
  auto anchor = wal_anchor(kept_physical, window_us, now_us());
  std::int64_t anchor_stop = INT64_MIN;
  for (const auto& [id, stop] : kept_physical)
    if (anchor && id == *anchor) anchor_stop = stop;
  for (const auto& [id, stop] : kept_physical) {
    const Manifest& m = *valid.at(id);
    std::uint64_t start = parse_lsn(m.start_lsn).value_or(0), end = parse_lsn(m.stop_lsn).value_or(0);
    std::uint64_t first = start / m.wal_segment_size, last = (end > start ? end - 1 : end) / m.wal_segment_size;
    if (anchor && (stop < anchor_stop || (stop == anchor_stop && id < *anchor))) {
      ranges.emplace_back(first, last);
      doc.wal_consistency_only.push_back(id);
    } else if (!oldest_needed || first < oldest_needed->second) {
      oldest_needed = std::make_pair(m.timeline, first);
    }
  }
  auto in_range = [&](std::uint64_t seg) {
    return std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) { return seg >= r.first && seg <= r.second; });
  };
  if (oldest_needed && !damaged_manifest) {
    for (auto tl : repo.timelines()) {
      for (const auto& o : repo.wal_objects(tl)) {
        std::string f = o.key.substr(o.key.rfind('/') + 1);
        auto dash = f.rfind('-');
        if (dash == std::string::npos) continue;
        auto w = parse_wal_name(f.substr(0, dash));
        if (!w || w->kind == WalName::Kind::history) continue;
        if (w->segment >= oldest_needed->second || in_range(w->segment)) continue;
        doc.wal_removed_bytes += o.size;
        doc.wal_removed_names.push_back(f.substr(0, dash));
        if (!dry_run) repo.storage().remove(o.key);
      }
    }
    doc.wal_kept_from = segment_name(oldest_needed->first, oldest_needed->second, 16u << 20);
  }
  return doc;
}

} // namespace statectl::backup

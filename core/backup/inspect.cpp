// backup list / info / verify / prune.
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
#include "core/config/config.h"
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

namespace {

// Re-hashes one backup's files against its manifest; returns the problems found.
std::vector<std::string> verify_backup(const Repository& repo, const Manifest& m)
{
  std::vector<std::string> problems;
  std::map<std::string, const ContentFile*> expected;
  for (const auto& c : m.contents)
    if (c.reference.empty()) expected[c.path] = &c; // the others are in the backups it references
  std::set<std::string> present;
  for (const auto& o : repo.storage().list("backups/" + m.id + "/")) present.insert(o.key);
  for (const auto& f : m.files) {
    std::string rel = Repository::backup_key(m.id, f.name);
    if (!present.count(rel)) {
      problems.push_back(rel + ": missing");
      continue;
    }
    LocalCopy copy = repo.storage().fetch(rel);
    const fs::path& p = copy.path();
    StreamStats plain = hash_file(p);
    if (plain.stored_sha256 != f.stored_sha256) {
      problems.push_back(fmt::format("{}: checksum mismatch (sha256 {} on disk, {} in the manifest)", rel, plain.stored_sha256.substr(0, 12),
                                     f.stored_sha256.substr(0, 12)));
      continue;
    }
    TarScanner tar;
    std::optional<Sha256> h;
    std::set<std::string> seen;
    bool is_tar = f.name == "base.tar.zst";
    if (is_tar) {
      tar.on_begin = [&](const TarEntry& e) { if (e.type == '0') h.emplace(); };
      tar.on_data = [&](std::string_view d) { h->update(d); };
      tar.on_end = [&](const TarEntry& e) {
        if (e.type != '0') return;
        seen.insert(e.path);
        auto it = expected.find(e.path);
        std::string got = h->hex();
        if (it == expected.end()) problems.push_back(fmt::format("{}: {} is not in the manifest", rel, e.path));
        else if (it->second->sha256 != got) problems.push_back(fmt::format("{}: {} checksum mismatch", rel, e.path));
      };
    }
    try {
      StreamStats st = read_zstd_file(p, [&](std::string_view d) { if (is_tar) tar.feed(d); }, repo.cipher_key(), rel);
      if (st.raw_sha256 != f.sha256) problems.push_back(rel + ": content checksum mismatch");
    } catch (const Error& e) {
      problems.push_back(fmt::format("{}: {}", rel, e.why().empty() ? e.what_failed() : e.why()));
      continue;
    }
    if (is_tar)
      for (const auto& [path, c] : expected)
        if (!seen.count(path)) problems.push_back(fmt::format("{}: {} is missing from the archive", rel, path));
  }
  return problems;
}

} // namespace

VerifyReport verify_repository(const config::Config& cfg, exec::Runner& runner, output::Printer& printer,
                               const std::optional<std::string>& id, bool restore_test, const std::string& statectl_path)
{
  Repository repo = Repository::from_config(cfg);
  import_spool(cfg, repo); // the WAL continuity check covers what the servers spooled (compose)
  auto all = repo.backups();
  std::vector<BackupEntry> chosen;
  for (const auto& e : all)
    if (!id || e.id == *id) chosen.push_back(e);
  if (id && chosen.empty()) throw Error(ExitCode::usage, fmt::format("no backup '{}'", *id), "", "run `statectl backup list` for the IDs");
  if (chosen.empty())
    throw Error(ExitCode::failed, fmt::format("no backups in {}", repo.location()), "there is nothing to verify or restore from",
                "create one with: statectl backup create");
  VerifyReport doc;
  doc.repository = repo.location();
  bool ok = true;
  int incomplete = 0;
  std::set<std::string> wal_checked;
  std::optional<Manifest> newest_full;
  // [backup] wal_retention: the backups before wal_anchor() keep only the WAL up to their stop.
  std::vector<std::pair<std::string, std::int64_t>> physical;
  for (const auto& e : all)
    if (e.valid && is_physical(e.manifest->type)) physical.emplace_back(e.id, parse_time(e.manifest->stop_time).value_or(0));
  auto window_us = std::chrono::duration_cast<std::chrono::microseconds>(cfg.get_duration("backup.wal_retention")).count();
  auto anchor = wal_anchor(physical, window_us, now_us());
  std::int64_t anchor_stop = INT64_MIN;
  for (const auto& [pid, stop] : physical)
    if (anchor && pid == *anchor) anchor_stop = stop;
  auto consistency_only = [&](const Manifest& bm) {
    std::int64_t stop = parse_time(bm.stop_time).value_or(0);
    return anchor && (stop < anchor_stop || (stop == anchor_stop && bm.id < *anchor));
  };
  // Each backup's own files are re-hashed once, also when several backups depend on it.
  std::map<std::string, std::vector<std::string>> checked;
  auto own_problems = [&](const std::string& bid, const Manifest& bm) -> const std::vector<std::string>& {
    auto it = checked.find(bid);
    if (it == checked.end()) it = checked.emplace(bid, verify_backup(repo, bm)).first;
    return it->second;
  };
  for (const auto& e : chosen) {
    VerifiedBackup b{e.id, e.valid ? "valid" : "incomplete", true, {}};
    if (!e.valid && !e.problem.empty()) {
      // A manifest that is there but cannot be read is damage, not an interrupted backup.
      b.ok = false;
      b.status = "damaged";
      b.problems.push_back(fmt::format("backups/{}/manifest.json: {}", e.id, e.problem));
      doc.problems.push_back(b.problems.back());
      ok = false;
      ++incomplete;
    } else if (!e.valid) {
      // An interrupted backup is never "ok"; it fails the run only when asked for by ID (the
      // run fails below when no valid backup is left at all).
      b.ok = false;
      b.problems.push_back(fmt::format("backups/{}: incomplete (no manifest.json: the backup was interrupted)", e.id));
      if (id) {
        doc.problems.push_back(b.problems.back());
        ok = false;
      }
      ++incomplete;
    } else {
      printer.info(fmt::format("verifying backup {}", e.id));
      auto problems = own_problems(e.id, *e.manifest);
      const auto& m = *e.manifest;
      // A diff or incr is only as good as the backups holding its unchanged files.
      if (!m.references.empty()) {
        try {
          backup_chain(repo, m);
          for (const auto& ref : m.references)
            if (auto rm = repo.manifest(ref); rm && !own_problems(ref, *rm).empty())
              problems.push_back(fmt::format("depends on backup {}, which is damaged: {}", ref, own_problems(ref, *rm).front()));
        } catch (const Error& err) {
          problems.push_back(err.why());
        }
      }
      if (is_physical(m.type)) {
        std::uint64_t start = parse_lsn(m.start_lsn).value_or(0) / m.wal_segment_size;
        // Before the wal_retention window a backup needs only the WAL up to its stop.
        std::optional<std::uint64_t> until;
        if (consistency_only(m)) until = parse_wal_name(m.stop_wal, m.wal_segment_size)->segment;
        auto chain = check_wal_chain(repo, m.timeline, start, m.wal_segment_size, until);
        if (until && chain.missing && parse_wal_name(*chain.missing, m.wal_segment_size)->segment > *until) chain.missing.reset();
        if (until && chain.last_contiguous > *until) chain.last_contiguous = *until;
        if (chain.missing)
          problems.push_back(fmt::format("WAL gap: segment {} is missing (backup {} needs WAL from {} to {})", *chain.missing, m.id, m.start_wal,
                                         until ? m.stop_wal : "the newest archived " + chain.newest_name));
        // Re-hash the WAL this backup needs (each segment once across backups).
        for (std::uint64_t s = start; s <= chain.last_contiguous && !chain.last_contiguous_name.empty(); ++s) {
          std::string name;
          for (auto tl : repo.timelines()) {
            std::string n = segment_name(tl, s, m.wal_segment_size);
            if (repo.find_wal(n) && tl <= chain.timeline) name = n;
          }
          if (name.empty() || !wal_checked.insert(name).second) continue;
          std::string key = repo.find_wal(name)->key;
          std::string want = key.substr(key.rfind('/') + 1).substr(25, 64);
          try {
            auto st = read_zstd_file(repo.storage().fetch(key).path(), {}, repo.cipher_key(), key);
            if (st.raw_sha256 != want) problems.push_back(fmt::format("{}: checksum mismatch", key));
          } catch (const Error& err) {
            problems.push_back(fmt::format("{}: {}", key, err.why().empty() ? err.what_failed() : err.why()));
          }
        }
        if (problems.empty()) newest_full = m;
      }
      for (const auto& p : problems) {
        b.problems.push_back(p);
        doc.problems.push_back(p);
      }
      b.ok = problems.empty();
    }
    if (e.valid && !b.ok) ok = false;
    doc.backups.push_back(std::move(b));
  }
  doc.valid_backups = static_cast<int>(chosen.size()) - incomplete;
  doc.incomplete_backups = incomplete;
  if (incomplete == static_cast<int>(chosen.size())) ok = false; // nothing to restore from
  if (restore_test && ok) {
    if (!newest_full) {
      doc.restore_test = RestoreTest{false, std::nullopt, std::nullopt, std::nullopt, "no intact physical backup to restore"};
      ok = false;
    } else {
      char tmpl[] = "/tmp/statectl-restore-test.XXXXXX";
      char* base = ::mkdtemp(tmpl);
      if (!base) throw Error(ExitCode::failed, "cannot create a temporary directory", std::strerror(errno));
      ::chmod(base, 0755);
      RestoreOptions o;
      o.to = fs::path(base) / "data";
      o.backup_id = newest_full->id;
      o.kind = TargetKind::immediate;
      o.start = true;
      o.statectl_path = statectl_path;
      o.timeout = std::chrono::seconds(300);
      try {
        auto r = restore(cfg, runner, printer, o);
        stop_restored(cfg, runner, o.to);
        std::string query = r.recovery ? r.recovery->query_result : "";
        doc.restore_test = RestoreTest{true, newest_full->id, r.port, query,
                                       fmt::format("backup {} restored and started on port {}; {}", newest_full->id,
                                                   r.port ? std::to_string(*r.port) : "null", query)};
      } catch (const Error& e) {
        try {
          stop_restored(cfg, runner, o.to);
        } catch (const Error&) {
        }
        // A missing pg_ctl (or other tool) says nothing about the backup: exit 3, not "damaged".
        if (e.code() == ExitCode::unavailable) {
          std::error_code ec;
          fs::remove_all(base, ec);
          throw Error(ExitCode::unavailable, "cannot run the restore test", e.message(), e.hint());
        }
        doc.restore_test = RestoreTest{false, newest_full->id, std::nullopt, std::nullopt, e.message()};
        doc.problems.push_back(fmt::format("restore test of {} failed: {}", newest_full->id, e.message()));
        ok = false;
      }
      std::error_code ec;
      fs::remove_all(base, ec);
    }
  }
  doc.ok = ok;
  return doc;
}

PruneReport prune_repository(const config::Config& cfg, bool dry_run)
{
  Repository repo = Repository::from_config(cfg);
  std::optional<RepoLock> lock;
  if (!dry_run) lock.emplace(repo, "backup prune");
  RetentionRules rules{static_cast<int>(cfg.get_int("backup.retention_daily")), static_cast<int>(cfg.get_int("backup.retention_weekly")),
                       static_cast<int>(cfg.get_int("backup.retention_monthly"))};
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
  for (const auto& e : all) {
    PruneDecision b{e.id, e.valid ? e.manifest->type : "unknown", "", "", {}};
    auto it = kept.find(e.id);
    if (it != kept.end()) {
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
  auto window_us = std::chrono::duration_cast<std::chrono::microseconds>(cfg.get_duration("backup.wal_retention")).count();
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
  if (oldest_needed) {
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

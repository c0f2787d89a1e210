// backup verify: the stored files of each backup against their manifest, the WAL each backup
// needs, the chains of diff and incr backups, optionally a restore test. The checks of the
// backups' files and of the WAL segments run on every CPU (the repository is read by one
// thread at a time: an S3 repository shares one connection).
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "core/backup/backup.h"
#include "core/backup/restore.h"
#include "core/backup/retention.h"
#include "core/backup/stream.h"
#include "core/backup/tar.h"
#include "core/backup/unpack.h"
#include "core/backup/wal.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/parallel.h"

namespace statectl::backup {

namespace fs = std::filesystem;

namespace {

// The repository's storage, one call at a time.
class SerialStorage {
public:
  explicit SerialStorage(const Repository& repo) : m_repo(repo) {}

  LocalCopy fetch(const std::string& key)
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_repo.storage().fetch(key);
  }

  std::vector<ObjectInfo> list(const std::string& prefix)
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_repo.storage().list(prefix);
  }

private:
  const Repository& m_repo;
  std::mutex m_mutex;
};

std::string reason(const Error& e) { return e.why().empty() ? e.what_failed() : e.why(); }

// Checks one stored file of a backup in one read: the stored bytes' checksum, and with deep also
// the content's (a base.tar.zst: every member's) against the manifest.
void verify_file(SerialStorage& store, const std::string& cipher_key, const std::string& rel, const StoredFile& f,
                 const std::map<std::string, const ContentFile*>& expected, bool deep, std::vector<std::string>& problems)
{
  LocalCopy copy = store.fetch(rel);
  const fs::path& p = copy.path();
  // Whether the stored bytes are the ones the manifest recorded; names the mismatch when not.
  auto stored_intact = [&](const StreamStats& got) {
    if (got.stored_sha256 == f.stored_sha256 && (!f.stored_size || got.stored_size == f.stored_size)) return true;
    problems.push_back(fmt::format("{}: checksum mismatch (sha256 {} on disk, {} in the manifest)", rel, got.stored_sha256.substr(0, 12),
                                   f.stored_sha256.substr(0, 12)));
    return false;
  };
  if (!deep) {
    stored_intact(hash_file(p));
    return;
  }
  TarScanner tar;
  std::optional<Sha256> h;
  std::set<std::string> seen;
  std::vector<std::string> members;
  bool is_tar = f.name == "base.tar.zst";
  if (is_tar) {
    tar.on_begin = [&](const TarEntry& e) {
      if (e.type == '0') h.emplace();
    };
    tar.on_data = [&](std::string_view d) { h->update(d); };
    tar.on_end = [&](const TarEntry& e) {
      if (e.type != '0') return;
      seen.insert(e.path);
      auto it = expected.find(e.path);
      std::string got = h->hex();
      if (it == expected.end()) members.push_back(fmt::format("{}: {} is not in the manifest", rel, e.path));
      else if (it->second->sha256 != got) members.push_back(fmt::format("{}: {} checksum mismatch", rel, e.path));
    };
  }
  StreamStats st;
  try {
    // Decompressing on one thread, the members' checksums on another.
    if (is_tar)
      util::pipeline_chunks([&](const std::function<void(std::string_view)>& emit) { st = read_zstd_file(p, emit, cipher_key, rel, false); },
                            [&](std::string_view d) { tar.feed(d); });
    else st = read_zstd_file(p, {}, cipher_key, rel);
  } catch (const Error& e) {
    // Damaged on disk (the checksum says so) or damaged when it was written.
    if (stored_intact(hash_file(p))) problems.push_back(fmt::format("{}: {}", rel, reason(e)));
    return;
  }
  if (!stored_intact(st)) return;
  problems.insert(problems.end(), members.begin(), members.end());
  // A base backup's content is checked member by member (and its stored bytes as a whole).
  if (!is_tar && st.raw_sha256 != f.sha256) problems.push_back(rel + ": content checksum mismatch");
  if (is_tar && !tar.finished()) problems.push_back(rel + ": the archive ends early");
  if (is_tar)
    for (const auto& [path, c] : expected)
      if (!seen.count(path)) problems.push_back(fmt::format("{}: {} is missing from the archive", rel, path));
}

// Checks one backup's own files against its manifest; returns the problems found.
std::vector<std::string> verify_backup(SerialStorage& store, const std::string& cipher_key, const Manifest& m, bool deep)
{
  std::vector<std::string> problems;
  std::map<std::string, const ContentFile*> expected;
  for (const auto& c : m.contents)
    if (c.reference.empty()) expected[c.path] = &c; // the others are in the backups it references
  std::set<std::string> present;
  for (const auto& o : store.list("backups/" + m.id + "/")) present.insert(o.key);
  for (const auto& f : m.files) {
    std::string rel = Repository::backup_key(m.id, f.name);
    if (!present.count(rel)) {
      problems.push_back(rel + ": missing");
      continue;
    }
    try {
      verify_file(store, cipher_key, rel, f, expected, deep, problems);
    } catch (const Error& e) {
      problems.push_back(fmt::format("{}: {}", rel, reason(e)));
    }
  }
  return problems;
}

// Decompresses one archived WAL segment and compares its content with the checksum its object
// name carries; returns the problem, or an empty string.
std::string verify_wal(SerialStorage& store, const std::string& cipher_key, const std::string& key)
{
  std::string want = key.substr(key.rfind('/') + 1).substr(25, 64);
  try {
    auto st = read_zstd_file(store.fetch(key).path(), {}, cipher_key, key);
    if (st.raw_sha256 != want) return fmt::format("{}: checksum mismatch", key);
  } catch (const Error& err) {
    return fmt::format("{}: {}", key, reason(err));
  }
  return {};
}

} // namespace

VerifyReport verify_repository(const config::Config& cfg, exec::Runner& runner, output::Printer& printer,
                               const std::optional<std::string>& id, bool restore_test, bool deep, const std::string& statectl_path)
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
  std::optional<Manifest> newest_full;
  // [backup] wal_retention: the backups before wal_anchor() keep only the WAL up to their stop.
  std::vector<std::pair<std::string, std::int64_t>> physical;
  for (const auto& e : all)
    if (e.valid && is_physical(e.manifest->type)) physical.emplace_back(e.id, parse_time(e.manifest->stop_time).value_or(0));
  auto window_us = std::chrono::duration_cast<std::chrono::microseconds>(config::settings(cfg).backup.wal_retention).count();
  auto anchor = wal_anchor(physical, window_us, now_us());
  std::int64_t anchor_stop = INT64_MIN;
  for (const auto& [pid, stop] : physical)
    if (anchor && pid == *anchor) anchor_stop = stop;
  auto consistency_only = [&](const Manifest& bm) {
    std::int64_t stop = parse_time(bm.stop_time).value_or(0);
    return anchor && (stop < anchor_stop || (stop == anchor_stop && bm.id < *anchor));
  };
  SerialStorage store(repo);
  const std::string cipher_key = repo.cipher_key();
  unsigned workers = util::worker_count(4);

  // Each backup's own files are checked once, also when several backups depend on it: every
  // valid backup asked for and the backups holding their unchanged files, in parallel.
  std::map<std::string, Manifest> to_check;
  for (const auto& e : chosen) {
    if (!e.valid) continue;
    to_check.emplace(e.id, *e.manifest);
    for (const auto& ref : e.manifest->references)
      if (!to_check.count(ref))
        if (auto rm = repo.manifest(ref)) to_check.emplace(ref, *rm);
  }
  std::vector<const Manifest*> order;
  for (const auto& [bid, bm] : to_check) order.push_back(&bm);
  std::vector<std::vector<std::string>> found(order.size());
  if (!order.empty()) printer.info(fmt::format("verifying {} backup{}{}", order.size(), order.size() == 1 ? "" : "s", deep ? " (deep)" : ""));
  util::parallel_for(order.size(), workers, [&](std::size_t i) { found[i] = verify_backup(store, cipher_key, *order[i], deep); });
  std::map<std::string, std::vector<std::string>> checked;
  for (std::size_t i = 0; i < order.size(); ++i) checked[order[i]->id] = std::move(found[i]);

  // Per backup: its problems so far, and the WAL segments it is the first to need (each segment
  // is checked once, its damage reported with the first backup that needs it).
  struct Pending {
    VerifiedBackup b;
    std::vector<std::string> problems;
    std::vector<std::size_t> wal; // indexes into wal_keys
    const Manifest* manifest = nullptr;
  };
  std::vector<Pending> pending;
  std::vector<std::string> wal_keys;
  std::set<std::string> wal_seen;
  const auto timelines = repo.timelines();
  const auto archived = repo.archived_segments();
  for (const auto& e : chosen) {
    Pending p{VerifiedBackup{e.id, e.valid ? "valid" : "incomplete", true, {}}, {}, {}, nullptr};
    VerifiedBackup& b = p.b;
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
      const auto& m = *e.manifest;
      p.manifest = &m;
      p.problems = checked[e.id];
      // A diff or incr is only as good as the backups holding its unchanged files.
      if (!m.references.empty()) {
        try {
          backup_chain(repo, m);
          for (const auto& ref : m.references)
            if (auto it = checked.find(ref); it != checked.end() && !it->second.empty())
              p.problems.push_back(fmt::format("depends on backup {}, which is damaged: {}", ref, it->second.front()));
        } catch (const Error& err) {
          p.problems.push_back(err.why());
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
          p.problems.push_back(fmt::format("WAL gap: segment {} is missing (backup {} needs WAL from {} to {})", *chain.missing, m.id, m.start_wal,
                                           until ? m.stop_wal : "the newest archived " + chain.newest_name));
        for (std::uint64_t s = start; s <= chain.last_contiguous && !chain.last_contiguous_name.empty(); ++s) {
          // The segment of the newest timeline up to the chain's that holds it.
          const ObjectInfo* held = nullptr;
          std::string name;
          for (auto tl : timelines) {
            if (tl > chain.timeline) continue;
            std::string n = segment_name(tl, s, m.wal_segment_size);
            if (auto it = archived.find(n); it != archived.end()) {
              held = &it->second;
              name = n;
            }
          }
          if (!held || !wal_seen.insert(name).second) continue;
          p.wal.push_back(wal_keys.size());
          wal_keys.push_back(held->key);
        }
      }
    }
    pending.push_back(std::move(p));
  }

  // The WAL segments, in parallel.
  std::vector<std::string> wal_problem(wal_keys.size());
  util::parallel_for(wal_keys.size(), workers, [&](std::size_t i) { wal_problem[i] = verify_wal(store, cipher_key, wal_keys[i]); });

  for (auto& p : pending) {
    if (p.manifest) {
      for (std::size_t w : p.wal)
        if (!wal_problem[w].empty()) p.problems.push_back(wal_problem[w]);
      if (is_physical(p.manifest->type) && p.problems.empty()) newest_full = *p.manifest;
      for (const auto& pr : p.problems) {
        p.b.problems.push_back(pr);
        doc.problems.push_back(pr);
      }
      p.b.ok = p.problems.empty();
      if (!p.b.ok) ok = false;
    }
    doc.backups.push_back(std::move(p.b));
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

} // namespace statectl::backup

// backup create --type full|diff|incr: a base backup streamed from pg_basebackup. A full stores
// the tar stream as it comes; a diff or incr rewrites it keeping only the files changed since its
// prior backup (the last full for a diff, the last backup of any type for an incr) and lists the
// others in its manifest with a reference to the backup holding their bytes, as pgBackRest does.
// A diff or incr of a server whose data directory this process can read (core/backup/local_files)
// reads only the changed files from there instead of streaming the whole cluster.
#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <regex>
#include <set>
#include <thread>
#include <unordered_map>

#include "core/backup/backup.h"
#include "core/backup/create_parts.h"
#include "core/backup/local_files.h"
#include "core/backup/pg.h"
#include "core/config/settings.h"
#include "core/backup/stream.h"
#include "core/backup/tar.h"
#include "core/backup/wal.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {


std::uint64_t next_xid(PgSession& s) { return std::stoull(s.scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")); }

// Waits until the archive holds `name` (moving what the servers spooled into it meanwhile);
// false on timeout.
bool wait_archived(const config::Config& cfg, const Repository& repo, const std::string& name, std::chrono::seconds timeout)
{
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    import_spool(cfg, repo);
    if (repo.find_wal(name)) return true;
    std::this_thread::sleep_for(100ms);
  }
  import_spool(cfg, repo);
  return repo.find_wal(name).has_value();
}

std::string archiver_state(PgSession& s)
{
  try {
    auto rows = s.query("SELECT coalesce(last_failed_wal, ''), coalesce(last_failed_time::text, ''), failed_count FROM pg_stat_archiver");
    if (!rows.empty() && rows[0][0] && !rows[0][0]->empty())
      return fmt::format("; the server's last archive failure was {} at {} ({} failures; see the server log)", *rows[0][0], rows[0][1].value_or(""),
                         rows[0][2].value_or("0"));
  } catch (const Error&) {
  }
  return "";
}

// The source must archive into this repository; a backup that cannot be recovered is worse
// than no backup.
void check_archiving(const config::Config& cfg, PgSession& s, const Repository& repo, const PgTarget& t, std::chrono::seconds timeout)
{
  std::string mode = s.scalar("SHOW archive_mode");
  std::string command = s.scalar("SHOW archive_command");
  if (mode == "off")
    throw Error(ExitCode::failed, "cannot back up: WAL archiving is off", fmt::format("archive_mode is off on {}", t.display()),
                "set archive_mode = on and archive_command = 'statectl wal push %p' on the server and restart it");
  if (command.empty() || command == "(disabled)")
    throw Error(ExitCode::failed, "cannot back up: WAL archiving is not configured", fmt::format("archive_command is empty on {}", t.display()),
                "set archive_command = 'statectl wal push %p' and reload the server");
  if (s.scalar("SELECT pg_is_in_recovery()") == "t")
    throw Error(ExitCode::usage, "cannot back up from a standby", fmt::format("{} is in recovery", t.display()),
                "point statectl at the primary");
  std::string seg = s.scalar("SELECT pg_walfile_name(pg_switch_wal())");
  if (!wait_archived(cfg, repo, seg, timeout))
    throw Error(ExitCode::failed, "cannot back up: WAL archiving does not reach the repository",
                fmt::format("segment {} was not archived into {} within {}s{}", seg, repo.location(), timeout.count(), archiver_state(s)),
                "check that archive_command runs `statectl wal push %p` with this repository");
}

// The backup a diff (the newest full) or an incr (the newest full, diff or incr) is taken
// against: valid, of the same cluster, with every backup it depends on still valid. nullopt
// when there is none: the backup is then promoted to a full one.
std::optional<Manifest> find_prior(const Repository& repo, const std::string& type, const std::string& system_identifier)
{
  std::set<std::string> valid;
  std::optional<Manifest> prior;
  for (const auto& e : repo.backups()) {
    if (!e.valid || !is_physical(e.manifest->type) || e.manifest->system_identifier != system_identifier) continue;
    valid.insert(e.id);
    if (type == "diff" && e.manifest->type != "full") continue;
    bool intact = e.manifest->prior.empty() || valid.count(e.manifest->prior);
    for (const auto& r : e.manifest->references) intact = intact && valid.count(r);
    if (intact) prior = e.manifest;
  }
  return prior;
}

// Files whose bytes a diff or incr always stores: they are written anew by every backup
// (backup_label, backup_manifest, tablespace_map) or updated without a size change at any time.
bool always_stored(const std::string& path)
{
  return path == "backup_label" || path == "backup_manifest" || path == "tablespace_map" || path == "global/pg_control";
}

// pgBackRest's rule without --delta: a file is unchanged when its size and modification time
// are those the prior backup recorded, and that time is more than a second before the prior
// backup started (a file changed again within the second it was copied keeps its mtime).
bool unchanged(const ContentFile& before, const TarEntry& now, std::int64_t trusted_before_s)
{
  return before.size == now.size && before.mtime == now.mtime && before.mtime > 0 && before.mtime < trusted_before_s &&
         !before.sha256.empty() && !always_stored(now.path);
}

} // namespace

Manifest create_physical(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const CreateOptions& o,
                         const Repository& repo)
{
  PgTarget t = primary_target(cfg);
  int level = static_cast<int>(config::settings(cfg).backup.compress_level);
  int threads = static_cast<int>(config::settings(cfg).backup.threads);
  exec::Command cmd;
  cmd.argv = {pg_tool(cfg, "pg_basebackup")};
  auto conn = t.argv();
  cmd.argv.insert(cmd.argv.end(), conn.begin(), conn.end());
  cmd.argv.insert(cmd.argv.end(), {"-D", "-", "-Ft", "-X", "none", "-c", "fast", "-v", "--no-password", "-l", "statectl backup"});
  cmd.env = t.env();
  cmd.mutating = true;
  if (runner.dry_run() == exec::DryRun::plan) {
    runner.run(cmd);
    if (o.type != "full")
      printer.plan(fmt::format("store only the files changed since the last {} backup (a full one when there is none)",
                               o.type == "diff" ? "full" : "full, diff or incr"));
    return {};
  }

  PgSession s(t);
  check_archiving(cfg, s, repo, t, o.archive_timeout);
  Manifest m;
  m.system_identifier = s.scalar("SELECT system_identifier FROM pg_control_system()");
  std::optional<Manifest> prior;
  m.type = o.type;
  if (m.type != "full") {
    prior = find_prior(repo, m.type, m.system_identifier);
    if (!prior) {
      printer.warn(fmt::format("no valid {} backup of this cluster to base a {} backup on: taking a full backup",
                               m.type == "diff" ? "full" : "full, diff or incr", m.type));
      m.type = "full";
    }
  }
  m.id = new_backup_id(repo, m.type == "full" ? 'F' : m.type == "diff" ? 'D' : 'I');
  if (prior) m.prior = prior->id;
  m.pg_version = s.scalar("SHOW server_version");
  m.wal_segment_size = util::parse_size(s.scalar("SHOW wal_segment_size")).ok() ? *util::parse_size(s.scalar("SHOW wal_segment_size")) : 16u << 20;
  m.compress_level = level;
  m.start_xid = next_xid(s);
  m.start_time = format_time(db_now_us(s));
  std::uint64_t estimate = std::stoull(s.scalar("SELECT coalesce(sum(pg_database_size(oid)), 0) FROM pg_database"));

  Cleanup cleanup{repo, m.id};
  // A diff or incr of a server on this machine reads the changed files from its data directory.
  std::optional<fs::path> local_dir = prior ? local_data_directory(s) : std::nullopt;
  printer.info(local_dir ? fmt::format("backup {}: reading the files of {} changed since {} from {} (about {} in all)", m.id, t.display(), prior->id,
                                       local_dir->string(), util::format_size(estimate))
               : prior   ? fmt::format("backup {}: streaming a base backup of {} (about {}), storing what changed since {}", m.id, t.display(),
                                       util::format_size(estimate), prior->id)
                         : fmt::format("backup {}: streaming a base backup of {} (about {})", m.id, t.display(), util::format_size(estimate)));

  // A diff/incr writes its own tar: every directory and symlink, and the regular files that changed.
  std::unordered_map<std::string, const ContentFile*> before;
  std::int64_t trusted_before_s = 0;
  if (prior) {
    for (const auto& c : prior->contents) before[c.path] = &c;
    trusted_before_s = parse_time(prior->start_time).value_or(0) / 1000000 - 1;
  }
  bool rewrite = prior.has_value();
  std::uint64_t referenced = 0, referenced_bytes = 0;
  StoredWriter stored(repo, m.id, "base.tar.zst", level, threads, k_base_frame_size);
  auto& tree = m.tree.emplace();
  ZstdFileWriter& out = stored.out;
  TarScanner tar;
  std::optional<Sha256> member;
  ContentFile current;
  bool skip = false;
  tar.on_begin = [&](const TarEntry& e) {
    current = ContentFile{e.path, e.size, "", e.mtime, "", -1};
    skip = false;
    if (e.type == '5' || e.type == '2') tree.push_back({e.path, e.type, e.link_target});
    if (e.type == '0') {
      auto it = prior ? before.find(e.path) : before.end();
      if (it != before.end() && unchanged(*it->second, e, trusted_before_s)) {
        skip = true;
        current.sha256 = it->second->sha256;
        current.reference = it->second->reference.empty() ? prior->id : it->second->reference;
        m.contents.push_back(current);
        ++referenced;
        referenced_bytes += e.size;
        return;
      }
      member.emplace();
    }
    if (rewrite) out.write(tar_header(e));
    // Where the content starts in the stored stream: restore --delta reads only its frames.
    if (e.type == '0') current.offset = static_cast<std::int64_t>(rewrite ? out.raw_size() : tar.position());
  };
  std::string label, bmanifest; // backup_label and backup_manifest hold the WAL range
  tar.on_data = [&](std::string_view d) {
    if (skip) return;
    member->update(d);
    if (rewrite) out.write(d);
    if (current.path == "backup_label") label.append(d);
    if (current.path == "backup_manifest") bmanifest.append(d);
  };
  tar.on_end = [&](const TarEntry& e) {
    if (e.type != '0' || skip) return;
    if (rewrite) out.write(tar_padding(e.size));
    current.sha256 = member->hex();
    member.reset();
    m.contents.push_back(current);
  };
  output::Progress progress(printer, "backup " + m.id, estimate, o.tty);
  std::uint64_t done = 0;
  std::string info; // pg_basebackup -v's report, or the start and end points of a local copy
  if (local_dir) {
    // pgBackRest's way: a non-exclusive backup on this session, the data directory read
    // directly (unchanged files are only stat'ed), the backup label from pg_backup_stop.
    s.scalar(fmt::format("SELECT pg_backup_start('statectl backup {}', true)", m.id));
    bool stopped = false;
    try {
      walk_data_directory(
        *local_dir,
        [&](const TarEntry& e) {
          tar.on_begin(e);
          done += e.size;
          progress.update(done);
          return e.type == '0' && !skip;
        },
        tar.on_data, tar.on_end);
      auto rows = s.query("SELECT lsn::text, labelfile, coalesce(spcmapfile, '') FROM pg_backup_stop(false)");
      stopped = true;
      if (rows.empty() || !rows[0][0] || !rows[0][1]) throw Error(ExitCode::failed, "pg_backup_stop returned no backup label");
      const std::string& backup_label = *rows[0][1];
      TarEntry le{"backup_label", '0', backup_label.size(), 0600, "", db_now_us(s) / 1000000};
      tar.on_begin(le);
      tar.on_data(backup_label);
      tar.on_end(le);
      info = fmt::format("write-ahead log end point: {}\n", *rows[0][0]);
    } catch (...) {
      if (!stopped) try {
          s.query("SELECT pg_backup_stop(false)");
        } catch (const Error&) {
        }
      throw;
    }
  } else {
    cmd.io = exec::Io::stream;
    cmd.on_stdout = [&](std::string_view chunk) {
      tar.feed(chunk);
      if (!rewrite) out.write(chunk);
      done += chunk.size();
      progress.update(done);
    };
    auto res = runner.run(cmd);
    if (!res.ok())
      throw Error(ExitCode::external, "pg_basebackup failed", exec::redact(util::trim(res.err)), "check the server log and `statectl backup info`");
    if (!tar.finished()) throw Error(ExitCode::failed, "the base backup stream ended early", "pg_basebackup output has no end-of-archive marker");
    info = res.err;
  }
  progress.finish();
  if (rewrite) out.write(tar_end());
  std::smatch mt;
  std::regex start_re(R"(write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+))");
  std::regex end_re(R"(write-ahead log end point: ([0-9A-F]+/[0-9A-F]+))");
  info += "\n" + label + "\n" + bmanifest;
  std::regex label_re(R"(START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+)[^\n]*\n(?:[^\n]*\n)*?START TIMELINE: (\d+))");
  std::regex wr_re(R"re("End-LSN": "([0-9A-F]+/[0-9A-F]+)")re");
  if (std::regex_search(label, mt, label_re)) info += fmt::format("\nwrite-ahead log start point: {} on timeline {}\n", mt[1].str(), mt[2].str());
  if (std::regex_search(bmanifest, mt, wr_re)) info += fmt::format("\nwrite-ahead log end point: {}\n", mt[1].str());
  if (!std::regex_search(info, mt, start_re)) throw Error(ExitCode::failed, "cannot read the backup's start point", "pg_basebackup -v printed no start point");
  m.start_lsn = mt[1];
  m.timeline = static_cast<std::uint32_t>(std::stoul(mt[2]));
  if (!std::regex_search(info, mt, end_re)) throw Error(ExitCode::failed, "cannot read the backup's end point", "pg_basebackup -v printed no end point");
  m.stop_lsn = mt[1];
  m.files.push_back(stored.finish());
  m.stop_time = format_time(db_now_us(s));
  m.stop_xid = next_xid(s);
  std::uint64_t start = *parse_lsn(m.start_lsn), stop = *parse_lsn(m.stop_lsn);
  m.start_wal = wal_segment_name(m.timeline, start, m.wal_segment_size);
  m.stop_wal = wal_segment_name(m.timeline, stop > start ? stop - 1 : stop, m.wal_segment_size);

  // Valid only once every segment from start to stop is archived.
  printer.info(fmt::format("backup {}: waiting for WAL {} to be archived", m.id, m.stop_wal));
  if (!wait_archived(cfg, repo, m.stop_wal, o.archive_timeout)) {
    s.query("SELECT pg_switch_wal()");
    if (!wait_archived(cfg, repo, m.stop_wal, o.archive_timeout))
      throw Error(ExitCode::failed, fmt::format("backup {} is incomplete", m.id),
                  fmt::format("WAL segment {} was not archived within {}s{}", m.stop_wal, o.archive_timeout.count(), archiver_state(s)),
                  "check archive_command and run the backup again");
  }
  auto chain = check_wal_chain(repo, m.timeline, start / m.wal_segment_size, m.wal_segment_size, stop / m.wal_segment_size);
  if (chain.missing && parse_wal_name(*chain.missing)->segment <= (stop > start ? stop - 1 : stop) / m.wal_segment_size)
    throw Error(ExitCode::failed, fmt::format("backup {} is incomplete", m.id), fmt::format("WAL segment {} is missing from the archive", *chain.missing));
  std::set<std::string> refs;
  for (const auto& c : m.contents)
    if (!c.reference.empty()) refs.insert(c.reference);
  m.references.assign(refs.begin(), refs.end());
  if (prior)
    printer.info(fmt::format("backup {}: {} of {} files ({}) unchanged since {}, referenced from {}; stored {} changed files ({})", m.id, referenced,
                             m.contents.size(), util::format_size(referenced_bytes), prior->id, util::join(m.references, ", "),
                             m.contents.size() - referenced, util::format_size(m.size())));
  repo.write_manifest(m);
  cleanup.armed = false;
  return m;
}

} // namespace statectl::backup

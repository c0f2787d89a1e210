// restore's preflight: the backup to restore and the WAL it needs, checked before anything is
// written.
#include <fmt/format.h>

#include "core/backup/restore_parts.h"
#include "core/backup/wal.h"
#include "core/error.h"

namespace statectl::backup {

namespace {

const char* kind_flag(TargetKind k)
{
  switch (k) {
  case TargetKind::latest: return "--latest";
  case TargetKind::immediate: return "--target-immediate";
  case TargetKind::time: return "--target-time";
  case TargetKind::lsn: return "--target-lsn";
  case TargetKind::xid: return "--target-xid";
  case TargetKind::name: return "--target-name";
  }
  return "";
}

} // namespace

std::string describe_target(const RestoreOptions& o)
{
  switch (o.kind) {
  case TargetKind::latest: return "latest";
  case TargetKind::immediate: return "immediate";
  default: return fmt::format("{} {}", kind_flag(o.kind), o.value);
  }
}

Manifest choose_backup(const Repository& repo, const RestoreOptions& o, std::optional<std::int64_t> t_us, std::optional<std::uint64_t> lsn,
                       std::optional<std::uint64_t> xid)
{
  std::vector<Manifest> full;
  for (const auto& e : repo.backups())
    if (e.valid && is_physical(e.manifest->type)) full.push_back(*e.manifest);
  auto ends_before = [&](const Manifest& m) {
    if (t_us) return parse_time(m.stop_time).value_or(INT64_MAX) <= *t_us;
    if (lsn) return parse_lsn(m.stop_lsn).value_or(UINT64_MAX) <= *lsn;
    if (xid) return m.stop_xid <= *xid;
    return true;
  };
  if (!o.backup_id.empty() && o.backup_id != "latest") {
    auto m = repo.manifest(o.backup_id);
    if (!m) throw Error(ExitCode::usage, fmt::format("no valid backup '{}'", o.backup_id), "", "run `statectl backup list` for the IDs");
    if (!is_physical(m->type))
      throw Error(ExitCode::usage, fmt::format("backup {} is a {} backup", o.backup_id, m->type), "point-in-time restore needs a full backup",
                  m->type == "logical" ? "load it with pg_restore after `statectl restore --backup ID --to DIR` prints its path" : "");
    if (!ends_before(*m))
      throw Error(ExitCode::usage, fmt::format("backup {} ends after the target {}", m->id, describe_target(o)),
                  fmt::format("it ends at {} (LSN {})", m->stop_time, m->stop_lsn), "pick an older backup or a later target");
    return *m;
  }
  if (full.empty())
    throw Error(ExitCode::usage, "nothing to restore", fmt::format("the repository {} has no valid physical (full, diff or incr) backup", repo.location()),
                "run `statectl backup create` first");
  if (o.kind == TargetKind::name) return full.front();
  for (auto it = full.rbegin(); it != full.rend(); ++it)
    if (ends_before(*it)) return *it;
  const auto& oldest = full.front();
  std::string earliest = t_us ? oldest.stop_time : lsn ? "LSN " + oldest.stop_lsn : fmt::format("xid {}", oldest.stop_xid);
  throw Error(ExitCode::usage, fmt::format("target {} is before the end of the oldest backup", describe_target(o)),
              fmt::format("the oldest backup {} ends at {} (LSN {})", oldest.id, oldest.stop_time, oldest.stop_lsn),
              fmt::format("the earliest point you can restore to is {}; pick a later target, or --latest", earliest));
}

void check_wal(const Repository& repo, const Manifest& m, const RestoreOptions& o, std::optional<std::int64_t> t_us, std::optional<std::uint64_t> lsn)
{
  std::uint64_t seg = m.wal_segment_size;
  std::uint64_t start = parse_lsn(m.start_lsn).value_or(0), stop = parse_lsn(m.stop_lsn).value_or(0);
  std::uint64_t stop_seg = (stop > start ? stop - 1 : stop) / seg;
  // Walk to the newest archived segment only: a target beyond it is "beyond the archive", not a gap.
  auto chain = check_wal_chain(repo, m.timeline, start / seg, seg);
  std::uint64_t reach_lsn = (chain.last_contiguous + 1) * seg;
  if (chain.missing) {
    std::uint64_t miss = parse_wal_name(*chain.missing, seg)->segment;
    if (miss <= stop_seg)
      throw Error(ExitCode::failed, fmt::format("backup {} cannot be restored", m.id),
                  fmt::format("WAL segment {} that it needs is missing from the archive", *chain.missing),
                  "run `statectl backup verify`, or pick another backup with --backup");
    bool before_target = o.kind == TargetKind::latest || o.kind == TargetKind::xid || o.kind == TargetKind::name ||
                         (lsn && *lsn >= miss * seg) || (t_us && *t_us > chain.last_contiguous_time_us);
    if (before_target && o.kind != TargetKind::immediate)
      throw Error(ExitCode::failed, fmt::format("cannot reach the target {}: there is a WAL gap before it", describe_target(o)),
                  fmt::format("segment {} is missing from the archive, so recovery from backup {} stops at LSN {} (WAL archived by {})",
                              *chain.missing, m.id, format_lsn(reach_lsn), format_time(chain.last_contiguous_time_us)),
                  fmt::format("restore to --target-lsn {} or an earlier --target-time, or use a backup taken after the gap", format_lsn(reach_lsn)));
    return;
  }
  if (lsn && *lsn >= reach_lsn)
    throw Error(ExitCode::failed, fmt::format("cannot reach the target LSN {}", o.value),
                fmt::format("the archive ends at LSN {} (segment {})", format_lsn(reach_lsn), chain.last_contiguous_name),
                "use --latest, or switch WAL on the source (SELECT pg_switch_wal()) and retry");
  if (t_us && *t_us > chain.last_contiguous_time_us)
    throw Error(ExitCode::failed, fmt::format("cannot reach the target time {}", o.value),
                fmt::format("the newest archived WAL ({}) was archived at {}, before the target", chain.last_contiguous_name,
                            format_time(chain.last_contiguous_time_us)),
                "use --latest, or switch WAL on the source (SELECT pg_switch_wal()) and retry");
}

} // namespace statectl::backup

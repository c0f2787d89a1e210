#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "core/backup/results.h"
#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"

namespace statectl::backup {

// The recovery target of a point-in-time restore.
enum class TargetKind { latest, immediate, time, lsn, xid, name };

struct RestoreOptions {
  std::filesystem::path to;
  std::string backup_id;          // empty or "latest": chosen from the target
  TargetKind kind = TargetKind::latest;
  std::string value;              // the target's text (time, LSN, xid, name)
  std::string action = "promote"; // promote | pause | shutdown
  bool start = false;
  int port = 0;                   // 0: a free port when starting
  std::string statectl_path;      // absolute, for restore_command
  std::chrono::seconds timeout{300};
  bool tty = false;
  bool keep_archiving = false;    // keep archive_mode/synchronous_standby_names of the source
  bool sync = true;               // flush the restored files to disk before returning (--no-sync: not)
  bool delta = false;             // into an existing data directory, keeping the files that match (--delta)
};

// Restores a backup of cfg's repository into options.to (a full one, or a diff/incr with the
// unchanged files taken from the backups it references). Preflight first (exit 2 for an empty
// target directory violation, a target before the oldest backup or a bad target; exit 1 for a
// WAL gap before the target or a target beyond the archive), then unpacks with checksum checks,
// writes restore_command and the recovery target, syncs the directory's filesystem (unless
// options.sync is false), and with start runs PostgreSQL until it
// reaches the target (exit 1 when recovery ends before it). The restored copy never archives
// into the source's repository nor waits for its synchronous standbys unless keep_archiving.
// With delta, `to` may be the data directory of a stopped server (exit 2 while a postmaster.pid
// is there): files whose size and SHA-256 are the backup's stay untouched, the others are
// written, what the backup does not hold is removed, and the result is the one a restore into an
// empty directory gives. Every restore marks the directory as unfinished first (k_restore_marker,
// no global/pg_control) and clears that last; a failed delta restore leaves the mark.
// Returns what was restored and, with start, how far recovery got.
RestoreResult restore(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const RestoreOptions& options);

// Restores a Redis snapshot (newest, or backup_id) as <to>/dump.rdb for a server to load.
RedisRestoreResult restore_redis(const config::Config& cfg, output::Printer& printer, const RestoreOptions& options);

// Stops a PostgreSQL server started on a restored directory (pg_ctl stop -m fast).
void stop_restored(const config::Config& cfg, exec::Runner& runner, const std::filesystem::path& dir);

} // namespace statectl::backup

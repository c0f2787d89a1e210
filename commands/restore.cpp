#include "commands/restore.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands/backup.h"
#include "core/backup/restore.h"
#include "core/error.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::commands {

namespace fs = std::filesystem;

void setup_restore(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string to, backup, time, lsn, xid, name, action = "promote";
    bool latest = false, immediate = false, start = false, keep_archiving = false, no_sync = false, delta = false;
    int port = 0;
    std::string timeout = "5m";
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--to", o->to, "New (absent or empty) data directory, or with --delta an existing one; with --backend redis, the directory for dump.rdb (a cluster backup: one dump-HOST-PORT.rdb per master)")->required();
  sub.add_option("--backup", o->backup, "Backup ID or 'latest' (default: the newest valid backup that ends before the target)");
  auto t_time = sub.add_option("--target-time", o->time, "Recover to this time: 'YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]' (no offset = UTC)");
  auto t_lsn = sub.add_option("--target-lsn", o->lsn, "Recover to this WAL location (e.g. 0/3000060)");
  auto t_xid = sub.add_option("--target-xid", o->xid, "Recover up to and including this transaction id");
  auto t_name = sub.add_option("--target-name", o->name, "Recover to this restore point (pg_create_restore_point); replays from the oldest backup unless --backup");
  auto t_latest = sub.add_flag("--latest", o->latest, "Recover to the end of the archived WAL (the default)");
  auto t_imm = sub.add_flag("--target-immediate", o->immediate, "Stop as soon as the backup is consistent");
  std::vector<CLI::Option*> targets = {t_time, t_lsn, t_xid, t_name, t_latest, t_imm};
  for (auto* a : targets)
    for (auto* b : targets)
      if (a != b) a->excludes(b);
  sub.add_option("--target-action", o->action, "What PostgreSQL does at the target")->check(CLI::IsMember({"promote", "pause", "shutdown"}));
  sub.add_flag("--start", o->start, "Start PostgreSQL on the restored directory and wait until it reaches the target");
  sub.add_option("--port", o->port, "Port for --start (default: a free port)")->check(CLI::Range(1024, 65535));
  sub.add_option("--timeout", o->timeout, "How long --start waits for recovery");
  sub.add_flag("--keep-archiving", o->keep_archiving, "Keep the source's archive_mode and synchronous_standby_names (default: off, so the copy never archives into the source's repository)");
  sub.add_flag("--delta", o->delta, "Restore into the existing data directory of a stopped server: keep the files whose size and SHA-256 match the backup, rewrite the others, remove what the backup does not hold (as pgbackrest restore --delta)");
  sub.add_flag("--no-sync", o->no_sync, "Do not flush the restored files to disk before returning (default: fsync every restored file and directory)");
  sub.footer("A diff or incr backup is restored from its chain: its own files, and the unchanged ones from the backups it\n"
             "references, each checked against its SHA-256.\n"
             "Every target, compose included, restores from the repository into a new directory (or, with --delta, an\n"
             "existing one) on this machine (as pgbackrest restore); --start runs it with this machine's PostgreSQL\n"
             "binaries. WAL the compose containers spooled is imported into the repository first.\n"
             "--delta into an existing data directory ends with the same files as a restore into an empty one. The\n"
             "directory is marked as an unfinished restore (statectl.restore-incomplete, no global/pg_control) until\n"
             "everything is on disk, so an interrupted restore is never started by statectl or PostgreSQL: run it again.\n"
             "Exit codes: 0 restored (and, with --start, the target was reached), 1 a WAL gap before the target, a target beyond\n"
             "the archive, damaged backup files or recovery ended before the target, 2 bad arguments, a non-empty --to (without\n"
             "--delta), a target before the oldest backup, with --delta a directory with a postmaster.pid (a running server) or without\n"
             "PG_VERSION, 4 PostgreSQL failed to start.");
  sub.callback([&ctx, o] {
    backup::RestoreOptions r;
    r.to = util::resolve_path(o->to, fs::current_path());
    r.backup_id = o->backup;
    if (!o->time.empty()) r.kind = backup::TargetKind::time, r.value = o->time;
    else if (!o->lsn.empty()) r.kind = backup::TargetKind::lsn, r.value = o->lsn;
    else if (!o->xid.empty()) r.kind = backup::TargetKind::xid, r.value = o->xid;
    else if (!o->name.empty()) r.kind = backup::TargetKind::name, r.value = o->name;
    else if (o->immediate) r.kind = backup::TargetKind::immediate;
    r.action = o->action;
    r.start = o->start;
    r.port = o->port;
    r.keep_archiving = o->keep_archiving;
    r.sync = !o->no_sync;
    r.delta = o->delta;
    r.statectl_path = self_path();
    r.tty = ctx.stderr_is_tty() && !ctx.printer().quiet();
    auto d = util::parse_duration(o->timeout);
    if (!d) throw Error(ExitCode::usage, fmt::format("invalid --timeout '{}'", o->timeout), d.error());
    r.timeout = std::chrono::duration_cast<std::chrono::seconds>(*d);
    // The text form prints nothing with -q, nor under --dry-run (the plan was the output).
    bool text = !ctx.printer().json();
    if (ctx.backend() == "redis") {
      auto result = backup::restore_redis(ctx.config(), ctx.printer(), r);
      if (!(text && ctx.printer().quiet())) ctx.printer().result(result);
      return;
    }
    auto result = backup::restore(ctx.config(), ctx.runner(), ctx.printer(), r);
    if (!(text && (ctx.printer().quiet() || ctx.globals().dry_run))) ctx.printer().result(result);
  });
}

} // namespace statectl::commands

#include "commands/backup.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/backup/backup.h"
#include "core/backup/metrics.h"
#include "core/backup/repository.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::commands {

namespace fs = std::filesystem;

std::string self_path()
{
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("statectl") : p.string();
}

namespace {

void setup_create(CLI::App& sub, Context& ctx)
{
  auto type = std::make_shared<std::string>("full");
  auto create = sub.add_subcommand("create", "Take a backup: full, diff or incr (pg_basebackup + WAL archive), logical (pg_dump) or, with --backend redis, an RDB snapshot");
  create->add_option("--type", *type, "full: physical base backup for point-in-time restore; diff: only the files changed since the last full; "
                                      "incr: only the files changed since the last full, diff or incr; logical: pg_dump -Fc of [postgres] database")
    ->check(CLI::IsMember({"full", "diff", "incr", "logical"}));
  create->footer("diff and incr stream the whole cluster from pg_basebackup but store only the files whose size or modification time\n"
                 "differ from the prior backup's (or that changed within a second of its start, as pgBackRest decides); the\n"
                 "manifest lists every file with the backup holding its bytes. Without a valid prior backup of the same cluster\n"
                 "they are promoted to a full backup (a warning says so).\n"
                 "The repository is [backup] repo: a folder, or s3://BUCKET/PREFIX (credentials from AWS_ACCESS_KEY_ID /\n"
                 "AWS_SECRET_ACCESS_KEY or the secret store; copied to the 0600 [backup] s3_credentials_file for the archiver).\n"
                 "--target compose: pg_basebackup through the primary's published port; the containers archive WAL\n"
                 "into <state dir>/wal-spool, which every backup command moves into the repository first; --backend redis\n"
                 "fetches the snapshot with redis-cli --rdb from the master the Sentinels report. On a local Redis Cluster\n"
                 "([redis] mode = \"cluster\") one backup holds one RDB per master (dump-HOST-PORT.rdb).\n"
                 "Exit codes: 0 the backup is valid, 1 failed (nothing valid was recorded), 3 server unreachable or the S3\n"
                 "endpoint refused the credentials, 4 pg_basebackup/pg_dump/redis-cli failed, 75 another backup holds the\n"
                 "repository lock.");
  create->callback([&ctx, type] {
    backup::CreateOptions o;
    o.type = ctx.backend() == "redis" ? "redis" : *type;
    o.tty = ctx.stderr_is_tty() && !ctx.printer().quiet();
    auto m = backup::create_backup(ctx.config(), ctx.runner(), ctx.printer(), o);
    if (!m) return;
    backup::BackupEntry e{m->id, true, *m, m->stored_size()};
    if (ctx.printer().quiet() && !ctx.printer().json()) return;
    ctx.printer().result(backup::BackupCreated{backup::backup_row(e)});
  });
}

void setup_backup_list(CLI::App& sub, Context& ctx)
{
  auto list = sub.add_subcommand("list", "List backups: ID, type, status (valid|incomplete), start/stop, size, stored size, LSN range, the backup a diff/incr depends on");
  auto format = std::make_shared<std::string>("text");
  list->add_option("--format", *format, "text, json (same as -o json) or prometheus (the newest backup per type, for the node "
                                        "exporter's textfile collector)")
    ->check(CLI::IsMember({"text", "json", "prometheus"}))
    ->default_str("text");
  list->callback([&ctx, format] {
    auto repo = backup::Repository::from_config(ctx.config());
    if (*format == "prometheus" && !ctx.printer().json()) {
      ctx.printer().out(backup::list_to_prometheus(repo.backups(), backup::now_us()));
      return;
    }
    backup::BackupList result{repo.location(), {}};
    for (const auto& e : repo.backups()) result.backups.push_back(backup::backup_row(e));
    if (*format == "json") ctx.printer().print_json([&](nlohmann::json& doc) { to_json(doc, result); });
    else ctx.printer().result(result);
  });
}

void setup_info(CLI::App& sub, Context& ctx)
{
  auto info = sub.add_subcommand("info", "Oldest and newest recovery point, newest archived WAL, archive lag, last failure");
  info->callback([&ctx] { ctx.printer().result(backup::repository_info(ctx.config())); });
}

void setup_verify(CLI::App& sub, Context& ctx)
{
  auto id = std::make_shared<std::string>();
  auto restore_test = std::make_shared<bool>(false);
  auto deep = std::make_shared<bool>(false);
  auto verify = sub.add_subcommand("verify", "Re-hash every stored file and the WAL each backup needs, check WAL continuity; exit 1 naming what is damaged");
  verify->add_option("ID", *id, "Only this backup (default: every valid backup)");
  verify->add_flag("--deep", *deep, "Also decompress (and decrypt) every backup file and check its content and each data file in it");
  verify->add_flag("--restore-test", *restore_test, "Also restore into a temporary directory, start PostgreSQL on a free port and run a query");
  verify->footer("By default the stored bytes of each backup file are checked against the SHA-256 the manifest recorded when it\n"
                 "was written (damage on disk or in transfer; with [backup] cipher also tampering); --deep also decompresses and\n"
                 "checks the content and every data file's own SHA-256. WAL segments are always decompressed and checked.\n"
                 "The checks run on every CPU.\n"
                 "A diff or incr is damaged too when a backup holding its unchanged files is missing or damaged.\n"
                 "Incomplete (interrupted) backups are listed as INCOMPLETE, never ok. Exit codes: 0 every valid backup is\n"
                 "intact; 1 damage or a WAL gap was found (each named), the ID given is incomplete, no backup is valid, or\n"
                 "there are no backups at all; 2 unknown ID.");
  verify->callback([&ctx, id, restore_test, deep] {
    auto doc = backup::verify_repository(ctx.config(), ctx.runner(), ctx.printer(),
                                         id->empty() ? std::nullopt : std::optional<std::string>(*id), *restore_test, *deep, self_path());
    if (!(doc.ok && ctx.printer().quiet() && !ctx.printer().json())) ctx.printer().result(doc);
    if (!doc.ok) throw Exit(1);
  });
}

void setup_prune(CLI::App& sub, Context& ctx)
{
  auto prune = sub.add_subcommand("prune", "Apply [backup] retention_daily/weekly/monthly: remove other and incomplete backups and WAL no kept backup needs");
  prune->footer("The rules pick among full, diff and incr backups together; a kept diff or incr also keeps the backups it\n"
                 "depends on (\"needed by ID\"), so removing a full removes the diffs and incrs built on it. Archived WAL older\n"
                 "than the start of the oldest kept full, diff or incr is removed; with [backup] wal_retention (e.g. \"30d\"),\n"
                 "kept backups that stopped before that window keep only the WAL from their start to their stop.\n"
                 "A backup whose manifest.json is there but cannot be read (damaged, or sealed with another key) is never\n"
                 "removed, and no WAL is removed while there is one (`backup verify` names it).\n"
                 "With --dry-run: show what each rule keeps and what would be removed; change nothing.");
  prune->callback([&ctx] {
    bool dry = ctx.globals().dry_run;
    auto doc = backup::prune_repository(ctx.config(), dry);
    if (ctx.printer().quiet() && !ctx.printer().json()) return;
    ctx.printer().result(doc);
  });
}

} // namespace

void setup_backup(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  setup_create(sub, ctx);
  setup_backup_list(sub, ctx);
  setup_info(sub, ctx);
  setup_verify(sub, ctx);
  setup_prune(sub, ctx);
}

} // namespace statectl::commands

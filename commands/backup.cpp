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

std::string cell(const nlohmann::json& j, const char* key)
{
  if (!j.contains(key) || j[key].is_null()) return "-";
  if (j[key].is_string()) return j[key].get<std::string>().empty() ? "-" : j[key].get<std::string>();
  return j[key].dump();
}

std::string short_time(const std::string& t) { return t.size() >= 19 ? t.substr(0, 10) + " " + t.substr(11, 8) : (t.empty() ? "-" : t); }

void setup_create(CLI::App& sub, Context& ctx)
{
  auto type = std::make_shared<std::string>("full");
  auto create = sub.add_subcommand("create", "Take a backup: full (pg_basebackup + WAL archive), logical (pg_dump) or, with --backend redis, an RDB snapshot");
  create->add_option("--type", *type, "full: physical base backup for point-in-time restore; logical: pg_dump -Fc of [postgres] database")
    ->check(CLI::IsMember({"full", "logical"}));
  create->footer("Exit codes: 0 the backup is valid, 1 failed (nothing valid was recorded), 3 server unreachable,\n"
                 "4 pg_basebackup/pg_dump failed, 75 another backup holds the repository lock.");
  create->callback([&ctx, type] {
    backup::CreateOptions o;
    o.type = ctx.backend() == "redis" ? "redis" : *type;
    o.tty = ctx.stderr_is_tty() && !ctx.printer().quiet();
    auto m = backup::create_backup(ctx.config(), ctx.runner(), ctx.printer(), o);
    if (!m) return;
    backup::BackupEntry e{m->id, true, *m, {}};
    ctx.printer().result(backup::list_entry_json(e), [&]() -> std::string {
      if (ctx.printer().quiet()) return "";
      std::string range = m->type == "full" ? fmt::format(", WAL {} - {}", m->start_lsn, m->stop_lsn) : "";
      return fmt::format("backup {} ({}) valid: {} stored as {}{}\n", m->id, m->type, util::format_size(m->size()),
                         util::format_size(m->stored_size()), range);
    });
  });
}

void setup_list(CLI::App& sub, Context& ctx)
{
  auto list = sub.add_subcommand("list", "List backups: ID, type, status (valid|incomplete), start/stop, size, stored size, LSN range");
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
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& e : repo.backups()) rows.push_back(backup::list_entry_json(e));
    nlohmann::json doc = {{"repository", repo.root().string()}, {"backups", rows}};
    if (*format == "json" && !ctx.printer().json()) {
      ctx.printer().out(doc.dump(2) + "\n");
      return;
    }
    ctx.printer().result(doc, [&] {
      output::Table t;
      t.headers = {"ID", "TYPE", "STATUS", "START", "STOP", "SIZE", "STORED", "LSN RANGE"};
      for (const auto& r : rows) {
        std::string range = cell(r, "start_lsn") == "-" ? "-" : cell(r, "start_lsn") + " - " + cell(r, "stop_lsn");
        t.rows.push_back({cell(r, "id"), cell(r, "type"), cell(r, "status"), short_time(cell(r, "start_time")), short_time(cell(r, "stop_time")),
                          r["size"].is_null() ? "-" : util::format_size(r["size"].get<std::uint64_t>()),
                          r["stored_size"].is_null() ? "-" : util::format_size(r["stored_size"].get<std::uint64_t>()), range});
      }
      return rows.empty() ? fmt::format("no backups in {}\n", repo.root().string()) : t.render();
    });
  });
}

void setup_info(CLI::App& sub, Context& ctx)
{
  auto info = sub.add_subcommand("info", "Oldest and newest recovery point, newest archived WAL, archive lag, last failure");
  info->callback([&ctx] {
    auto doc = backup::repository_info(ctx.config());
    ctx.printer().result(doc, [&] {
      output::Table t;
      t.headers = {"ITEM", "VALUE"};
      auto add = [&](const std::string& k, const std::string& v) { t.rows.push_back({k, v.empty() ? "-" : v}); };
      add("repository", cell(doc, "repository"));
      add("valid backups", cell(doc, "valid_backups"));
      add("incomplete backups", cell(doc, "incomplete_backups"));
      add("oldest recovery point", cell(doc["oldest_recovery_point"], "time") + " (" + cell(doc["oldest_recovery_point"], "lsn") + ")");
      add("newest recovery point", cell(doc["newest_recovery_point"], "time") + " (" + cell(doc["newest_recovery_point"], "lsn") + ")");
      add("newest archived WAL", cell(doc["newest_archived_wal"], "name") + " at " + cell(doc["newest_archived_wal"], "time"));
      add("archive lag", doc["archive_lag_seconds"].is_null() ? "-" : fmt::format("{}s", doc["archive_lag_seconds"].get<std::int64_t>()));
      add("WAL gap", cell(doc, "wal_gap"));
      add("last failure", doc["last_failure"].is_null() ? "-" : cell(doc["last_failure"], "time") + " " + cell(doc["last_failure"], "message"));
      return t.render();
    });
  });
}

void setup_verify(CLI::App& sub, Context& ctx)
{
  auto id = std::make_shared<std::string>();
  auto restore_test = std::make_shared<bool>(false);
  auto verify = sub.add_subcommand("verify", "Re-hash every stored file and the WAL each backup needs, check WAL continuity; exit 1 naming what is damaged");
  verify->add_option("ID", *id, "Only this backup (default: every valid backup)");
  verify->add_flag("--restore-test", *restore_test, "Also restore into a temporary directory, start PostgreSQL on a free port and run a query");
  verify->footer("Incomplete (interrupted) backups are listed as INCOMPLETE, never ok. Exit codes: 0 every valid backup is\n"
                 "intact; 1 damage or a WAL gap was found (each named), the ID given is incomplete, no backup is valid, or\n"
                 "there are no backups at all; 2 unknown ID.");
  verify->callback([&ctx, id, restore_test] {
    auto doc = backup::verify_repository(ctx.config(), ctx.runner(), ctx.printer(),
                                         id->empty() ? std::nullopt : std::optional<std::string>(*id), *restore_test, self_path());
    ctx.printer().result(doc, [&]() -> std::string {
      std::string text;
      for (const auto& b : doc["backups"])
        text += fmt::format("{}  {}\n", b["id"].get<std::string>(),
                            b["ok"].get<bool>() ? "ok" : b["status"] == "incomplete" ? "INCOMPLETE" : "DAMAGED");
      for (const auto& p : doc["problems"]) text += fmt::format("damaged: {}\n", p.get<std::string>());
      if (doc["valid_backups"] == 0)
        text += fmt::format("no valid backup: {} incomplete (interrupted) backup(s) and nothing to restore from; "
                            "run `statectl backup create`\n", doc["incomplete_backups"].get<int>());
      if (doc.contains("restore_test") && !doc["restore_test"].is_null())
        text += fmt::format("restore test: {}\n", cell(doc["restore_test"], "summary"));
      if (doc["ok"].get<bool>() && ctx.printer().quiet()) return "";
      return text;
    });
    if (!doc["ok"].get<bool>()) throw Exit(1);
  });
}

void setup_prune(CLI::App& sub, Context& ctx)
{
  auto prune = sub.add_subcommand("prune", "Apply [backup] retention_daily/weekly/monthly: remove other and incomplete backups and WAL no kept backup needs");
  prune->footer("With --dry-run: show what each rule keeps and what would be removed; change nothing.");
  prune->callback([&ctx] {
    bool dry = ctx.globals().dry_run;
    auto doc = backup::prune_repository(ctx.config(), dry);
    ctx.printer().result(doc, [&]() -> std::string {
      if (ctx.printer().quiet()) return "";
      output::Table t;
      t.headers = {"ID", "TYPE", "ACTION", "WHY"};
      for (const auto& b : doc["backups"])
        t.rows.push_back({b["id"].get<std::string>(), cell(b, "type"), b["action"].get<std::string>(), cell(b, "reason")});
      return t.render() + fmt::format("{}{} WAL files ({}) {}\n", dry ? "dry run: " : "", doc["wal_removed"].get<std::size_t>(),
                                      util::format_size(doc["wal_removed_bytes"].get<std::uint64_t>()), dry ? "would be removed" : "removed");
    });
  });
}

} // namespace

void setup_backup(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  setup_create(sub, ctx);
  setup_list(sub, ctx);
  setup_info(sub, ctx);
  setup_verify(sub, ctx);
  setup_prune(sub, ctx);
}

} // namespace statectl::commands

// JSON and text forms of the backup results. JSON keys are the contract of `-o json` (CLI.md);
// the text forms are what the commands printed before the results had types.
#include "core/backup/results.h"

#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/backup/repository.h"
#include "core/backup/wal.h"
#include "core/output/printer.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

namespace {

template <class T>
nlohmann::json or_null(const std::optional<T>& v)
{
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// A table cell: "-" for an absent or empty value.
std::string cell(const std::optional<std::string>& v) { return v && !v->empty() ? *v : "-"; }

std::string short_time(const std::string& t) { return t.size() >= 19 ? t.substr(0, 10) + " " + t.substr(11, 8) : (t.empty() ? "-" : t); }

} // namespace

BackupRow backup_row(const BackupEntry& e)
{
  BackupRow r;
  r.id = e.id;
  r.status = e.valid ? "valid" : "incomplete";
  if (!e.manifest) {
    // An incomplete backup only has its objects: report what they take.
    r.stored_size = e.stored_bytes;
    char kind = e.id.empty() ? '?' : e.id.back();
    r.type = kind == 'F' ? "full" : kind == 'D' ? "diff" : kind == 'I' ? "incr" : kind == 'L' ? "logical" : kind == 'R' ? "redis" : "unknown";
    return r;
  }
  const auto& m = *e.manifest;
  auto opt = [](const std::string& s) { return s.empty() ? std::nullopt : std::optional<std::string>(s); };
  r.type = m.type;
  r.start_time = m.start_time;
  r.stop_time = m.stop_time;
  r.size = m.size();
  r.stored_size = m.stored_size();
  r.start_lsn = opt(m.start_lsn);
  r.stop_lsn = opt(m.stop_lsn);
  if (is_physical(m.type)) {
    r.timeline = m.timeline;
    r.database_size = m.database_size();
  }
  if (!m.prior.empty()) r.depends_on = m.prior;
  r.references = m.references;
  return r;
}

void to_json(nlohmann::json& j, const BackupRow& r)
{
  j = {{"id", r.id},
       {"status", r.status},
       {"type", r.type},
       {"start_time", or_null(r.start_time)},
       {"stop_time", or_null(r.stop_time)},
       {"size", or_null(r.size)},
       {"stored_size", r.stored_size},
       {"start_lsn", or_null(r.start_lsn)},
       {"stop_lsn", or_null(r.stop_lsn)},
       {"timeline", or_null(r.timeline)},
       {"depends_on", or_null(r.depends_on)},
       {"references", r.references},
       {"database_size", or_null(r.database_size)}};
}

void to_json(nlohmann::json& j, const BackupList& r)
{
  j = {{"repository", r.repository}, {"backups", r.backups}};
}

std::string to_text(const BackupList& r)
{
  if (r.backups.empty()) return fmt::format("no backups in {}\n", r.repository);
  output::Table t;
  t.headers = {"ID", "TYPE", "STATUS", "START", "STOP", "SIZE", "STORED", "LSN RANGE", "DEPENDS ON"};
  for (const auto& b : r.backups) {
    std::string range = cell(b.start_lsn) == "-" ? "-" : cell(b.start_lsn) + " - " + cell(b.stop_lsn);
    t.rows.push_back({b.id, b.type, b.status, short_time(cell(b.start_time)), short_time(cell(b.stop_time)),
                      b.size ? util::format_size(*b.size) : "-", util::format_size(b.stored_size), range, cell(b.depends_on)});
  }
  return t.render();
}

void to_json(nlohmann::json& j, const BackupCreated& r) { to_json(j, r.backup); }

std::string to_text(const BackupCreated& r)
{
  const auto& b = r.backup;
  std::string range = b.timeline ? fmt::format(", WAL {} - {}", b.start_lsn.value_or(""), b.stop_lsn.value_or("")) : "";
  std::string base = b.depends_on ? fmt::format(" of a {} cluster, unchanged files in {}", util::format_size(b.database_size.value_or(0)),
                                                util::join(b.references, ", "))
                                  : "";
  return fmt::format("backup {} ({}) valid: {} stored as {}{}{}\n", b.id, b.type, util::format_size(b.size.value_or(0)),
                     util::format_size(b.stored_size), base, range);
}

void to_json(nlohmann::json& j, const RepositoryInfo& r)
{
  auto point = [](const std::optional<RecoveryPoint>& p) {
    if (!p) return nlohmann::json(nullptr);
    nlohmann::json o = {{"backup", p->backup}, {"time", p->time}, {"lsn", p->lsn}};
    if (p->timeline) o["timeline"] = *p->timeline;
    return o;
  };
  j = {{"repository", r.repository},
       {"valid_backups", r.valid_backups},
       {"incomplete_backups", r.incomplete_backups},
       {"oldest_recovery_point", point(r.oldest_recovery_point)},
       {"newest_recovery_point", point(r.newest_recovery_point)},
       {"newest_archived_wal", r.newest_archived_wal ? nlohmann::json{{"name", r.newest_archived_wal->name}, {"time", r.newest_archived_wal->time}}
                                                     : nlohmann::json(nullptr)},
       {"archive_lag_seconds", or_null(r.archive_lag_seconds)},
       {"archive_lag_bytes", or_null(r.archive_lag_bytes)},
       {"wal_gap", or_null(r.wal_gap)},
       {"last_failure", r.last_failure ? nlohmann::json{{"time", r.last_failure->time}, {"message", r.last_failure->message}}
                                       : nlohmann::json(nullptr)}};
}

std::string to_text(const RepositoryInfo& r)
{
  output::Table t;
  t.headers = {"ITEM", "VALUE"};
  auto add = [&](const std::string& k, const std::string& v) { t.rows.push_back({k, v.empty() ? "-" : v}); };
  auto point = [](const std::optional<RecoveryPoint>& p) {
    return p ? fmt::format("{} ({})", p->time.empty() ? "-" : p->time, p->lsn.empty() ? "-" : p->lsn) : "- (-)";
  };
  add("repository", r.repository);
  add("valid backups", std::to_string(r.valid_backups));
  add("incomplete backups", std::to_string(r.incomplete_backups));
  add("oldest recovery point", point(r.oldest_recovery_point));
  add("newest recovery point", point(r.newest_recovery_point));
  add("newest archived WAL", r.newest_archived_wal ? r.newest_archived_wal->name + " at " + r.newest_archived_wal->time : "- at -");
  add("archive lag", r.archive_lag_seconds ? fmt::format("{}s", *r.archive_lag_seconds) : "-");
  add("WAL gap", cell(r.wal_gap));
  add("last failure", r.last_failure ? cell(r.last_failure->time) + " " + cell(r.last_failure->message) : "-");
  return t.render();
}

void to_json(nlohmann::json& j, const VerifyReport& r)
{
  nlohmann::json backups = nlohmann::json::array();
  for (const auto& b : r.backups) backups.push_back({{"id", b.id}, {"status", b.status}, {"ok", b.ok}, {"problems", b.problems}});
  nlohmann::json test = nullptr;
  if (r.restore_test) {
    const auto& t = *r.restore_test;
    test = {{"ok", t.ok}, {"summary", t.summary}};
    if (t.backup) test["backup"] = *t.backup;
    if (t.port) test["port"] = *t.port;
    if (t.query) test["query"] = *t.query;
  }
  j = {{"repository", r.repository},
       {"backups", backups},
       {"problems", r.problems},
       {"restore_test", test},
       {"valid_backups", r.valid_backups},
       {"incomplete_backups", r.incomplete_backups},
       {"ok", r.ok}};
}

std::string to_text(const VerifyReport& r)
{
  std::string text;
  for (const auto& b : r.backups) text += fmt::format("{}  {}\n", b.id, b.ok ? "ok" : b.status == "incomplete" ? "INCOMPLETE" : "DAMAGED");
  for (const auto& p : r.problems) text += fmt::format("damaged: {}\n", p);
  if (r.valid_backups == 0)
    text += fmt::format("no valid backup: {} incomplete (interrupted) backup(s) and nothing to restore from; "
                        "run `statectl backup create`\n", r.incomplete_backups);
  if (r.restore_test) text += fmt::format("restore test: {}\n", r.restore_test->summary.empty() ? "-" : r.restore_test->summary);
  return text;
}

void to_json(nlohmann::json& j, const PruneReport& r)
{
  nlohmann::json backups = nlohmann::json::array();
  for (const auto& b : r.backups)
    backups.push_back({{"id", b.id}, {"type", b.type}, {"action", b.action}, {"reason", b.reason}, {"kept_by", b.kept_by}});
  j = {{"dry_run", r.dry_run},
       {"rules", {{"daily", r.daily}, {"weekly", r.weekly}, {"monthly", r.monthly}}},
       {"backups", backups},
       {"wal_kept_from", or_null(r.wal_kept_from)},
       {"wal_consistency_only", r.wal_consistency_only},
       {"wal_removed", r.wal_removed_names.size()},
       {"wal_removed_bytes", r.wal_removed_bytes},
       {"wal_removed_names", r.wal_removed_names}};
}

std::string to_text(const PruneReport& r)
{
  output::Table t;
  t.headers = {"ID", "TYPE", "ACTION", "WHY"};
  for (const auto& b : r.backups) t.rows.push_back({b.id, b.type.empty() ? "-" : b.type, b.action, b.reason.empty() ? "-" : b.reason});
  std::string out = t.render() + fmt::format("{}{} WAL files ({}) {}\n", r.dry_run ? "dry run: " : "", r.wal_removed_names.size(),
                                              util::format_size(r.wal_removed_bytes), r.dry_run ? "would be removed" : "removed");
  if (!r.wal_consistency_only.empty())
    out += fmt::format("before the wal_retention window only the WAL that makes them consistent is kept for {}\n", util::join(r.wal_consistency_only, ", "));
  return out;
}

void to_json(nlohmann::json& j, const RestoreResult& r)
{
  j = {{"backup", r.backup},
       {"target", r.target},
       {"target_action", r.target_action},
       {"data_directory", r.data_directory},
       {"port", or_null(r.port)},
       {"started", r.started}};
  if (r.restore_command) j["restore_command"] = *r.restore_command;
  if (const auto& d = r.delta)
    j["delta"] = {{"files_kept", d->files_kept}, {"files_written", d->files_written}, {"entries_removed", d->entries_removed},
                  {"archives_skipped", d->archives_skipped}};
  if (const auto& o = r.recovery) {
    j["state"] = o->state;
    j["reached_lsn"] = or_null(o->reached_lsn);
    j["recovery_stop"] = or_null(o->recovery_stop);
    j["last_transaction_time"] = or_null(o->last_transaction_time);
    j["timeline"] = o->timeline;
    j["query_result"] = o->query_result;
    j["log"] = o->log;
  }
}

std::string to_text(const RestoreResult& r)
{
  std::string text = fmt::format("restored backup {} into {} (target {})\n", r.backup, r.data_directory, r.target);
  if (const auto& d = r.delta)
    text += fmt::format("delta: {} files kept, {} written, {} removed\n", d->files_kept, d->files_written, d->entries_removed);
  if (!r.recovery) return text + fmt::format("start it with: pg_ctl -D {} start\n", r.data_directory);
  const auto& o = *r.recovery;
  text += o.state;
  if (o.reached_lsn) text += fmt::format(" at LSN {}", *o.reached_lsn);
  if (o.recovery_stop) text += fmt::format(" ({})", *o.recovery_stop);
  text += "\n";
  if (r.started) {
    std::string port = r.port ? std::to_string(*r.port) : "null";
    text += fmt::format("PostgreSQL is running on port {}: statectl psql --direct --port {}\n", port, port);
  }
  return text;
}

void to_json(nlohmann::json& j, const RedisRestoreResult& r)
{
  j = {{"backup", r.backup}, {"path", r.path}, {"size", r.size}, {"sha256", r.sha256}};
}

std::string to_text(const RedisRestoreResult& r) { return fmt::format("restored Redis backup {} to {}\n", r.backup, r.path); }

void to_json(nlohmann::json& j, const PushResult& r)
{
  j = {{"name", r.name}, {"already_archived", r.already_archived}, {"size", r.stats.raw_size},
       {"stored_size", r.stats.stored_size}, {"sha256", r.stats.raw_sha256}, {"path", r.stored}};
}

std::string to_text(const PushResult& r)
{
  if (r.already_archived) return fmt::format("{} already archived with the same content\n", r.name);
  return fmt::format("archived {} ({} -> {})\n", r.name, util::format_size(r.stats.raw_size), util::format_size(r.stats.stored_size));
}

void to_json(nlohmann::json& j, const WalFetched& r) { j = {{"name", r.name}, {"dest", r.dest}}; }

std::string to_text(const WalFetched&) { return {}; }

} // namespace statectl::backup

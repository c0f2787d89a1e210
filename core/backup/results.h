#pragma once

// The results of the backup commands (create, list, info, verify, prune, restore): each is one
// value built by core/backup and rendered by the printer as JSON (to_json, stable snake_case
// keys) or text (to_text).

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace statectl::backup {

struct BackupEntry;
struct PushResult;

// One backup as `backup list` shows it. An incomplete backup has only its id, type (from the
// id's suffix), status and the bytes on disk; the other fields are null.
struct BackupRow {
  std::string id;
  std::string type;
  std::string status; // valid | incomplete | damaged (a manifest that cannot be read)
  std::optional<std::string> start_time, stop_time;
  std::optional<std::uint64_t> size;
  std::uint64_t stored_size = 0;
  std::optional<std::string> start_lsn, stop_lsn;
  std::optional<std::uint32_t> timeline; // physical backups only
  std::optional<std::string> depends_on;  // diff/incr: the prior backup it was taken against
  std::vector<std::string> references;    // diff/incr: the backups holding its unchanged files
  std::optional<std::uint64_t> database_size; // physical: raw bytes of the whole cluster it restores
};

// The row of one backup directory (reads the directory of an incomplete one for its size).
BackupRow backup_row(const BackupEntry& e);

// `backup list`: every backup of the repository, oldest first.
struct BackupList {
  std::string repository;
  std::vector<BackupRow> backups;
};

// `backup create`: the backup that was taken (JSON: its row; text: one sentence).
struct BackupCreated {
  BackupRow backup;
};

// A point the repository can restore to.
struct RecoveryPoint {
  std::string backup;
  std::string time;
  std::string lsn;
  std::optional<std::uint32_t> timeline; // the newest point's timeline (absent for the oldest)
};

// A WAL segment name and when it was archived.
struct ArchivedWal {
  std::string name;
  std::string time;
};

// The last failure recorded by a backup or reported by PostgreSQL's archiver.
struct BackupFailure {
  std::string time;
  std::string message;
};

// `backup info`: what the repository can restore and how far the archive is behind.
struct RepositoryInfo {
  std::string repository;
  int valid_backups = 0;
  int incomplete_backups = 0;
  std::optional<RecoveryPoint> oldest_recovery_point, newest_recovery_point;
  std::optional<ArchivedWal> newest_archived_wal;
  std::optional<std::int64_t> archive_lag_seconds;
  std::optional<std::uint64_t> archive_lag_bytes;
  std::optional<std::string> wal_gap; // the first missing segment after the newest full backup
  std::optional<BackupFailure> last_failure;
};

// One backup checked by `backup verify`.
struct VerifiedBackup {
  std::string id;
  std::string status; // valid | incomplete | damaged (a manifest that cannot be read)
  bool ok = true;
  std::vector<std::string> problems;
};

// The restore test of `backup verify --restore-test`.
struct RestoreTest {
  bool ok = false;
  std::optional<std::string> backup; // absent when there was no intact full backup
  std::optional<int> port;           // set when the restore succeeded
  std::optional<std::string> query;  // the test query's result, when the restore succeeded
  std::string summary;
};

// `backup verify`: each backup's problems and all of them together; ok is false when any.
struct VerifyReport {
  std::string repository;
  std::vector<VerifiedBackup> backups;
  std::vector<std::string> problems;
  std::optional<RestoreTest> restore_test;
  int valid_backups = 0;
  int incomplete_backups = 0; // interrupted: INCOMPLETE, never ok
  bool ok = true;
};

// What `backup prune` does with one backup, and why.
struct PruneDecision {
  std::string id;
  std::string type;
  std::string action; // keep | remove
  std::string reason;
  std::vector<std::string> kept_by; // the retention rules that keep it
};

// `backup prune`: the rules, each backup's decision and the WAL no kept backup needs.
struct PruneReport {
  bool dry_run = false;
  int daily = 0, weekly = 0, monthly = 0;
  std::vector<PruneDecision> backups;
  std::optional<std::string> wal_kept_from;
  std::vector<std::string> wal_consistency_only; // kept backups before the wal_retention window: only their own WAL
  std::vector<std::string> wal_removed_names;
  std::uint64_t wal_removed_bytes = 0;
};

// How far `restore --start` got: the state PostgreSQL reached and where.
struct RecoveryOutcome {
  std::string state; // promoted | paused at the target | shut down at the target
  std::optional<std::string> reached_lsn, recovery_stop, last_transaction_time;
  std::uint32_t timeline = 0;
  std::string query_result;
  std::string log;
};

// `restore` of a PostgreSQL backup: what was restored where, and with --start how far
// recovery got.
// What `restore --delta` did to the existing data directory.
struct DeltaSummary {
  std::uint64_t files_kept = 0;       // size and SHA-256 matched the backup: not written
  std::uint64_t files_written = 0;    // absent or different: written from the backup
  std::uint64_t entries_removed = 0;  // files that differed, and what the backup does not hold
  std::uint64_t archives_skipped = 0; // referenced backups not read: every file taken from them was kept
};

struct RestoreResult {
  std::string backup;
  std::string target;        // "latest", "time 2026-...", ...
  std::string target_action; // promote | pause | shutdown
  std::string data_directory;
  std::optional<int> port;
  bool started = false;
  std::optional<std::string> restore_command; // set once the files are in place (not under --dry-run)
  std::optional<RecoveryOutcome> recovery;    // with --start
  std::optional<DeltaSummary> delta;          // with --delta into an existing data directory
};

// `restore --backend redis`: the snapshot written as <to>/dump.rdb.
struct RedisRestoreResult {
  std::string backup;
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;
};

// `wal fetch`: the file restored (text: nothing, as restore_command wants).
struct WalFetched {
  std::string name;
  std::string dest;
};

void to_json(nlohmann::json& j, const BackupRow& r);
void to_json(nlohmann::json& j, const BackupList& r);
void to_json(nlohmann::json& j, const BackupCreated& r);
void to_json(nlohmann::json& j, const RepositoryInfo& r);
void to_json(nlohmann::json& j, const VerifyReport& r);
void to_json(nlohmann::json& j, const PruneReport& r);
void to_json(nlohmann::json& j, const RestoreResult& r);
void to_json(nlohmann::json& j, const RedisRestoreResult& r);
void to_json(nlohmann::json& j, const PushResult& r);
void to_json(nlohmann::json& j, const WalFetched& r);

// The aligned table of `backup list` ("no backups in DIR" when empty).
std::string to_text(const BackupList& r);
// `wal push`: "archived NAME (SIZE -> SIZE)" or "NAME already archived with the same content".
std::string to_text(const PushResult& r);
// Nothing.
std::string to_text(const WalFetched& r);
// "backup ID (TYPE) valid: SIZE stored as SIZE, WAL A - B".
std::string to_text(const BackupCreated& r);
// The ITEM / VALUE table of `backup info`.
std::string to_text(const RepositoryInfo& r);
// One "ID  ok|DAMAGED|INCOMPLETE" line per backup, then "damaged: ..." lines, a line when no
// backup is valid, and the restore test.
std::string to_text(const VerifyReport& r);
// The ID / TYPE / ACTION / WHY table and the WAL summary line.
std::string to_text(const PruneReport& r);
// What was restored, the state reached with --start and how to connect or start it.
std::string to_text(const RestoreResult& r);
// "restored Redis backup ID to PATH".
std::string to_text(const RedisRestoreResult& r);

} // namespace statectl::backup

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/backup/storage.h"
#include "core/backup/stream.h"
#include "core/config/config_fwd.h"

namespace statectl::backup {

// A PostgreSQL log sequence number ("16/B374D848" <-> 0x16B374D848).
std::optional<std::uint64_t> parse_lsn(std::string_view text);
std::string format_lsn(std::uint64_t lsn);

// The name of the WAL segment holding lsn ("000000010000000000000003").
std::string wal_segment_name(std::uint32_t timeline, std::uint64_t lsn, std::uint64_t segment_size);

// A parsed WAL file name: a segment, a .partial segment, a .history or a .backup file.
struct WalName {
  std::uint32_t timeline = 0;
  std::uint64_t segment = 0; // log * (4 GiB / segment size) + seg, in segment_size units
  enum class Kind { segment, partial, history, backup } kind = Kind::segment;
};
std::optional<WalName> parse_wal_name(std::string_view name, std::uint64_t segment_size = 16 * 1024 * 1024);

// Timestamps in the repository are UTC ISO 8601 with microseconds ("2026-11-22T03:35:27.123456Z").
std::string format_time(std::int64_t epoch_us);
// Reads "2026-11-22 03:35:27[.ffffff][Z|+HH|+HH:MM|+HHMM]" (T or space); no offset means UTC.
std::optional<std::int64_t> parse_time(std::string_view text);
std::int64_t now_us();

// One file of a backup set as stored in the repository.
struct StoredFile {
  std::string name;          // "base.tar.zst"
  std::uint64_t size = 0;    // raw bytes
  std::uint64_t stored_size = 0;
  std::string sha256;        // of the raw bytes
  std::string stored_sha256; // of the bytes on disk
  // Where its independent zstd frames start (core/backup/stream.h), ending with the size mark;
  // empty for a file written as one frame (backups made before statectl wrote the index).
  std::vector<FrameMark> frames;
};

// One regular file of the data directory as a physical backup saw it. Its bytes are in the
// base.tar.zst of the backup that holds them: this backup when reference is empty, else the
// (older) backup named by reference, whose manifest lists the same file with the same size and
// SHA-256 and an empty reference.
struct ContentFile {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;
  std::int64_t mtime = 0; // seconds since the epoch, from the tar header
  std::string reference;  // the backup holding the bytes; empty: this one
  // Where its bytes start in the raw tar stream of this backup's base.tar.zst (when reference is
  // empty); -1 when unknown (a backup made before statectl recorded it).
  std::int64_t offset = -1;
};

// A directory or symbolic link of the data directory as a physical backup saw it.
struct TreeEntry {
  std::string path; // as the tar member names it
  char type = '5';  // '5' directory, '2' symbolic link
  std::string link_target;
};

// True for the backups of a whole cluster (full, diff, incr), as opposed to logical and redis.
bool is_physical(const std::string& type);

// manifest.json of a backup set. A backup is valid only once this file is in place.
struct Manifest {
  std::string id;
  std::string type; // full | diff | incr | logical | redis
  std::string prior; // diff/incr: the backup it was compared with (diff: the last full; incr: the last backup)
  std::vector<std::string> references; // diff/incr: the older backups holding some of its files
  std::string start_time, stop_time; // format_time()
  std::string start_lsn, stop_lsn;   // full only
  std::string start_wal, stop_wal;   // first and last segment the backup needs
  std::uint32_t timeline = 0;
  std::string system_identifier;
  std::string pg_version;
  std::uint64_t wal_segment_size = 16 * 1024 * 1024;
  std::uint64_t start_xid = 0, stop_xid = 0; // next transaction id before and after the backup
  std::string database;              // logical
  std::string compression = "zstd";
  int compress_level = 3;
  std::vector<StoredFile> files;
  std::vector<ContentFile> contents;
  // Every directory and symbolic link of its own base.tar.zst, in archive order; nullopt for a
  // backup made before statectl recorded them (a restore then reads them from the archive).
  std::optional<std::vector<TreeEntry>> tree;
  // Raw and stored bytes of this backup's own files (for a diff/incr: only what changed).
  std::uint64_t size() const;
  std::uint64_t stored_size() const;
  // The raw bytes of the whole cluster the backup restores (every content file, wherever held).
  std::uint64_t database_size() const;

  nlohmann::json to_json() const;
  static Manifest from_json(const nlohmann::json& j);
};

// What `backup list` shows for each backup directory.
struct BackupEntry {
  std::string id;
  bool valid = false;        // the manifest is in place
  std::optional<Manifest> manifest;
  std::uint64_t stored_bytes = 0; // what the backup's objects take in the repository
  std::string problem;            // why a stored manifest.json cannot be read (tampered, wrong key)
};

class Storage;

// The repository layout: backups/<ID>/{manifest.json,...}, wal/<TIMELINE>/<NAME>-<SHA256>.zst,
// lock, last_failure.json, as keys of a Storage (a local folder or S3-compatible object
// storage). Keys only; the work is in the other core/backup files.
class Repository {
public:
  // A repository in a local folder (owner: see LocalStorage).
  explicit Repository(std::filesystem::path root, std::string owner = {});
  explicit Repository(std::shared_ptr<Storage> storage);
  // [backup] repo (a folder or s3://...), else <state dir>/backups; owner is [local] run_as when
  // statectl runs as root.
  static Repository from_config(const config::Config& cfg);
  // The repository at location (a folder, or s3://... with cfg's S3 settings and credentials).
  static Repository at(const config::Config& cfg, const std::string& location);

  // The repository as users name it ("/srv/backups", "s3://bucket/prefix").
  std::string location() const;
  // The local folder of a local repository; empty for object storage.
  std::filesystem::path root() const;
  Storage& storage() const { return *m_storage; }

  // True when [backup] cipher is aes-256-gcm.
  bool encrypted() const { return m_cipher; }
  // The 32-byte AES-256-GCM key of an encrypted repository (empty when not encrypted). Throws
  // Error(usage) when the key is needed and neither the secret store nor the key file has it.
  const std::string& cipher_key() const;

  static std::string backup_key(const std::string& id, const std::string& file) { return "backups/" + id + "/" + file; }
  static std::string timeline_key(std::uint32_t tl);

  // Makes the repository usable (creates the folder; checks the bucket and the credentials).
  void ensure() const;

  // Every backup, oldest first (IDs sort by time); valid once its manifest.json is stored.
  std::vector<BackupEntry> backups() const;
  // True when anything is stored under backups/<id>/.
  bool has_backup(const std::string& id) const;
  // The manifest; nullopt when absent or unreadable (then *problem says why, when given).
  std::optional<Manifest> manifest(const std::string& id, std::string* problem = nullptr) const;
  void write_manifest(const Manifest& m) const;
  // Removes a backup, its manifest first so that it is never listed as valid half-removed.
  void remove_backup(const std::string& id) const;

  // The archived object of a WAL name ("wal/<TL>/<name>-<sha>.zst"), if present.
  std::optional<ObjectInfo> find_wal(const std::string& name) const;
  // Every archived object of a timeline (segments, .partial, .history, .backup).
  std::vector<ObjectInfo> wal_objects(std::uint32_t tl) const;
  // Every archived WAL name of a timeline (segments only), sorted.
  std::vector<std::string> wal_segments(std::uint32_t tl) const;
  // Every archived WAL segment of every timeline, by name, with its object: one listing per
  // timeline instead of one find_wal() per segment.
  std::map<std::string, ObjectInfo> archived_segments() const;
  std::vector<std::uint32_t> timelines() const;

  void record_failure(const std::string& what) const;
  std::optional<nlohmann::json> last_failure() const;

private:
  std::shared_ptr<Storage> m_storage;
  bool m_cipher = false;
  mutable std::string m_key;
  std::function<std::string(bool generate)> m_key_source;
};

// An exclusive lock on the repository (flock on its Storage::lock_path()), released when destroyed or when
// the process dies. Throws Error(lock_timeout, exit 75) naming the holder when it is held.
class RepoLock {
public:
  RepoLock(const Repository& repo, const std::string& purpose);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

private:
  int m_fd = -1;
};

} // namespace statectl::backup

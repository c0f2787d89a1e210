#pragma once

// What the backup kinds of `backup create` share (core/backup/create.cpp and physical.cpp):
// tool lookup, backup IDs, the cleanup of a failed backup and the compressed writer.

#include <filesystem>
#include <string>

#include "core/backup/backup.h"
#include "core/backup/pg.h"
#include "core/backup/repository.h"
#include "core/backup/stream.h"
#include "core/config/config_fwd.h"

namespace statectl::backup {

// The path of a PostgreSQL program in [postgres] bin_dir, else its bare name (found on PATH).
std::string pg_tool(const config::Config& cfg, const std::string& name);

// A new backup ID that sorts by time: 20261122-033512 and a kind letter (F full, D diff,
// I incr, L logical, R redis). Waits for the next second while a backup of any kind has this
// second, so that IDs sort in the order the backups were made.
std::string new_backup_id(const Repository& repo, char kind);

// The server's clock in microseconds since the epoch (the repository's times are the server's).
std::int64_t db_now_us(PgSession& s);

// Removes a backup's objects unless disarmed: a failed backup leaves nothing behind.
struct Cleanup {
  const Repository& repo;
  std::string id;
  bool armed = true;
  ~Cleanup();
};

// Streams a backup file through zstd (and the cipher) to the storage's staging path; finish()
// publishes it and returns its manifest entry (with its frame index when frame_size is set).
struct StoredWriter {
  const Repository& repo;
  std::string key;
  std::filesystem::path staged;
  ZstdFileWriter out;
  StoredWriter(const Repository& r, const std::string& id, const std::string& name, int level, int threads, std::uint64_t frame_size = 0);
  StoredFile finish();
};

// Raw bytes per independent zstd frame of a physical backup's base.tar.zst: restore --delta
// decompresses only the frames holding the files it writes (bench/backup.sh measures what the
// frames cost in stored size and backup time).
inline constexpr std::uint64_t k_base_frame_size = 8u << 20;

// backup create --type full|diff|incr (core/backup/physical.cpp). A diff or incr without a valid
// prior backup of the same cluster is promoted to a full one, with a warning.
Manifest create_physical(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const CreateOptions& o,
                         const Repository& repo);

} // namespace statectl::backup

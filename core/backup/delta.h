#pragma once

// restore --delta (as pgBackRest's): which files of an existing data directory are kept, which
// are rewritten from the backup and which are removed, and the marker that shows a restore in
// progress.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/backup/repository.h"

namespace statectl::backup {

// The file a restore writes into the data directory before changing anything and removes after
// everything else is durable: a directory holding it is an unfinished restore, which statectl
// refuses to start (and PostgreSQL too: global/pg_control is only renamed into place last).
inline constexpr const char* k_restore_marker = "statectl.restore-incomplete";

// The name under which a restore writes global/pg_control until the rest is on disk.
inline constexpr const char* k_pg_control_staged = "global/pg_control.statectl-restore";

// True when dir holds the marker of an unfinished restore.
bool restore_incomplete(const std::filesystem::path& dir);

// One entry of an existing data directory: its path relative to the directory ('/'-separated),
// what it is (symbolic links are not followed) and, for a regular file, its size and mode.
struct ExistingEntry {
  enum class Kind { file, directory, symlink, other };
  std::string path;
  Kind kind = Kind::file;
  std::uint64_t size = 0;
  unsigned mode = 0;
};

// Every entry under dir, parents before their children, without the restore's own marker and
// staged pg_control. Throws Error(failed) when dir cannot be read.
std::vector<ExistingEntry> scan_data_dir(const std::filesystem::path& dir);

// What a delta restore does to the files of an existing data directory before unpacking.
struct DeltaPlan {
  // Regular files with the backup's size and SHA-256: not written again.
  std::vector<std::string> keep;
  // Entries removed before unpacking (each also an entry of the scan, never one below another
  // one listed): regular files the backup does not hold or holds with other bytes, and whatever
  // is not a regular file where the backup has one.
  std::vector<std::string> remove;
  // The backup's files that are written (absent, removed as different, or global/pg_control).
  std::vector<std::string> write;
  std::uint64_t kept_bytes = 0;
  std::uint64_t hashed_files = 0;
};

// Plans a delta restore of a backup listing contents onto the existing entries. A regular file
// of the same path and size is hashed with sha256_of(path) (called from up to `workers` threads
// at once) and kept when its SHA-256 is the manifest's; global/pg_control is never kept (it is
// written last). Directories, symbolic links and files the backup does not list stay for
// sweep_strays(), except regular files, which are removed here.
DeltaPlan plan_delta(const std::vector<ContentFile>& contents, const std::vector<ExistingEntry>& existing,
                     const std::function<std::string(const std::string& path)>& sha256_of, unsigned workers);

// The entries (from a scan after unpacking) that a fresh restore would not have: not a file of
// contents and not one of the directories and symbolic links in `expected`. Only the topmost of
// a removed tree is listed.
std::vector<std::string> sweep_strays(const std::vector<ContentFile>& contents, const std::set<std::string>& expected,
                                      const std::vector<ExistingEntry>& existing);

// The SHA-256 of a file as lower-case hex; throws Error(failed) naming it when it cannot be read.
std::string sha256_of_file(const std::filesystem::path& path);

} // namespace statectl::backup

namespace statectl::output {
class Printer;
}

namespace statectl::backup {

// Checks that dir (which exists and is not empty) can take a delta restore: a PostgreSQL data
// directory (PG_VERSION, or the marker of an unfinished restore) without a postmaster.pid.
// Throws Error(usage) saying which, before anything is changed.
void check_delta_target(const std::filesystem::path& dir);

// Marks dir as a restore in progress before anything else changes in it: writes the marker
// durably, then removes global/pg_control (and a staged one left by an interrupted restore).
void begin_restore(const std::filesystem::path& dir, const std::string& backup_id);

// Scans dir, plans the delta restore of m onto it (hashing on `workers` threads) and removes
// what the plan removes. Returns the plan; its keep list is what unpack_backup() must not write.
DeltaPlan apply_delta_plan(const std::filesystem::path& dir, const Manifest& m, unsigned workers, output::Printer& printer);

// After unpacking: removes the entries of dir a fresh restore of m would not have (links_and_dirs:
// the directories and symbolic links of m's own archive). Returns how many it removed.
std::size_t remove_strays(const std::filesystem::path& dir, const Manifest& m, const std::set<std::string>& links_and_dirs);

// Ends a restore into dir: with sync, flushes the whole tree (util::sync_tree); then renames the
// staged global/pg_control into place and removes the marker, each made durable.
void finish_restore(const std::filesystem::path& dir, bool sync);

} // namespace statectl::backup

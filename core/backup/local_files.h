#pragma once

// A diff or incr backup read from the data directory itself (as pgBackRest reads it) when the
// server runs on this machine: only the files that changed are read, instead of the whole
// cluster streamed through pg_basebackup and mostly thrown away.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/backup/pg.h"
#include "core/backup/tar.h"

namespace statectl::backup {

// The data directory of the server session s is connected to, when this process can read it:
// the server's data_directory, which must be the working directory of the session's own backend
// (/proc/PID/cwd), its pg_control must hold the server's system identifier and its
// postmaster.pid the server's start time, so that a container's or another machine's path is
// never taken for a local one; and it must have no tablespaces. nullopt otherwise (then the
// backup is streamed).
std::optional<std::filesystem::path> local_data_directory(PgSession& s);

// What a base backup leaves out of a data directory, by pg_basebackup's rules (PostgreSQL 15).
enum class Exclusion {
  none,     // backed up
  entry,    // left out entirely (postmaster.pid, pgsql_tmp*, a temporary or unlogged relation's fork)
  contents, // the directory is kept, empty (pg_wal, pg_replslot, pg_stat_tmp, ...)
};
// rel is the '/'-separated path in the data directory; has_init_fork says whether the database
// directory holding a relation file also holds that relation's _init fork (an unlogged relation).
Exclusion backup_exclusion(const std::string& rel, bool directory, const std::function<bool(const std::string& relfilenode)>& has_init_fork);

// Walks dir as a base backup of it would hold it: directories and symbolic links, then regular
// files, global/pg_control last; pg_wal/archive_status is added empty. For each member calls
// begin(e); when it returns true (the content is wanted) the file's first e.size bytes are
// read and passed to data (zeros when the file shrank meanwhile: WAL replay repairs it, as with
// pg_basebackup), then end(e) is called. Throws Error(failed) naming a file that cannot be read.
void walk_data_directory(const std::filesystem::path& dir, const std::function<bool(const TarEntry&)>& begin,
                         const std::function<void(std::string_view)>& data, const std::function<void(const TarEntry&)>& end);

} // namespace statectl::backup

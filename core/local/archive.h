#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "core/config/config_fwd.h"

namespace statectl::local {

// What an archive_command needs to call statectl back: the absolute path of this binary, the
// config file it was started with (none = the built-in defaults) and the state directory.
struct ArchiveContext {
  std::filesystem::path statectl;                  // /proc/self/exe
  std::optional<std::filesystem::path> config_file; // absolute
  std::filesystem::path state_dir;
};

ArchiveContext archive_context(const config::Config& cfg);

// <state dir>/wal_archive: left by earlier versions that archived with a plain copy; purged.
std::filesystem::path wal_archive_dir(const config::Config& cfg);

// The archive_command of every PostgreSQL server of the local stack (bare and Patroni), as the
// shell command PostgreSQL runs (%p = path of the segment, %f = its file name). This is the one
// place that decides it: `<statectl> wal push --repo <[backup] repo> %p`, which compresses and
// checksums each segment and never overwrites an archived one with different content.
std::string archive_command(const config::Config& cfg);

// The restore_command a bare former primary gets while pg_rewind --restore-target-wal runs:
// `<statectl> wal fetch --repo <repo> %f %p` from the same repository, for the WAL it has already
// recycled.
std::string restore_command(const config::Config& cfg);

} // namespace statectl::local

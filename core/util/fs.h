#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "core/util/expected.h"

namespace statectl::util {

// Writes data to path atomically: a temporary file beside it, fsync, rename, fsync of the
// directory. The file gets mode; readers see either the old or the new content, never a mix.
// Returns an error string (with the path and errno text) on failure; no temp file is left.
Expected<bool> write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode = 0644);

// Reads a whole file; error string names the path and the reason.
Expected<std::string> read_file(const std::filesystem::path& path);

// fsyncs a directory so a rename inside it is durable.
void fsync_dir(const std::filesystem::path& dir);

// Flushes every file and directory under path (path included) to disk, as PostgreSQL's
// fsync_pgdata does: first starts the writeback of every file (sync_file_range), then fsyncs each
// one and each directory, on several threads. Only this tree is waited for, not what other
// processes wrote to the same filesystem (syncfs(2) would wait for all of it). Symbolic links are
// not followed. Returns an error string naming the first path that failed.
Expected<bool> sync_tree(const std::filesystem::path& path);

// Creates dir (and parents) with mode for the last component; keeps an existing directory.
Expected<bool> make_dirs(const std::filesystem::path& dir, mode_t mode = 0755);

// The file mode bits (st_mode & 07777), or -1 when stat fails.
int file_mode(const std::filesystem::path& path);

// An absolute path with "~" expanded; relative paths resolved against base.
std::filesystem::path resolve_path(std::string_view text, const std::filesystem::path& base);

} // namespace statectl::util

#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/backup/repository.h"
#include "core/backup/stream.h"

namespace statectl::backup {

// What `wal push` did.
struct PushResult {
  std::string name;
  bool already_archived = false; // the same content was already in the archive
  StreamStats stats;
  std::string stored; // where it is: the repository's location, '/', the object's key
};

// Archives one WAL file (segment, .partial, .history or .backup) as
// wal/<TL>/<NAME>-<SHA256>.zst. Pushing the same name with the same content again succeeds;
// with different content throws Error(failed) and leaves the archive unchanged.
PushResult push_wal(const Repository& repo, const std::filesystem::path& file, int level, int threads);

// The spool where servers that cannot run `statectl wal push` themselves (the compose target's
// containers, which bind-mount it) archive WAL files: <state dir>/wal-spool, written by the
// servers' uid (their archive_command copies into a temporary name, fsyncs and renames).
std::filesystem::path wal_spool_dir(const config::Config& cfg);

// What import_spool() did.
struct SpoolImport {
  std::size_t imported = 0;            // files moved into the archive (or already there with the same content)
  std::vector<std::string> kept; // files left in the spool and why (the archive holds other content, unreadable)
};

// Moves every complete WAL file of the spool (not a temporary ".*" name) into the archive with
// push_wal() and removes it from the spool, history files first. A file that conflicts with the
// stays and is reported in kept. No spool directory: nothing to do. Every backup command that
// reads the archive (create, verify, info, restore) imports first, as pgBackRest's asynchronous
// archive-push drains its spool queue.
SpoolImport import_spool(const config::Config& cfg, const Repository& repo);

// Restores an archived WAL file to dest (atomically), checking its SHA-256. Returns false when
// the archive does not have it (the normal end of the archive for restore_command).
bool fetch_wal(const Repository& repo, const std::string& name, const std::filesystem::path& dest);

// The timeline switches recorded in an archived NNNNNNNN.history file: (parent timeline,
// switch LSN) pairs, oldest first. Empty when absent.
std::vector<std::pair<std::uint32_t, std::uint64_t>> read_history(const Repository& repo, std::uint32_t tl);

// The result of walking the archive segment by segment from a backup's start.
struct WalChain {
  std::uint32_t timeline = 0;               // the newest timeline descending from the start
  std::uint64_t first_segment = 0;
  std::uint64_t last_contiguous = 0;        // the last segment reachable without a gap
  std::string last_contiguous_name;
  std::int64_t last_contiguous_time_us = 0; // when that segment was archived
  std::optional<std::string> missing;       // the first missing segment before the newest one
  std::string newest_name;                  // the newest archived segment on the path
  std::uint64_t newest_segment = 0;
};

// Walks the archive from start_segment on start_tl (following .history files to newer
// timelines) up to the newest archived segment, or up to until_segment when given.
WalChain check_wal_chain(const Repository& repo, std::uint32_t start_tl, std::uint64_t start_segment,
                         std::uint64_t segment_size, std::optional<std::uint64_t> until_segment = std::nullopt);

// The segment name of a segment number on a timeline.
std::string segment_name(std::uint32_t tl, std::uint64_t segment, std::uint64_t segment_size);

} // namespace statectl::backup

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

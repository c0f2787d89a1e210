#pragma once

// What restore (core/backup/restore.cpp) checks before it writes anything
// (core/backup/restore_preflight.cpp): the backup to restore and the WAL it needs.

#include <cstdint>
#include <optional>
#include <string>

#include "core/backup/repository.h"
#include "core/backup/restore.h"

namespace statectl::backup {

// The recovery target as messages name it ("latest", "--target-time 2026-...").
std::string describe_target(const RestoreOptions& o);

// Picks the backup: the given one, else the newest that ends before the target (the oldest for
// a restore point name, whose position is unknown until replay finds it). Throws Error(usage)
// for an unknown or non-physical backup, one ending after the target, or a target before the
// oldest backup's end.
Manifest choose_backup(const Repository& repo, const RestoreOptions& o, std::optional<std::int64_t> t_us, std::optional<std::uint64_t> lsn,
                       std::optional<std::uint64_t> xid);

// Checks that the archive holds the WAL from m's start to the target. Throws Error(failed) for a
// segment m needs that is missing, a WAL gap before the target or a target beyond the archive.
void check_wal(const Repository& repo, const Manifest& m, const RestoreOptions& o, std::optional<std::int64_t> t_us, std::optional<std::uint64_t> lsn);

} // namespace statectl::backup

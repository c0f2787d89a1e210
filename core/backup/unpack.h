#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/backup/repository.h"
#include "core/output/printer.h"

namespace statectl::backup {

// The backups whose stored files make up physical backup m: m itself first, then each older
// backup its contents reference. Throws Error(failed, "backup M cannot be restored", ...) naming
// a referenced backup that is missing, incomplete or does not hold the files m takes from it.
std::vector<Manifest> backup_chain(const Repository& repo, const Manifest& m);

// What unpack_backup() wrote.
struct UnpackStats {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::set<std::string> links_and_dirs; // the directories and symbolic links of m's own archive
  std::uint64_t archives_skipped = 0;   // referenced backups none of whose files had to be written
};

// Writes the data directory of physical backup m into dir (which exists): m's own base.tar.zst
// (every directory, symlink and file it holds), then from each backup of backup_chain() the files
// m's manifest takes from there. Each stored file's checksums and each restored file's size and
// SHA-256 are checked against the manifests; throws Error(failed, "backup M is damaged", ...)
// naming the first damaged object or file. Files are written, not synced (see util::sync_tree);
// global/pg_control is written as k_pg_control_staged (core/backup/delta.h) for the caller to
// rename last. The files in keep (a delta restore's, already checked) are not written, nor is the
// archive of a referenced backup read when all the files m takes from it are kept. What is in the
// way of an entry (a file where a directory goes, a symbolic link to elsewhere) is replaced.
UnpackStats unpack_backup(const Repository& repo, const Manifest& m, const std::filesystem::path& dir, output::Printer& printer, bool tty,
                          const std::unordered_set<std::string>& keep = {});

} // namespace statectl::backup

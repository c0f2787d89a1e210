#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/backup/repository.h"
#include "core/backup/results.h"
#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"

namespace statectl::backup {

// What `backup create` is asked to do.
struct CreateOptions {
  std::string type = "full"; // full | diff | incr | logical | redis
  bool tty = false;          // draw a progress bar on stderr
  std::chrono::seconds archive_timeout{60};
};

// Takes a backup into the repository of cfg. Holds the repository lock (exit 75 when another
// backup runs), checks that WAL archiving reaches the repository first (full), streams the
// server's output through zstd and SHA-256, waits for every WAL segment the backup needs and
// only then renames manifest.json into place. Returns the manifest; under --dry-run it prints
// the plan and returns nullopt. On failure the partial directory is removed and the failure is
// recorded for `backup info`.
std::optional<Manifest> create_backup(const config::Config& cfg, exec::Runner& runner, output::Printer& printer,
                                      const CreateOptions& options);

// `backup info`: oldest and newest recovery point, newest archived WAL, archive lag, last failure.
RepositoryInfo repository_info(const config::Config& cfg);

// `backup verify`: re-hashes every stored file's bytes against the manifest (with deep also
// decompresses it and checks its content and every member of a base backup), decompresses and
// re-hashes the WAL each backup needs and checks its continuity up to the newest archived
// segment, on every CPU; with restore_test also restores the newest checked backup into a
// temporary directory, starts PostgreSQL on a free port and runs a query. "ok" is false when
// anything is damaged; "problems" names each damaged file or missing segment.
VerifyReport verify_repository(const config::Config& cfg, exec::Runner& runner, output::Printer& printer,
                               const std::optional<std::string>& id, bool restore_test, bool deep, const std::string& statectl_path);

// `backup prune`: which backups the retention rules keep (and why), which are removed
// (including incomplete ones) and which WAL no kept backup needs. Changes nothing when dry_run.
PruneReport prune_repository(const config::Config& cfg, bool dry_run);

} // namespace statectl::backup

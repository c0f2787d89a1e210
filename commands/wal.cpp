#include "commands/wal.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/backup/repository.h"
#include "core/backup/results.h"
#include "core/backup/s3.h"
#include "core/backup/wal.h"
#include "core/config/config.h"
#include "core/error.h"
#include "core/exec/runner.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::commands {

namespace fs = std::filesystem;

namespace {

backup::Repository repo_of(Context& ctx, const std::string& override_dir)
{
  if (override_dir.empty()) return backup::Repository::from_config(ctx.config());
  if (backup::is_s3_location(override_dir)) return backup::Repository::at(ctx.config(), override_dir);
  return backup::Repository::at(ctx.config(), util::resolve_path(override_dir, fs::current_path()).string());
}

} // namespace

void setup_wal(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  sub.footer("Exit codes: 0 archived / fetched, 1 `fetch`: not in the archive (the normal end of recovery) or\n"
             "`push`: the archive holds different content under that name, 2 bad arguments.");
  auto repo_dir = std::make_shared<std::string>();

  auto push = sub.add_subcommand("push", "Archive one WAL file (archive_command = 'statectl wal push %p')");
  auto path = std::make_shared<std::string>();
  push->add_option("PATH", *path, "WAL segment, .partial, .history or .backup file")->required();
  push->add_option("--repo", *repo_dir, "Repository folder or s3://BUCKET/PREFIX (default [backup] repo)");
  push->callback([&ctx, path, repo_dir] {
    auto repo = repo_of(ctx, *repo_dir);
    if (ctx.globals().dry_run) {
      ctx.printer().plan(fmt::format("archive {} into {}", *path, repo.location()));
      return;
    }
    repo.ensure();
    auto& cfg = ctx.config();
    auto r = backup::push_wal(repo, util::resolve_path(*path, fs::current_path()), static_cast<int>(cfg.get_int("backup.compress_level")),
                              static_cast<int>(cfg.get_int("backup.threads")));
    if (ctx.printer().quiet() && !ctx.printer().json()) return;
    ctx.printer().result(r);
  });

  auto fetch = sub.add_subcommand("fetch", "Restore one archived WAL file (restore_command = 'statectl wal fetch %f %p')");
  auto name = std::make_shared<std::string>();
  auto dest = std::make_shared<std::string>();
  fetch->add_option("NAME", *name, "WAL file name (%f)")->required();
  fetch->add_option("DEST", *dest, "where to write it (%p)")->required();
  fetch->add_option("--repo", *repo_dir, "Repository folder or s3://BUCKET/PREFIX (default [backup] repo)");
  fetch->callback([&ctx, name, dest, repo_dir] {
    auto repo = repo_of(ctx, *repo_dir);
    if (ctx.globals().dry_run) {
      ctx.printer().plan(fmt::format("fetch {} from {} into {}", *name, repo.location(), *dest));
      return;
    }
    // A missing file is how recovery learns it reached the end of the archive: exit 1, no noise.
    if (!backup::fetch_wal(repo, *name, util::resolve_path(*dest, fs::current_path()))) throw Exit(1);
    ctx.printer().result(backup::WalFetched{*name, *dest});
  });
}

} // namespace statectl::commands

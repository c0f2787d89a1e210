#include "core/local/archive.h"

#include <fmt/format.h>

#include "core/backup/repository.h"
#include "core/backup/s3.h"
#include "core/config/settings.h"
#include "core/local/process.h"
#include "core/util/strings.h"

namespace statectl::local {

namespace fs = std::filesystem;

ArchiveContext archive_context(const config::Config& cfg)
{
  ArchiveContext c;
  c.statectl = self_exe();
  c.config_file = config::settings(cfg).file;
  c.state_dir = config::settings(cfg).state_dir;
  return c;
}

fs::path wal_archive_dir(const config::Config& cfg) { return config::settings(cfg).state_dir / "wal_archive"; }

// An S3 repository's endpoint, region and credentials file are in the config: pass it along.
static std::string statectl_with_config(const config::Config& cfg)
{
  std::string cmd = util::shell_quote(self_exe().string());
  if (backup::is_s3_location(config::settings(cfg).backup.repo) && config::settings(cfg).file) cmd += " -c " + util::shell_quote(fs::absolute(*config::settings(cfg).file).string());
  return cmd;
}

std::string archive_command(const config::Config& cfg)
{
  // The server (as the run_as user) calls this binary back; --repo pins the repository so the
  // server user's environment (HOME, cwd) cannot change where segments go.
  return fmt::format("{} wal push --repo {} %p", statectl_with_config(cfg), util::shell_quote(backup::Repository::from_config(cfg).location()));
}

std::string restore_command(const config::Config& cfg)
{
  return fmt::format("{} wal fetch --repo {} %f %p", statectl_with_config(cfg), util::shell_quote(backup::Repository::from_config(cfg).location()));
}

} // namespace statectl::local

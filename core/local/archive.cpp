#include "core/local/archive.h"

#include <fmt/format.h>

#include "core/backup/repository.h"
#include "core/local/process.h"
#include "core/util/strings.h"

namespace statectl::local {

namespace fs = std::filesystem;

ArchiveContext archive_context(const config::Config& cfg)
{
  ArchiveContext c;
  c.statectl = self_exe();
  c.config_file = cfg.file();
  c.state_dir = cfg.state_dir();
  return c;
}

fs::path wal_archive_dir(const config::Config& cfg) { return cfg.state_dir() / "wal_archive"; }

std::string archive_command(const config::Config& cfg)
{
  // The server (as the run_as user) calls this binary back; --repo pins the repository so the
  // server user's environment (HOME, cwd) cannot change where segments go.
  auto repo = backup::Repository::from_config(cfg);
  return fmt::format("{} wal push --repo {} %p", util::shell_quote(self_exe().string()), util::shell_quote(repo.root().string()));
}

std::string restore_command(const config::Config& cfg)
{
  auto repo = backup::Repository::from_config(cfg);
  return fmt::format("{} wal fetch --repo {} %f %p", util::shell_quote(self_exe().string()), util::shell_quote(repo.root().string()));
}

} // namespace statectl::local

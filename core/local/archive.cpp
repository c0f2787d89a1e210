#include "core/local/archive.h"

#include <fmt/format.h>

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
  std::string dir = util::shell_quote(wal_archive_dir(cfg).string());
  // test ! -f: a segment that is already archived is never overwritten (PostgreSQL retries the
  // command until it succeeds, so a failure here is visible and safe).
  return fmt::format("test ! -f {0}/%f && cp %p {0}/%f", dir);
}

} // namespace statectl::local

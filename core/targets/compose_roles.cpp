// The record of which container holds a bare compose stack's PostgreSQL primary role.
#include "core/targets/compose_roles.h"

#include <fmt/format.h>
#include <system_error>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::targets::detail::compose_roles {

namespace fs = std::filesystem;

fs::path record_path(const config::Config& cfg) { return config::settings(cfg).state_dir / "compose-primary"; }

std::string recorded_primary(const config::Config& cfg)
{
  std::error_code ec;
  if (!fs::exists(record_path(cfg), ec)) return "";
  auto text = util::read_file(record_path(cfg));
  return text ? util::trim(*text) : "";
}

void record_primary(const config::Config& cfg, const std::string& container, bool deployed_primary)
{
  if (deployed_primary) {
    forget(cfg);
    return;
  }
  if (auto r = util::make_dirs(config::settings(cfg).state_dir, 0700); !r) throw Error(ExitCode::failed, "cannot create the state directory", r.error());
  if (auto r = util::write_file_atomic(record_path(cfg), container + "\n", 0644); !r)
    throw Error(ExitCode::failed, fmt::format("cannot record {} as the primary", container), r.error());
}

void forget(const config::Config& cfg)
{
  std::error_code ec;
  fs::remove(record_path(cfg), ec);
}

void refuse_while_switched(const config::Config& cfg, const std::string& what, const std::string& why)
{
  std::string primary = recorded_primary(cfg);
  if (primary.empty()) return;
  throw Error(ExitCode::usage, fmt::format("{} needs postgres-primary to be the primary, but {} holds the role since a switchover", what, primary),
              why, "switch back first: statectl failover switchover --target compose --to postgres-primary");
}

std::string pgbouncer_ini_for(const std::string& ini, const std::string& host)
{
  std::vector<std::string> lines = util::split(ini, '\n');
  for (auto& l : lines) {
    auto at = l.find("host=");
    if (!util::starts_with(l, "* =") || at == std::string::npos) continue;
    auto end = l.find(' ', at);
    l = l.substr(0, at) + "host=" + host + (end == std::string::npos ? "" : l.substr(end));
    break;
  }
  return util::join(lines, "\n");
}

void keep_pooler_host(const config::Config& cfg, const fs::path& dir)
{
  std::string recorded = recorded_primary(cfg);
  if (recorded.empty()) return;
  fs::path ini = dir / "pgbouncer" / "pgbouncer.ini";
  auto text = util::read_file(ini);
  if (!text) throw Error(ExitCode::failed, "cannot read the rendered pgbouncer.ini", text.error());
  if (auto r = util::write_file_atomic(ini, pgbouncer_ini_for(*text, recorded), 0644); !r)
    throw Error(ExitCode::failed, "cannot point the rendered pgbouncer.ini at the primary", r.error());
}

} // namespace statectl::targets::detail::compose_roles

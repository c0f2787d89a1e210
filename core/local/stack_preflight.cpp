// Stack::preflight: what must be true before any member starts (binaries, the run-as user's
// access to the state directory, free ports), checked so that a failure starts nothing.
#include "core/local/stack.h"

#include <fmt/format.h>
#include <pwd.h>
#include <map>
#include <set>
#include <sys/stat.h>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/local/components.h"
#include "core/local/process.h"

namespace statectl::local {

namespace fs = std::filesystem;

namespace {

// The config key that sets a member's port, for "port in use" hints.
std::string port_key(const Member& m)
{
  if (m.kind == "postgres") return "[local] postgres_port";
  if (m.kind == "patroni") return "[local] postgres_port / patroni_port";
  return "[local] " + m.kind + "_port";
}

// True when every ancestor of dir can be traversed by uid/gid (o+x, or g+x/u+x when they match).
std::optional<fs::path> untraversable_ancestor(const fs::path& dir, uid_t uid, gid_t gid)
{
  fs::path p;
  for (const auto& part : dir.parent_path()) {
    p /= part;
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) break; // will be created by us, 0755
    bool ok = (st.st_mode & S_IXOTH) || (st.st_gid == gid && (st.st_mode & S_IXGRP)) || (st.st_uid == uid && (st.st_mode & S_IXUSR));
    if (!ok) return p;
  }
  return std::nullopt;
}

// Every port a member listens on, with the config key that sets it.
std::vector<std::pair<int, std::string>> member_ports(const Site& site, const Member& m, const std::string& redis_mode)
{
  std::vector<std::pair<int, std::string>> ports = {{m.port, port_key(m)}};
  if (m.rest_port) ports.emplace_back(m.rest_port, "[local] patroni_port");
  if (m.kind == "etcd") ports.emplace_back(m.port + 1, "[local] etcd_port (peer port = etcd_port + 1)");
  if (m.kind == "haproxy") ports.emplace_back(m.port + 1, "[local] haproxy_port (read-only port = haproxy_port + 1)");
  if (m.kind == "redis" && redis_mode == "cluster") ports.emplace_back(redis_cluster::bus_port(site.cfg, m), "[local] redis_cluster_bus_port");
  return ports;
}

} // namespace

void Stack::check_port_overlaps(const std::vector<Member>& planned) const
{
  // Members of one kind take consecutive ports from their key (postgres-0, -1, ... or
  // patroni-0, -1, ...), so ranges set by two keys can overlap although each key looks fine.
  std::map<int, std::pair<std::string, std::string>> owner; // port -> member, key
  for (const auto& m : planned) {
    for (const auto& [port, key] : member_ports(m_site, m, m_state.redis_mode)) {
      auto [it, fresh] = owner.emplace(port, std::make_pair(m.name, key));
      if (fresh || it->second.first == m.name) continue;
      throw Error(ExitCode::usage, fmt::format("port {} is configured for both {} and {}", port, it->second.first, m.name),
                  fmt::format("{} comes from {} and {} from {}; members of one kind take consecutive ports from their key, "
                              "one per member; nothing was started",
                              it->second.first, it->second.second, m.name, key),
                  "choose port ranges that do not overlap in the [local] section of statectl.toml (a deployed member keeps "
                  "the port it was created with until 'statectl destroy --purge')");
    }
  }
}

void Stack::preflight(const std::vector<Member>& to_start)
{
  auto& site = m_site;
  std::set<std::string> kinds;
  for (const auto& m : to_start) kinds.insert(m.kind);
  if (kinds.count("postgres")) {
    for (const char* b : {"initdb", "pg_ctl", "pg_basebackup", "psql"}) site.pg_binary(b);
  }
  if (kinds.count("pgbouncer")) site.binary("pgbouncer", "pgbouncer");
  if (kinds.count("redis")) site.binary("redis-server", "redis-server");
  if (kinds.count("redis") && m_state.redis_mode == "cluster") site.binary("redis-cli", "redis-tools");
  if (kinds.count("sentinel")) site.binary("redis-sentinel", "redis-sentinel");
  if (kinds.count("etcd")) site.binary("etcd", "etcd-server");
  if (kinds.count("patroni")) {
    site.binary("patroni", "patroni");
    for (const char* b : {"initdb", "pg_ctl", "pg_basebackup", "psql"}) site.pg_binary(b);
  }
  if (kinds.count("haproxy")) site.binary("haproxy", "haproxy");
  if ((kinds.count("postgres") || kinds.count("patroni")) && config::settings(site.cfg).postgres.audit) {
    fs::path lib = fs::path(config::settings(site.cfg).postgres.bin_dir).parent_path() / "lib" / "pgaudit.so";
    if (!fs::exists(lib))
      throw Error(ExitCode::unavailable, "[postgres] audit needs pgaudit", fmt::format("{} does not exist", lib.string()),
                  "install Debian's postgresql-15-pgaudit (packaging/install-deps.sh does), or set [postgres] audit = false");
  }
  if (kinds.count("etcd") || kinds.count("patroni")) site.binary("start-stop-daemon", "dpkg");

  if (!site.run_as().empty()) {
    struct passwd* pw = ::getpwnam(site.run_as().c_str());
    if (pw) {
      if (auto bad = untraversable_ancestor(site.state_dir(), pw->pw_uid, pw->pw_gid))
        throw Error(ExitCode::usage, fmt::format("user {} cannot reach the state directory {}", site.run_as(), site.state_dir().string()),
                    fmt::format("{} is not searchable by that user", bad->string()),
                    "set [local] dir to a directory outside it (e.g. /var/lib/statectl), or run statectl from such a directory with a statectl.toml");
    }
  }

  for (const auto& m : to_start) {
    Member self = m;
    if (running(self)) continue; // its ports are its own (a member to re-make)
    for (const auto& [port, key] : member_ports(site, m, m_state.redis_mode)) {
      if (port_in_use(port))
        throw Error(ExitCode::usage, fmt::format("port {} for {} is already in use", port, m.name),
                    fmt::format("another program listens on 127.0.0.1:{}; nothing was started", port),
                    fmt::format("stop that program, or choose free ports with {} in statectl.toml", key));
    }
  }
}

} // namespace statectl::local

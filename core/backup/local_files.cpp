// Reading a base backup's members from a local data directory, by pg_basebackup's rules.
#include "core/backup/local_files.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

namespace {
bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }); }
} // namespace

std::optional<fs::path> local_data_directory(PgSession& s)
{
  try {
    auto rows = s.query("SELECT current_setting('data_directory'), pg_backend_pid()::text, "
                        "(SELECT count(*) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global'))::text, "
                        "(SELECT system_identifier FROM pg_control_system())::text, "
                        "floor(extract(epoch FROM pg_postmaster_start_time()))::bigint::text");
    if (rows.empty() || rows[0].size() < 5) return std::nullopt;
    for (const auto& v : rows[0])
      if (!v) return std::nullopt;
    if (*rows[0][2] != "0") return std::nullopt;
    fs::path dir = *rows[0][0];
    std::error_code ec;
    fs::path cwd = fs::read_symlink(fs::path("/proc") / *rows[0][1] / "cwd", ec);
    if (ec || cwd.empty() || !fs::equivalent(cwd, dir, ec) || ec) return std::nullopt;
    // The same cluster (pg_control starts with the system identifier) and the same running
    // postmaster (postmaster.pid's third line is its start time): a process of another PID
    // namespace (a container) that happens to have this PID here is not taken for it.
    auto control = util::read_file(dir / "global" / "pg_control");
    std::uint64_t sysid = 0;
    if (!control || control->size() < sizeof sysid) return std::nullopt;
    std::memcpy(&sysid, control->data(), sizeof sysid);
    if (std::to_string(sysid) != *rows[0][3]) return std::nullopt;
    auto pid_file = util::read_file(dir / "postmaster.pid");
    if (!pid_file) return std::nullopt;
    auto lines = util::split(*pid_file, '\n');
    // Its start time is taken a moment before pg_postmaster_start_time(): allow a few seconds.
    std::string started = lines.size() < 3 ? "" : util::trim(lines[2]);
    if (!all_digits(started) || !all_digits(*rows[0][4]) || std::llabs(std::stoll(started) - std::stoll(*rows[0][4])) > 5) return std::nullopt;
    return dir;
  } catch (const Error&) {
    return std::nullopt;
  }
}

namespace {

// "16384", "16384_fsm", "16384.1", "16384_vm.2": the relfilenode and the fork ("" for main).
bool parse_relation_file(std::string_view name, std::string& node, std::string& fork)
{
  auto dot = name.find('.');
  if (dot != std::string_view::npos) {
    if (!all_digits(name.substr(dot + 1))) return false;
    name = name.substr(0, dot);
  }
  auto us = name.find('_');
  node = std::string(name.substr(0, us));
  fork = us == std::string_view::npos ? "" : std::string(name.substr(us + 1));
  return all_digits(node) && (fork.empty() || fork == "fsm" || fork == "vm" || fork == "init");
}

// "t3_16384", "t3_16384_fsm.1": a temporary relation's file.
bool temp_relation_file(std::string_view name)
{
  if (name.size() < 4 || name[0] != 't') return false;
  auto us = name.find('_');
  if (us == std::string_view::npos || !all_digits(name.substr(1, us - 1))) return false;
  std::string node, fork;
  return parse_relation_file(name.substr(us + 1), node, fork);
}

const std::set<std::string>& contents_excluded()
{
  static const std::set<std::string> k = {"pg_wal", "pg_stat_tmp", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_subtrans"};
  return k;
}

} // namespace

Exclusion backup_exclusion(const std::string& rel, bool directory, const std::function<bool(const std::string&)>& has_init_fork)
{
  auto slash = rel.rfind('/');
  std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
  std::string top = rel.substr(0, rel.find('/'));
  if (util::starts_with(name, "pgsql_tmp")) return Exclusion::entry;
  if (contents_excluded().count(top)) return top == rel && directory ? Exclusion::contents : Exclusion::entry;
  if (directory) return Exclusion::none;
  static const std::set<std::string> k_files = {"postgresql.auto.conf.tmp", "current_logfiles.tmp", "backup_label", "tablespace_map",
                                                "backup_manifest", "postmaster.pid", "postmaster.opts"};
  if (k_files.count(name) || util::starts_with(name, "pg_internal.init")) return Exclusion::entry;
  bool database_dir = util::starts_with(parent, "base/") && all_digits(std::string_view(parent).substr(5));
  if (!database_dir) return Exclusion::none;
  if (temp_relation_file(name)) return Exclusion::entry;
  std::string node, fork;
  if (parse_relation_file(name, node, fork) && fork != "init" && has_init_fork(node)) return Exclusion::entry;
  return Exclusion::none;
}

namespace {

struct Walker {
  const fs::path& root;
  const std::function<bool(const TarEntry&)>& begin;
  const std::function<void(std::string_view)>& data;
  const std::function<void(const TarEntry&)>& end;
  std::string buf = std::string(1u << 20, '\0');

  void emit_dir(const std::string& rel, const struct stat& st)
  {
    TarEntry e{rel, '5', 0, static_cast<unsigned>(st.st_mode & 07777), "", static_cast<std::int64_t>(st.st_mtime)};
    begin(e);
    end(e);
  }

  void file(const std::string& rel)
  {
    fs::path p = root / rel;
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return; // removed since it was listed (a dropped relation): as pg_basebackup
      throw Error(ExitCode::failed, fmt::format("cannot read {}", p.string()), std::strerror(errno), "statectl must be able to read the data directory");
    }
    struct stat st{};
    ::fstat(fd, &st);
    TarEntry e{rel, '0', static_cast<std::uint64_t>(st.st_size), static_cast<unsigned>(st.st_mode & 07777), "", static_cast<std::int64_t>(st.st_mtime)};
    if (begin(e)) {
      std::uint64_t left = e.size;
      while (left > 0) {
        ssize_t n = ::read(fd, buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size())));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          int err = errno;
          ::close(fd);
          throw Error(ExitCode::failed, fmt::format("cannot read {}", p.string()), std::strerror(err));
        }
        if (n == 0) { // truncated meanwhile: zeros to the size announced, as pg_basebackup sends
          std::fill(buf.begin(), buf.end(), '\0');
          n = static_cast<ssize_t>(std::min<std::uint64_t>(left, buf.size()));
        }
        data(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        left -= static_cast<std::uint64_t>(n);
      }
    }
    ::close(fd);
    end(e);
  }

  void dir(const std::string& rel)
  {
    fs::path p = rel.empty() ? root : root / rel;
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = fs::directory_iterator(p, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) names.push_back(it->path().filename().string());
    if (ec) throw Error(ExitCode::failed, fmt::format("cannot list {}", p.string()), ec.message(), "statectl must be able to read the data directory");
    std::sort(names.begin(), names.end());
    std::set<std::string> init_forks;
    for (const auto& n : names)
      if (n.size() > 5 && n.compare(n.size() - 5, 5, "_init") == 0) init_forks.insert(n.substr(0, n.size() - 5));
    auto has_init = [&](const std::string& node) { return init_forks.count(node) > 0; };
    for (const auto& n : names) {
      std::string child = rel.empty() ? n : rel + "/" + n;
      if (child == "global/pg_control") continue; // last
      struct stat st{};
      if (::lstat((root / child).c_str(), &st) != 0) continue;
      bool is_dir = S_ISDIR(st.st_mode) || (child == "pg_wal" && S_ISLNK(st.st_mode));
      Exclusion x = backup_exclusion(child, is_dir, has_init);
      if (x == Exclusion::entry) continue;
      if (is_dir) {
        if (S_ISLNK(st.st_mode)) ::stat((root / child).c_str(), &st);
        emit_dir(child, st);
        if (x == Exclusion::none) dir(child);
        else if (child == "pg_wal") emit_dir("pg_wal/archive_status", st);
      } else if (S_ISLNK(st.st_mode)) {
        std::string target = fs::read_symlink(root / child, ec).string();
        TarEntry e{child, '2', 0, 0777, target, static_cast<std::int64_t>(st.st_mtime)};
        begin(e);
        end(e);
      } else if (S_ISREG(st.st_mode)) {
        file(child);
      }
    }
  }
};

} // namespace

void walk_data_directory(const fs::path& dir, const std::function<bool(const TarEntry&)>& begin, const std::function<void(std::string_view)>& data,
                         const std::function<void(const TarEntry&)>& end)
{
  Walker w{dir, begin, data, end};
  w.dir("");
  w.file("global/pg_control");
}

} // namespace statectl::backup

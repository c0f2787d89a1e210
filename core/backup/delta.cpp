// restore --delta: the plan over an existing data directory (pgBackRest's rule: a file is kept
// when its size and checksum are the backup's), the sweep of what a fresh restore would not
// have, and the marker of a restore in progress.
#include "core/backup/delta.h"

#include <cerrno>
#include <cstring>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

#include "core/backup/stream.h"
#include "core/error.h"
#include "core/output/printer.h"
#include "core/util/fs.h"
#include "core/util/parallel.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

bool restore_incomplete(const fs::path& dir)
{
  std::error_code ec;
  return fs::exists(dir / k_restore_marker, ec);
}

std::vector<ExistingEntry> scan_data_dir(const fs::path& dir)
{
  std::vector<ExistingEntry> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (rel == k_restore_marker || rel == k_pg_control_staged) continue;
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) != 0) continue; // removed meanwhile
    ExistingEntry e;
    e.path = rel;
    e.mode = st.st_mode & 07777;
    if (S_ISREG(st.st_mode)) e.size = static_cast<std::uint64_t>(st.st_size);
    else if (S_ISDIR(st.st_mode)) e.kind = ExistingEntry::Kind::directory;
    else if (S_ISLNK(st.st_mode)) e.kind = ExistingEntry::Kind::symlink;
    else e.kind = ExistingEntry::Kind::other;
    out.push_back(std::move(e));
  }
  if (ec) throw Error(ExitCode::failed, fmt::format("cannot list {}", dir.string()), ec.message());
  return out;
}

DeltaPlan plan_delta(const std::vector<ContentFile>& contents, const std::vector<ExistingEntry>& existing,
                     const std::function<std::string(const std::string& path)>& sha256_of, unsigned workers)
{
  std::unordered_map<std::string, const ContentFile*> wanted;
  for (const auto& c : contents) wanted[c.path] = &c;
  DeltaPlan plan;
  std::vector<std::pair<const ExistingEntry*, const ContentFile*>> candidates;
  std::unordered_map<std::string, bool> present;
  std::string removed_tree; // entries below a removed one go with it
  for (const auto& e : existing) {
    if (!removed_tree.empty() && util::starts_with(e.path, removed_tree)) continue;
    auto it = wanted.find(e.path);
    if (it == wanted.end()) {
      if (e.kind == ExistingEntry::Kind::file) plan.remove.push_back(e.path);
      continue;
    }
    if (e.kind != ExistingEntry::Kind::file) {
      plan.remove.push_back(e.path);
      if (e.kind == ExistingEntry::Kind::directory) removed_tree = e.path + "/";
      continue;
    }
    if (e.size != it->second->size || e.path == "global/pg_control") {
      plan.remove.push_back(e.path);
      continue;
    }
    candidates.emplace_back(&e, it->second);
  }
  // Hashing is the work: every candidate file is read once, on several threads.
  std::vector<char> same(candidates.size(), 0);
  util::parallel_for(candidates.size(), workers, [&](std::size_t i) { same[i] = sha256_of(candidates[i].first->path) == candidates[i].second->sha256; });
  plan.hashed_files = candidates.size();
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (same[i]) {
      plan.keep.push_back(candidates[i].first->path);
      plan.kept_bytes += candidates[i].first->size;
      present[candidates[i].first->path] = true;
    } else {
      plan.remove.push_back(candidates[i].first->path);
    }
  }
  for (const auto& c : contents)
    if (!present.count(c.path)) plan.write.push_back(c.path);
  return plan;
}

std::vector<std::string> sweep_strays(const std::vector<ContentFile>& contents, const std::set<std::string>& expected,
                                      const std::vector<ExistingEntry>& existing)
{
  std::set<std::string> files, dirs = expected;
  for (const auto& c : contents) {
    files.insert(c.path);
    // The directories holding a file are never strays, whether or not the archive lists them.
    for (auto slash = c.path.find('/'); slash != std::string::npos; slash = c.path.find('/', slash + 1)) dirs.insert(c.path.substr(0, slash));
  }
  std::vector<std::string> out;
  std::string removed_tree;
  for (const auto& e : existing) {
    if (!removed_tree.empty() && util::starts_with(e.path, removed_tree)) continue;
    bool known = e.kind == ExistingEntry::Kind::file ? files.count(e.path) > 0 : dirs.count(e.path) > 0;
    if (known) continue;
    out.push_back(e.path);
    if (e.kind == ExistingEntry::Kind::directory) removed_tree = e.path + "/";
  }
  return out;
}

std::string sha256_of_file(const fs::path& path)
{
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ExitCode::failed, fmt::format("cannot read {}", path.string()), std::strerror(errno));
  Sha256 hash;
  std::string buf(1u << 20, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw Error(ExitCode::failed, fmt::format("cannot read {}", path.string()), std::strerror(err));
    }
    if (n == 0) break;
    hash.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  return hash.hex();
}

} // namespace statectl::backup

namespace statectl::backup {

void check_delta_target(const fs::path& dir)
{
  std::error_code ec;
  auto refuse = [&](const std::string& why, const std::string& hint) {
    return Error(ExitCode::usage, fmt::format("cannot restore with --delta into {}", dir.string()), why, hint);
  };
  if (!fs::is_directory(dir, ec)) throw refuse("it exists and is not a directory", "pass a PostgreSQL data directory, or a new directory without --delta");
  if (auto pid_text = util::read_file(dir / "postmaster.pid")) {
    std::string first = util::trim(pid_text->substr(0, pid_text->find('\n')));
    long pid = first.empty() || first.find_first_not_of("0123456789") != std::string::npos ? 0 : std::stol(first);
    bool alive = pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
    throw refuse(alive ? fmt::format("PostgreSQL is running on it (postmaster.pid: pid {})", pid)
                       : fmt::format("it holds a postmaster.pid (pid {} is not running: a server that crashed?)", first),
                 alive ? fmt::format("stop it first (pg_ctl -D {} -m fast stop); statectl never restores under a running server", dir.string())
                       : "start and stop the server once so it shuts down cleanly, or remove postmaster.pid if you are sure no server uses this directory");
  }
  if (!fs::exists(dir / "PG_VERSION", ec) && !restore_incomplete(dir))
    throw refuse("it is not a PostgreSQL data directory (no PG_VERSION)", "pass the data directory of a stopped server, or a new or empty directory without --delta");
}

void begin_restore(const fs::path& dir, const std::string& backup_id)
{
  if (auto r = util::write_file_atomic(dir / k_restore_marker, fmt::format("restore of backup {} in progress\n", backup_id), 0600); !r)
    throw Error(ExitCode::failed, "cannot start the restore", r.error(), "check the directory's permissions and free space");
  std::error_code ec;
  fs::remove(dir / "global" / "pg_control", ec);
  fs::remove(dir / k_pg_control_staged, ec);
  if (fs::is_directory(dir / "global", ec)) util::fsync_dir(dir / "global");
}

DeltaPlan apply_delta_plan(const fs::path& dir, const Manifest& m, unsigned workers, output::Printer& printer)
{
  auto existing = scan_data_dir(dir);
  printer.info(fmt::format("delta restore: checking {} entries of {} against backup {}", existing.size(), dir.string(), m.id));
  DeltaPlan plan = plan_delta(m.contents, existing, [&](const std::string& p) { return sha256_of_file(dir / p); }, workers);
  for (const auto& p : plan.remove) {
    std::error_code ec;
    fs::remove_all(dir / p, ec);
    if (ec) throw Error(ExitCode::failed, fmt::format("cannot remove {}", (dir / p).string()), ec.message());
  }
  // Kept files get the mode a fresh restore gives them.
  std::unordered_map<std::string, unsigned> modes;
  for (const auto& e : existing) modes[e.path] = e.mode;
  for (const auto& p : plan.keep)
    if (modes[p] != 0600) ::chmod((dir / p).c_str(), 0600);
  printer.info(fmt::format("delta restore: {} files ({}) unchanged and kept, {} to write, {} removed", plan.keep.size(),
                           util::format_size(plan.kept_bytes), plan.write.size(), plan.remove.size()));
  return plan;
}

std::size_t remove_strays(const fs::path& dir, const Manifest& m, const std::set<std::string>& links_and_dirs)
{
  auto strays = sweep_strays(m.contents, links_and_dirs, scan_data_dir(dir));
  for (const auto& p : strays) {
    std::error_code ec;
    fs::remove_all(dir / p, ec);
    if (ec) throw Error(ExitCode::failed, fmt::format("cannot remove {}", (dir / p).string()), ec.message());
  }
  return strays.size();
}

void finish_restore(const fs::path& dir, bool sync)
{
  if (sync)
    if (auto r = util::sync_tree(dir); !r) throw Error(ExitCode::failed, "cannot sync the restored data directory", r.error(), "check the disk");
  std::error_code ec;
  if (fs::exists(dir / k_pg_control_staged, ec)) {
    fs::rename(dir / k_pg_control_staged, dir / "global" / "pg_control", ec);
    if (ec) throw Error(ExitCode::failed, fmt::format("cannot put {} in place", (dir / "global" / "pg_control").string()), ec.message());
    util::fsync_dir(dir / "global");
  }
  fs::remove(dir / k_restore_marker, ec);
  if (ec) throw Error(ExitCode::failed, fmt::format("cannot remove {}", (dir / k_restore_marker).string()), ec.message());
  util::fsync_dir(dir);
}

} // namespace statectl::backup

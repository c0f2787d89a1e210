#include "core/util/fs.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "core/util/parallel.h"

namespace statectl::util {

namespace fs = std::filesystem;

void fsync_dir(const fs::path& dir)
{
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

Expected<bool> sync_tree(const fs::path& path)
{
  std::vector<fs::path> files, dirs{path};
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink(ec)) continue;
    if (it->is_directory(ec)) dirs.push_back(it->path());
    else if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) return unexpected(fmt::format("cannot list {}: {}", path.string(), ec.message()));
  // Start the writeback of everything first, so the fsyncs below mostly find it done.
  for (const auto& f : files) {
    int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue; // the fsync pass reports it
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    ::close(fd);
  }
  std::mutex mutex;
  std::string error;
  auto sync_one = [&](const fs::path& p, int flags) {
    int fd = ::open(p.c_str(), flags | O_CLOEXEC);
    int rc = fd < 0 ? -1 : ::fsync(fd);
    int err = errno;
    if (fd >= 0) ::close(fd);
    if (rc != 0) {
      std::lock_guard<std::mutex> lock(mutex);
      if (error.empty()) error = fmt::format("fsync of {} failed: {}", p.string(), std::strerror(err));
    }
  };
  parallel_for(files.size(), 4, [&](std::size_t i) { sync_one(files[i], O_RDONLY); });
  // Directories last, deepest first: their entries are durable once the files are.
  for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) sync_one(*d, O_RDONLY | O_DIRECTORY);
  if (!error.empty()) return unexpected(error);
  return true;
}

Expected<bool> write_file_atomic(const fs::path& path, std::string_view data, mode_t mode)
{
  fs::path dir = path.parent_path();
  std::random_device rd;
  fs::path tmp = dir / fmt::format(".{}.tmp.{}.{:x}", path.filename().string(), ::getpid(), rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return unexpected(fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)));
  ::fchmod(fd, mode); // the umask must not widen or narrow what the caller asked for
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return unexpected(fmt::format("cannot write {}: {}", path.string(), std::strerror(e)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return unexpected(fmt::format("cannot fsync {}: {}", path.string(), std::strerror(e)));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return unexpected(fmt::format("cannot rename into {}: {}", path.string(), std::strerror(e)));
  }
  fsync_dir(dir);
  return true;
}

Expected<std::string> read_file(const fs::path& path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Expected<bool> make_dirs(const fs::path& dir, mode_t mode)
{
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return true;
  fs::create_directories(dir, ec);
  if (ec) return unexpected(fmt::format("cannot create directory {}: {}", dir.string(), ec.message()));
  ::chmod(dir.c_str(), mode);
  return true;
}

int file_mode(const fs::path& path)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

fs::path resolve_path(std::string_view text, const fs::path& base)
{
  std::string s(text);
  if (s == "~" || s.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    s = std::string(home ? home : "/") + s.substr(1);
  }
  fs::path p(s);
  if (p.is_relative()) p = base / p;
  return p.lexically_normal();
}

} // namespace statectl::util

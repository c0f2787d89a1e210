#include "core/util/fs.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

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

Expected<bool> sync_filesystem(const fs::path& path)
{
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unexpected(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  int rc = ::syncfs(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return unexpected(fmt::format("syncfs of {} failed: {}", path.string(), std::strerror(err)));
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

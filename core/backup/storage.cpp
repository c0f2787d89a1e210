#include "core/backup/storage.h"

#include <algorithm>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/backup/stream.h"
#include "core/error.h"
#include "core/exec/runner.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

LocalCopy::~LocalCopy()
{
  if (m_temporary && !m_path.empty()) ::unlink(m_path.c_str());
}

LocalCopy::LocalCopy(LocalCopy&& other) noexcept : m_path(std::move(other.m_path)), m_temporary(other.m_temporary)
{
  other.m_path.clear();
  other.m_temporary = false;
}

LocalCopy& LocalCopy::operator=(LocalCopy&& other) noexcept
{
  if (this != &other) {
    if (m_temporary && !m_path.empty()) ::unlink(m_path.c_str());
    m_path = std::move(other.m_path);
    m_temporary = other.m_temporary;
    other.m_path.clear();
    other.m_temporary = false;
  }
  return *this;
}

LocalStorage::LocalStorage(fs::path root, std::string owner) : m_root(std::move(root)), m_owner(std::move(owner)) {}

void LocalStorage::adopt(const fs::path& path) const
{
  if (m_owner.empty() || !exec::running_as_root()) return;
  if (struct passwd* pw = ::getpwnam(m_owner.c_str())) {
    if (::lchown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      // Not fatal here: the server's archive_command reports a clear error if it cannot write.
    }
  }
}

void LocalStorage::ensure()
{
  for (const auto& d : {m_root, m_root / "backups", m_root / "wal"}) {
    bool existed = fs::is_directory(d);
    if (auto r = util::make_dirs(d, 0750); !r)
      throw Error(ExitCode::failed, "cannot create the backup repository", r.error(), "check [backup] repo and its permissions");
    if (!existed) adopt(d);
  }
}

void LocalStorage::make_parents(const fs::path& path) const
{
  // Each new folder goes to the owner, so the archiver (another user) can write beside it.
  std::vector<fs::path> missing;
  for (fs::path d = path.parent_path(); !d.empty() && d != m_root && !fs::is_directory(d); d = d.parent_path()) missing.push_back(d);
  if (auto r = util::make_dirs(path.parent_path(), 0750); !r)
    throw Error(ExitCode::failed, fmt::format("cannot create {}", path.parent_path().string()), r.error(),
                "check that the backup repository is writable by this user");
  for (const auto& d : missing) adopt(d);
}

fs::path LocalStorage::stage(const std::string& key)
{
  fs::path p = m_root / key;
  make_parents(p);
  return p;
}

void LocalStorage::commit(const std::string&, const fs::path& staged) { adopt(staged); }

void LocalStorage::discard(const fs::path& staged)
{
  std::error_code ec;
  fs::remove(staged, ec);
}

void LocalStorage::put(const std::string& key, std::string_view data)
{
  fs::path p = stage(key);
  write_atomic(p, data, 0640);
  adopt(p);
}

std::optional<std::string> LocalStorage::get(const std::string& key)
{
  fs::path p = m_root / key;
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  auto text = util::read_file(p);
  if (!text) throw Error(ExitCode::failed, fmt::format("cannot read {}", p.string()), text.error());
  return *text;
}

LocalCopy LocalStorage::fetch(const std::string& key)
{
  fs::path p = m_root / key;
  std::error_code ec;
  if (!fs::exists(p, ec)) throw Error(ExitCode::failed, fmt::format("{} is missing from {}", key, m_root.string()));
  return LocalCopy(p, false);
}

std::vector<ObjectInfo> LocalStorage::list(const std::string& prefix)
{
  // Walk only the deepest folder the prefix names, not the whole repository.
  std::string folder = prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
  std::vector<ObjectInfo> out;
  std::error_code ec;
  fs::path start = m_root / folder;
  if (!fs::is_directory(start, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(start, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (it->is_directory(ec)) {
      if (!name.empty() && name.front() == '.') it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    std::string key = it->path().lexically_relative(m_root).generic_string();
    if (!util::starts_with(key, prefix)) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;
    out.push_back({key, static_cast<std::uint64_t>(st.st_size),
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

void LocalStorage::remove(const std::string& key)
{
  std::error_code ec;
  fs::remove(m_root / key, ec);
  if (ec) throw Error(ExitCode::failed, fmt::format("cannot remove {}", (m_root / key).string()), ec.message());
}

void LocalStorage::remove_prefix(const std::string& prefix)
{
  std::error_code ec;
  if (util::ends_with(prefix, "/")) {
    fs::remove_all(m_root / prefix, ec);
    if (ec) throw Error(ExitCode::failed, fmt::format("cannot remove {}", (m_root / prefix).string()), ec.message());
    return;
  }
  for (const auto& o : list(prefix)) remove(o.key);
}

} // namespace statectl::backup

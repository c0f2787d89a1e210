// Unpacking a physical backup, following a diff's or incr's references to the backups holding
// its unchanged files.
#include "core/backup/unpack.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

#include "core/backup/delta.h"
#include "core/backup/stream.h"
#include "core/backup/tar.h"
#include "core/error.h"
#include "core/util/parallel.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

std::vector<Manifest> backup_chain(const Repository& repo, const Manifest& m)
{
  std::vector<Manifest> chain{m};
  for (const auto& id : m.references) {
    auto r = repo.manifest(id);
    if (!r || !is_physical(r->type))
      throw Error(ExitCode::failed, fmt::format("backup {} cannot be restored", m.id),
                  fmt::format("it takes unchanged files from backup {}, which is {}", id, r ? "not a physical backup" : "missing or incomplete"),
                  "run `statectl backup verify` and restore another backup with --backup");
    chain.push_back(std::move(*r));
  }
  std::unordered_map<std::string, const ContentFile*> held;
  for (std::size_t i = 1; i < chain.size(); ++i)
    for (const auto& c : chain[i].contents)
      if (c.reference.empty()) held[chain[i].id + "/" + c.path] = &c;
  for (const auto& c : m.contents) {
    if (c.reference.empty()) continue;
    auto it = held.find(c.reference + "/" + c.path);
    if (it == held.end() || it->second->sha256 != c.sha256 || it->second->size != c.size)
      throw Error(ExitCode::failed, fmt::format("backup {} cannot be restored", m.id),
                  fmt::format("{} refers to backup {}, which does not hold it with the same checksum", c.path, c.reference),
                  "run `statectl backup verify`");
  }
  return chain;
}

namespace {

// A file of the restored directory and the backup holding its bytes.
struct Wanted {
  const ContentFile* file = nullptr;
  std::string holder;
  bool written = false;
  bool keep = false; // a delta restore found it in place
};

// Writes the members of one backup's tar stream that the restored backup takes from it.
class Extractor {
public:
  Extractor(fs::path dir, std::unordered_map<std::string, Wanted>& wanted, std::string holder, bool own)
    : m_dir(std::move(dir)), m_wanted(wanted), m_holder(std::move(holder)), m_own(own)
  {
    tar.on_begin = [this](const TarEntry& e) { begin(e); };
    tar.on_data = [this](std::string_view d) { data(d); };
    tar.on_end = [this](const TarEntry& e) { end(e); };
  }
  ~Extractor()
  {
    if (m_fd >= 0) ::close(m_fd);
  }
  Extractor(const Extractor&) = delete;
  Extractor& operator=(const Extractor&) = delete;

  TarScanner tar;
  std::vector<std::string> problems;
  std::set<std::string> links_and_dirs;
  std::uint64_t files = 0, bytes = 0;

private:
  fs::path safe(const std::string& p)
  {
    fs::path rel = fs::path(p).lexically_normal();
    if (rel.is_absolute() || util::starts_with(rel.string(), ".."))
      throw Error(ExitCode::failed, "the backup archive is damaged", fmt::format("member '{}' escapes the data directory", p));
    return m_dir / rel;
  }
  void begin(const TarEntry& e)
  {
    m_current = nullptr;
    fs::path p = safe(e.path);
    std::error_code ec;
    if (e.type == '0') {
      auto it = m_wanted.find(e.path);
      if (it == m_wanted.end()) {
        // A file the restored backup does not list: damage in its own archive; in an older
        // backup's archive a file that was removed since.
        if (m_own) problems.push_back(fmt::format("{}: not in the manifest", e.path));
        return;
      }
      if (it->second.holder != m_holder || it->second.keep) return;
      m_current = &it->second;
      fs::create_directories(p.parent_path(), ec);
      // pg_control goes into place last, so that PostgreSQL never starts a half-written directory.
      if (e.path == "global/pg_control") p = m_dir / k_pg_control_staged;
      clear_unless(p, fs::file_type::regular);
      m_fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (m_fd < 0) throw Error(ExitCode::failed, fmt::format("cannot write {}", p.string()), std::strerror(errno));
      m_hash.emplace();
      m_size = 0;
    } else if (!m_own) {
      return; // directories and symlinks come from the restored backup's own archive
    } else if (e.type == '5') {
      links_and_dirs.insert(entry_name(e.path));
      clear_unless(p, fs::file_type::directory);
      fs::create_directories(p, ec);
      ::chmod(p.c_str(), 0700);
    } else if (e.type == '2') {
      links_and_dirs.insert(entry_name(e.path));
      fs::create_directories(p.parent_path(), ec);
      if (fs::symlink_status(p, ec).type() == fs::file_type::symlink && fs::read_symlink(p, ec) == fs::path(e.link_target)) return;
      clear_unless(p, fs::file_type::none);
      fs::create_symlink(e.link_target, p, ec);
    }
  }
  // A member's path as scan_data_dir() names it ("base/1/" -> "base/1").
  static std::string entry_name(const std::string& p)
  {
    std::string s = fs::path(p).lexically_normal().generic_string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  }
  // Removes what is at p unless it is of type `keep` (a symbolic link is never followed).
  static void clear_unless(const fs::path& p, fs::file_type keep)
  {
    std::error_code ec;
    auto type = fs::symlink_status(p, ec).type();
    if (type == fs::file_type::not_found || type == fs::file_type::none || type == keep) return;
    fs::remove_all(p, ec);
    if (ec) throw Error(ExitCode::failed, fmt::format("cannot replace {}", p.string()), ec.message());
  }
  void data(std::string_view d)
  {
    if (!m_current) return;
    m_hash->update(d);
    m_size += d.size();
    while (!d.empty()) {
      ssize_t n = ::write(m_fd, d.data(), d.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ExitCode::failed, "cannot write the restored data directory", std::strerror(errno), "check free space");
      }
      d.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void end(const TarEntry& e)
  {
    if (e.type != '0' || !m_current) return;
    ::close(m_fd);
    m_fd = -1;
    std::string got = m_hash->hex();
    if (got != m_current->file->sha256 || m_size != m_current->file->size) problems.push_back(fmt::format("{}: checksum mismatch", e.path));
    m_current->written = true;
    ++files;
    bytes += m_size;
    m_current = nullptr;
  }

  fs::path m_dir;
  std::unordered_map<std::string, Wanted>& m_wanted;
  std::string m_holder;
  bool m_own;
  Wanted* m_current = nullptr;
  int m_fd = -1;
  std::uint64_t m_size = 0;
  std::optional<Sha256> m_hash;
};

} // namespace

UnpackStats unpack_backup(const Repository& repo, const Manifest& m, const fs::path& dir, output::Printer& printer, bool tty,
                          const std::unordered_set<std::string>& keep)
{
  auto chain = backup_chain(repo, m);
  std::unordered_map<std::string, Wanted> wanted;
  std::unordered_set<std::string> needed; // the backups holding a file that is written
  for (const auto& c : m.contents) {
    bool kept = keep.count(c.path) > 0;
    wanted[c.path] = Wanted{&c, c.reference.empty() ? m.id : c.reference, kept, kept};
    if (!kept) needed.insert(wanted[c.path].holder);
  }
  UnpackStats stats;
  std::uint64_t total = 0;
  for (const auto& h : chain)
    for (const auto& f : h.files)
      if (f.name == "base.tar.zst" && (&h == &chain.front() || needed.count(h.id))) total += f.size;
  output::Progress progress(printer, "restore " + m.id, total, tty);
  std::uint64_t done = 0;
  auto damaged = [&](const std::string& why) {
    return Error(ExitCode::failed, fmt::format("backup {} is damaged", m.id), why, "run `statectl backup verify` and restore another backup with --backup");
  };
  for (const auto& h : chain) {
    if (&h != &chain.front() && !needed.count(h.id)) {
      ++stats.archives_skipped;
      continue;
    }
    const StoredFile* base = nullptr;
    for (const auto& f : h.files)
      if (f.name == "base.tar.zst") base = &f;
    std::string key = Repository::backup_key(h.id, "base.tar.zst");
    if (!base) throw damaged(fmt::format("the manifest of backup {} lists no base.tar.zst", h.id));
    Extractor x(dir, wanted, h.id, &h == &chain.front());
    StreamStats st;
    try {
      LocalCopy copy = repo.storage().fetch(key);
      const std::string& cipher_key = repo.cipher_key();
      // Reading, decrypting and decompressing on one thread, unpacking, hashing and writing
      // the files on this one.
      util::pipeline_chunks([&](const std::function<void(std::string_view)>& emit) { st = read_zstd_file(copy.path(), emit, cipher_key, key, false); },
                            [&](std::string_view d) {
                              x.tar.feed(d);
                              done += d.size();
                              progress.update(done);
                            });
    } catch (const Error& e) {
      // Damage shows first as a zstd or tar error, before the whole-file checksum: name the file.
      throw damaged(fmt::format("{}: {}", key, e.why().empty() ? e.what_failed() : e.why()));
    }
    // The stored bytes as a whole and every file in them (the content is not hashed twice).
    if (st.stored_sha256 != base->stored_sha256) throw damaged(key + ": checksum mismatch");
    if (!x.problems.empty()) throw damaged(fmt::format("{}: {}", key, util::join(x.problems, "; ")));
    if (!x.tar.finished()) throw damaged(key + ": the archive ends early");
    stats.files += x.files;
    stats.bytes += x.bytes;
    if (&h == &chain.front()) stats.links_and_dirs = std::move(x.links_and_dirs);
  }
  progress.finish();
  for (const auto& [path, w] : wanted)
    if (!w.written) throw damaged(fmt::format("{}: {} is missing from the archive", Repository::backup_key(w.holder, "base.tar.zst"), path));
  return stats;
}

} // namespace statectl::backup

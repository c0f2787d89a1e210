// Unpacking a physical backup, following a diff's or incr's references to the backups holding
// its unchanged files.
#include "core/backup/unpack.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <algorithm>
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
    std::string problem;
    auto r = repo.manifest(id, &problem);
    if (!r || !is_physical(r->type)) {
      std::string why = r ? "not a physical backup"
                          : problem.empty() ? "missing or incomplete (no manifest)" : "unreadable: " + problem;
      throw Error(ExitCode::failed, fmt::format("backup {} cannot be restored", m.id),
                  fmt::format("it takes unchanged files from backup {}, which is {}", id, why),
                  "run `statectl backup verify` and restore another backup with --backup");
    }
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

// A member's path as scan_data_dir() names it ("base/1/" -> "base/1").
std::string unpack_entry_name(const std::string& p)
{
  std::string s = fs::path(p).lexically_normal().generic_string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Removes what is at p unless it is of type `keep` (a symbolic link is never followed).
void unpack_clear_unless(const fs::path& p, fs::file_type keep)
{
  std::error_code ec;
  auto type = fs::symlink_status(p, ec).type();
  if (type == fs::file_type::not_found || type == fs::file_type::none || type == keep) return;
  fs::remove_all(p, ec);
  if (ec) throw Error(ExitCode::failed, fmt::format("cannot replace {}", p.string()), ec.message());
}

// dir / p for a member path p of the archive; throws when p would leave dir.
fs::path unpack_safe_path(const fs::path& dir, const std::string& p)
{
  fs::path rel = fs::path(p).lexically_normal();
  if (rel.is_absolute() || util::starts_with(rel.string(), ".."))
    throw Error(ExitCode::failed, "the backup archive is damaged", fmt::format("member '{}' escapes the data directory", p));
  return dir / rel;
}

// Puts a directory (type '5') or symbolic link ('2') of the archive in place under dir.
void unpack_place(const fs::path& dir, const std::string& path, char type, const std::string& link_target)
{
  fs::path p = unpack_safe_path(dir, path);
  std::error_code ec;
  if (type == '5') {
    unpack_clear_unless(p, fs::file_type::directory);
    fs::create_directories(p, ec);
    ::chmod(p.c_str(), 0700);
  } else if (type == '2') {
    fs::create_directories(p.parent_path(), ec);
    if (fs::symlink_status(p, ec).type() == fs::file_type::symlink && fs::read_symlink(p, ec) == fs::path(link_target)) return;
    unpack_clear_unless(p, fs::file_type::none);
    fs::create_symlink(link_target, p, ec);
  }
}

// Opens a restored file for writing (global/pg_control under its staged name), replacing
// whatever is in the way.
int unpack_open(const fs::path& dir, const std::string& path)
{
  fs::path p = unpack_safe_path(dir, path);
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  // pg_control goes into place last, so that PostgreSQL never starts a half-written directory.
  if (path == "global/pg_control") p = dir / k_pg_control_staged;
  unpack_clear_unless(p, fs::file_type::regular);
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ExitCode::failed, fmt::format("cannot write {}", p.string()), std::strerror(errno));
  return fd;
}

void unpack_write(int fd, std::string_view d)
{
  while (!d.empty()) {
    ssize_t n = ::write(fd, d.data(), d.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ExitCode::failed, "cannot write the restored data directory", std::strerror(errno), "check free space");
    }
    d.remove_prefix(static_cast<std::size_t>(n));
  }
}

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
  void begin(const TarEntry& e)
  {
    m_current = nullptr;
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
      m_fd = unpack_open(m_dir, e.path);
      m_hash.emplace();
      m_size = 0;
    } else if (!m_own) {
      return; // directories and symlinks come from the restored backup's own archive
    } else if (e.type == '5' || e.type == '2') {
      links_and_dirs.insert(unpack_entry_name(e.path));
      unpack_place(m_dir, e.path, e.type, e.link_target);
    }
  }
  void data(std::string_view d)
  {
    if (!m_current) return;
    m_hash->update(d);
    m_size += d.size();
    unpack_write(m_fd, d);
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

// A file a delta restore writes, where its holder's archive has its bytes.
struct Located {
  const ContentFile* file = nullptr;
  std::uint64_t offset = 0;
};

// The files to write of each backup of the chain that holds some (by backup ID), when every one
// of them can be read on its own: m lists its directories and symbolic links, each holder's
// base.tar.zst has a frame index and each file's offset is known. nullopt otherwise (a backup
// made before statectl recorded these: the archives are then read whole).
std::optional<std::unordered_map<std::string, std::vector<Located>>> locate_files(const std::vector<Manifest>& chain, const Manifest& m,
                                                                                   const std::unordered_set<std::string>& keep)
{
  if (!m.tree) return std::nullopt;
  std::unordered_map<std::string, const Manifest*> by_id;
  for (const auto& h : chain) by_id[h.id] = &h;
  std::unordered_map<std::string, std::unordered_map<std::string, std::int64_t>> offsets; // holder -> path -> offset
  std::unordered_map<std::string, std::vector<Located>> out;
  for (const auto& c : m.contents) {
    if (keep.count(c.path)) continue;
    const std::string& holder = c.reference.empty() ? m.id : c.reference;
    auto h = by_id.find(holder);
    if (h == by_id.end()) return std::nullopt;
    auto [held, fresh] = offsets.try_emplace(holder);
    if (fresh) {
      bool indexed = false;
      for (const auto& f : h->second->files)
        if (f.name == "base.tar.zst") indexed = f.frames.size() >= 2;
      if (!indexed) return std::nullopt;
      for (const auto& hc : h->second->contents)
        if (hc.reference.empty()) held->second[hc.path] = hc.offset;
    }
    auto at = held->second.find(c.path);
    if (at == held->second.end() || at->second < 0) return std::nullopt;
    out[holder].push_back({&c, static_cast<std::uint64_t>(at->second)});
  }
  return out;
}

// restore --delta's unpack when locate_files() found every file: the directories and symbolic
// links from m's manifest, then from each holder's archive only the frames that hold a file to
// write (core/backup/stream.h read_zstd_range), each file's size and SHA-256 checked.
UnpackStats unpack_located(const Repository& repo, const Manifest& m, const std::vector<Manifest>& chain, const fs::path& dir,
                           output::Printer& printer, bool tty, std::unordered_map<std::string, std::vector<Located>>& located)
{
  UnpackStats stats;
  for (const auto& t : *m.tree) {
    if (t.type != '5' && t.type != '2') continue;
    stats.links_and_dirs.insert(unpack_entry_name(t.path));
    unpack_place(dir, t.path, t.type, t.link_target);
  }
  auto damaged = [&](const std::string& why) {
    return Error(ExitCode::failed, fmt::format("backup {} is damaged", m.id), why, "run `statectl backup verify` and restore another backup with --backup");
  };
  std::uint64_t total = 0, done = 0, decoded = 0, archived = 0;
  for (const auto& [holder, files] : located)
    for (const auto& l : files) total += l.file->size;
  output::Progress progress(printer, "restore " + m.id, total, tty);
  for (const auto& h : chain) {
    auto it = located.find(h.id);
    if (it == located.end()) {
      if (&h != &chain.front()) ++stats.archives_skipped;
      continue;
    }
    auto& files = it->second;
    std::sort(files.begin(), files.end(), [](const Located& a, const Located& b) { return a.offset < b.offset; });
    const StoredFile* base = nullptr;
    for (const auto& f : h.files)
      if (f.name == "base.tar.zst") base = &f;
    const auto& frames = base->frames;
    archived += frames.back().raw;
    std::string key = Repository::backup_key(h.id, "base.tar.zst");
    LocalCopy copy = repo.storage().fetch(key);
    int fd = ::open(copy.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw damaged(fmt::format("{}: {}", key, std::strerror(errno)));
    struct CloseFd {
      int fd;
      ~CloseFd() { ::close(fd); }
    } close_fd{fd};
    // The raw offset where the frame holding `at` ends: files starting before it share the frames
    // being read, so one read serves them all.
    auto frame_end = [&](std::uint64_t at) {
      auto e = std::upper_bound(frames.begin(), frames.end(), at, [](std::uint64_t v, const FrameMark& f) { return v < f.raw; });
      return e == frames.end() ? frames.back().raw : e->raw;
    };
    for (std::size_t i = 0; i < files.size();) {
      std::size_t j = i + 1;
      std::uint64_t begin = files[i].offset, end = files[i].offset + files[i].file->size;
      while (j < files.size() && files[j].offset < frame_end(end == begin ? begin : end - 1)) {
        end = std::max(end, files[j].offset + files[j].file->size);
        ++j;
      }
      // Files i..j-1 from one read of [begin, end): each written and hashed as its bytes pass.
      std::size_t k = i;
      int out = -1;
      std::optional<Sha256> hash;
      std::uint64_t pos = begin, written = 0;
      auto close_file = [&] {
        ::close(out);
        out = -1;
        const ContentFile& c = *files[k].file;
        if (written != c.size || hash->hex() != c.sha256) throw damaged(fmt::format("{}: {}: checksum mismatch", key, c.path));
        ++stats.files;
        stats.bytes += written;
        done += written;
        progress.update(done);
        ++k;
      };
      auto open_file = [&] {
        out = unpack_open(dir, files[k].file->path);
        hash.emplace();
        written = 0;
      };
      // Empty files (no bytes to read) at the start.
      auto settle = [&] {
        while (k < j && out < 0) {
          open_file();
          if (files[k].file->size == 0) close_file();
          else break;
        }
      };
      struct CloseOut {
        int& fd;
        ~CloseOut() { if (fd >= 0) ::close(fd); }
      } close_out{out};
      settle();
      try {
        decoded += read_zstd_range(fd, frames, begin, end, [&](std::string_view d) {
          while (!d.empty() && k < j) {
            const Located& l = files[k];
            if (pos < l.offset) { // bytes of a file that is not written
              std::size_t skip = static_cast<std::size_t>(std::min<std::uint64_t>(l.offset - pos, d.size()));
              d.remove_prefix(skip);
              pos += skip;
              continue;
            }
            std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(l.file->size - written, d.size()));
            hash->update(d.substr(0, take));
            unpack_write(out, d.substr(0, take));
            written += take;
            pos += take;
            d.remove_prefix(take);
            if (written == l.file->size) {
              close_file();
              settle();
            }
          }
          pos += d.size();
        }, repo.cipher_key(), key);
      } catch (const Error& e) {
        if (e.what_failed() != key + " is damaged") throw; // a checksum mismatch above, or a write error
        throw damaged(fmt::format("{}: {}", key, e.why().empty() ? e.what_failed() : e.why()));
      }
      if (k < j) throw damaged(fmt::format("{}: {} is missing from the archive", key, files[k].file->path));
      i = j;
    }
  }
  progress.finish();
  printer.info(fmt::format("delta restore: decompressed {} of the {} in {} backup archive{} to write {} files ({})", util::format_size(decoded),
                           util::format_size(archived), located.size(), located.size() == 1 ? "" : "s", stats.files, util::format_size(stats.bytes)));
  return stats;
}

} // namespace

UnpackStats unpack_backup(const Repository& repo, const Manifest& m, const fs::path& dir, output::Printer& printer, bool tty,
                          const std::unordered_set<std::string>& keep)
{
  auto chain = backup_chain(repo, m);
  // A delta restore writes few files: read only their frames when the backups say where they are.
  if (!keep.empty())
    if (auto located = locate_files(chain, m, keep)) return unpack_located(repo, m, chain, dir, printer, tty, *located);
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

#include "core/backup/wal.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <fcntl.h>
#include <fmt/format.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

std::string segment_name(std::uint32_t tl, std::uint64_t segment, std::uint64_t segment_size)
{
  std::uint64_t per = 0x100000000ULL / segment_size;
  return fmt::format("{:08X}{:08X}{:08X}", tl, segment / per, segment % per);
}

static std::string sha_of_stored(const std::string& key)
{
  std::string f = key.substr(key.rfind('/') + 1);
  auto dash = f.rfind('-');
  return f.substr(dash + 1, 64);
}

PushResult push_wal(const Repository& repo, const fs::path& file, int level, int threads)
{
  PushResult r;
  r.name = file.filename().string();
  auto w = parse_wal_name(r.name);
  if (!w)
    throw Error(ExitCode::usage, fmt::format("cannot archive {}", file.string()), "not a WAL segment, .partial, .history or .backup file name");
  auto data = util::read_file(file);
  if (!data) throw Error(ExitCode::failed, fmt::format("cannot archive {}", r.name), data.error());
  std::string sha = sha256_hex(*data);
  if (auto existing = repo.find_wal(r.name)) {
    if (sha_of_stored(existing->key) == sha) {
      r.already_archived = true;
      r.stored = repo.location() + "/" + existing->key;
      r.stats.raw_size = data->size();
      r.stats.raw_sha256 = sha;
      return r;
    }
    throw Error(ExitCode::failed, fmt::format("cannot archive {}", r.name),
                fmt::format("the archive already holds {} with different content (sha256 {}, this file {})", r.name,
                            sha_of_stored(existing->key).substr(0, 12), sha.substr(0, 12)),
                "another cluster may be archiving into this repository; give each cluster its own [backup] repo");
  }
  std::string key = Repository::timeline_key(w->timeline) + fmt::format("{}-{}.zst", r.name, sha);
  fs::path staged = repo.storage().stage(key);
  {
    ZstdFileWriter out(staged, level, data->size() >= (4u << 20) ? threads : 1, 0640, repo.cipher_key());
    out.write(*data);
    r.stats = out.finish();
  }
  repo.storage().commit(key, staged);
  r.stored = repo.location() + "/" + key;
  return r;
}

fs::path wal_spool_dir(const config::Config& cfg) { return config::settings(cfg).state_dir / "wal-spool"; }

SpoolImport import_spool(const config::Config& cfg, const Repository& repo)
{
  SpoolImport r;
  fs::path spool = wal_spool_dir(cfg);
  std::error_code ec;
  if (!fs::is_directory(spool, ec)) return r;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(spool, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_regular_file(ec) || !parse_wal_name(name)) continue;
    files.push_back(e.path());
  }
  // History files first: a segment of a new timeline is only reachable through its history.
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    bool ha = a.extension() == ".history", hb = b.extension() == ".history";
    return ha != hb ? ha : a.filename() < b.filename();
  });
  int level = static_cast<int>(config::settings(cfg).backup.compress_level);
  int threads = static_cast<int>(config::settings(cfg).backup.threads);
  for (const auto& f : files) {
    try {
      push_wal(repo, f, level, threads);
    } catch (const Error& e) {
      if (e.code() != ExitCode::failed) throw;
      r.kept.push_back(fmt::format("{}: {}", f.filename().string(), e.why()));
      continue;
    }
    fs::remove(f, ec);
    ++r.imported;
  }
  return r;
}

bool fetch_wal(const Repository& repo, const std::string& name, const fs::path& dest)
{
  if (!parse_wal_name(name)) throw Error(ExitCode::usage, fmt::format("cannot fetch '{}'", name), "not a WAL file name");
  // A missing repository is not the end of the archive (exit 1): recovery must not stop early
  // because a mount is gone.
  std::error_code ec;
  if (!repo.root().empty() && !fs::is_directory(repo.root(), ec))
    throw Error(ExitCode::unavailable, fmt::format("cannot fetch '{}'", name),
                fmt::format("the backup repository {} does not exist", repo.location()), "check --repo or [backup] repo");
  auto found = repo.find_wal(name);
  if (!found) return false;
  std::string want = sha_of_stored(found->key);
  LocalCopy stored = repo.storage().fetch(found->key);
  fs::path tmp = dest.parent_path() / fmt::format(".{}.fetch.{}", dest.filename().string(), ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ExitCode::failed, fmt::format("cannot write {}", tmp.string()), std::strerror(errno));
  StreamStats st;
  try {
    st = read_zstd_file(
      stored.path(),
      [&](std::string_view chunk) {
      const char* p = chunk.data();
      std::size_t n = chunk.size();
      while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
          if (errno == EINTR) continue;
          throw Error(ExitCode::failed, fmt::format("cannot write {}", dest.string()), std::strerror(errno));
        }
        p += w;
        n -= static_cast<std::size_t>(w);
      }
    }, repo.cipher_key(), found->key);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (st.raw_sha256 != want) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(ExitCode::failed, fmt::format("archived WAL {} is damaged", name),
                fmt::format("sha256 {} does not match the recorded {}", st.raw_sha256.substr(0, 12), want.substr(0, 12)),
                "run `statectl backup verify` to see what else is affected");
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw Error(ExitCode::failed, fmt::format("cannot write {}", dest.string()), std::strerror(e));
  }
  return true;
}

std::vector<std::pair<std::uint32_t, std::uint64_t>> read_history(const Repository& repo, std::uint32_t tl)
{
  std::vector<std::pair<std::uint32_t, std::uint64_t>> out;
  auto found = repo.find_wal(fmt::format("{:08X}.history", tl));
  if (!found) return out;
  std::string text;
  read_zstd_file(repo.storage().fetch(found->key).path(), [&](std::string_view c) { text.append(c); }, repo.cipher_key(), found->key);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = util::trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string parent, lsn;
    ls >> parent >> lsn;
    auto l = parse_lsn(lsn);
    if (!l || parent.empty()) continue;
    out.emplace_back(static_cast<std::uint32_t>(std::stoul(parent)), *l);
  }
  return out;
}

WalChain check_wal_chain(const Repository& repo, std::uint32_t start_tl, std::uint64_t start_segment, std::uint64_t segment_size,
                         std::optional<std::uint64_t> until_segment)
{
  // The newest timeline whose history descends from start_tl; each segment is read from the
  // newest timeline of that path that had begun by then, as recovery does.
  std::uint32_t target = start_tl;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> path; // (timeline, first segment)
  path.emplace_back(start_tl, 0);
  for (std::uint32_t tl : repo.timelines()) {
    if (tl <= target) continue;
    auto hist = read_history(repo, tl);
    if (std::any_of(hist.begin(), hist.end(), [&](const auto& h) { return h.first == start_tl; })) {
      target = tl;
      path.clear();
      bool on = false;
      std::uint64_t begin = 0;
      for (const auto& [parent, lsn] : hist) {
        if (parent == start_tl) on = true;
        if (on) path.emplace_back(parent, begin);
        begin = lsn / segment_size;
      }
      path.emplace_back(tl, begin);
    }
  }
  auto tl_for = [&](std::uint64_t seg) {
    std::uint32_t t = path.front().first;
    for (const auto& [tl, first] : path)
      if (seg >= first) t = tl;
    return t;
  };
  std::map<std::uint32_t, std::vector<std::uint64_t>> present;
  WalChain c;
  c.timeline = target;
  c.first_segment = start_segment;
  std::uint64_t newest = start_segment;
  bool any = false;
  for (const auto& [tl, first] : path) {
    for (const auto& n : repo.wal_segments(tl)) {
      auto w = parse_wal_name(n, segment_size);
      if (!w) continue;
      present[tl].push_back(w->segment);
      if (w->segment >= start_segment && tl_for(w->segment) == tl && (!any || w->segment > newest)) {
        newest = w->segment;
        any = true;
      }
    }
  }
  auto has = [&](std::uint32_t tl, std::uint64_t seg) {
    auto& v = present[tl];
    return std::binary_search(v.begin(), v.end(), seg);
  };
  std::uint64_t end = until_segment ? std::max(*until_segment, newest) : newest;
  if (until_segment) end = *until_segment > newest ? *until_segment : newest;
  c.newest_segment = newest;
  c.newest_name = any ? segment_name(tl_for(newest), newest, segment_size) : "";
  c.last_contiguous = start_segment;
  bool have_first = has(tl_for(start_segment), start_segment);
  if (!have_first) {
    c.missing = segment_name(tl_for(start_segment), start_segment, segment_size);
    c.last_contiguous_name.clear();
    return c;
  }
  for (std::uint64_t s = start_segment; s <= end; ++s) {
    if (!has(tl_for(s), s)) {
      c.missing = segment_name(tl_for(s), s, segment_size);
      break;
    }
    c.last_contiguous = s;
  }
  c.last_contiguous_name = segment_name(tl_for(c.last_contiguous), c.last_contiguous, segment_size);
  if (auto p = repo.find_wal(c.last_contiguous_name)) c.last_contiguous_time_us = p->mtime_us;
  return c;
}

} // namespace statectl::backup

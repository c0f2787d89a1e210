#include "core/backup/repository.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/backup/cipher.h"
#include "core/backup/keys.h"
#include "core/backup/s3.h"
#include "core/backup/stream.h"
#include "core/config/config.h"
#include "core/error.h"
#include "core/exec/runner.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

std::optional<std::uint64_t> parse_lsn(std::string_view text)
{
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size() || slash > 8 || text.size() - slash - 1 > 8)
    return std::nullopt;
  std::uint64_t hi = 0, lo = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == slash) continue;
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    (i < slash ? hi : lo) = (i < slash ? hi : lo) * 16 + static_cast<std::uint64_t>(d);
  }
  return (hi << 32) | lo;
}

std::string format_lsn(std::uint64_t lsn) { return fmt::format("{:X}/{:X}", lsn >> 32, lsn & 0xffffffffu); }

std::string wal_segment_name(std::uint32_t timeline, std::uint64_t lsn, std::uint64_t segment_size)
{
  std::uint64_t seg = lsn / segment_size;
  std::uint64_t per = 0x100000000ULL / segment_size;
  return fmt::format("{:08X}{:08X}{:08X}", timeline, seg / per, seg % per);
}

static bool is_hex(std::string_view s)
{
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) && !std::islower(static_cast<unsigned char>(c)); });
}

std::optional<WalName> parse_wal_name(std::string_view name, std::uint64_t segment_size)
{
  WalName w;
  if (name.size() == 16 && util::ends_with(name, ".history") && is_hex(name.substr(0, 8))) {
    w.kind = WalName::Kind::history;
    w.timeline = static_cast<std::uint32_t>(std::stoul(std::string(name.substr(0, 8)), nullptr, 16));
    return w;
  }
  if (name.size() < 24 || !is_hex(name.substr(0, 24))) return std::nullopt;
  std::string_view rest = name.substr(24);
  if (rest.empty()) w.kind = WalName::Kind::segment;
  else if (rest == ".partial") w.kind = WalName::Kind::partial;
  else if (rest.size() == 16 && rest[0] == '.' && is_hex(rest.substr(1, 8)) && rest.substr(9) == ".backup") w.kind = WalName::Kind::backup;
  else return std::nullopt;
  w.timeline = static_cast<std::uint32_t>(std::stoul(std::string(name.substr(0, 8)), nullptr, 16));
  std::uint64_t log = std::stoull(std::string(name.substr(8, 8)), nullptr, 16);
  std::uint64_t seg = std::stoull(std::string(name.substr(16, 8)), nullptr, 16);
  w.segment = log * (0x100000000ULL / segment_size) + seg;
  return w;
}

std::int64_t now_us()
{
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_time(std::int64_t us)
{
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, us % 1000000);
}

std::optional<std::int64_t> parse_time(std::string_view t)
{
  std::string s = util::trim(t);
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!num(0, 4, y) || s.size() < 10 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' || !num(8, 2, d)) return std::nullopt;
  std::size_t pos = 10;
  std::int64_t frac_us = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
    if (!num(pos + 1, 2, h) || s.size() < pos + 6 || s[pos + 3] != ':' || !num(pos + 4, 2, mi)) return std::nullopt;
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!num(pos + 1, 2, sec)) return std::nullopt;
      pos += 3;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        std::int64_t scale = 100000;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
          frac_us += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
      }
    }
  }
  while (pos < s.size() && s[pos] == ' ') ++pos;
  int offset_min = 0;
  if (pos < s.size()) {
    if (s.substr(pos) == "Z" || s.substr(pos) == "UTC") {
      pos = s.size();
    } else if (s[pos] == '+' || s[pos] == '-') {
      int sign = s[pos] == '-' ? -1 : 1, oh = 0, om = 0;
      if (!num(pos + 1, 2, oh)) return std::nullopt;
      std::size_t p = pos + 3;
      if (p < s.size() && s[p] == ':') ++p;
      if (p < s.size() && !num(p, 2, om)) return std::nullopt;
      if (p < s.size()) p += 2;
      if (p != s.size()) return std::nullopt;
      offset_min = sign * (oh * 60 + om);
      pos = s.size();
    } else {
      return std::nullopt;
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::int64_t secs = static_cast<std::int64_t>(::timegm(&tm)) - offset_min * 60;
  return secs * 1000000 + frac_us;
}

std::uint64_t Manifest::size() const
{
  std::uint64_t n = 0;
  for (const auto& f : files) n += f.size;
  return n;
}

std::uint64_t Manifest::database_size() const
{
  std::uint64_t n = 0;
  for (const auto& c : contents) n += c.size;
  return n;
}

bool is_physical(const std::string& type) { return type == "full" || type == "diff" || type == "incr"; }

std::uint64_t Manifest::stored_size() const
{
  std::uint64_t n = 0;
  for (const auto& f : files) n += f.stored_size;
  return n;
}

nlohmann::json Manifest::to_json() const
{
  nlohmann::json j = {{"format", 1},
                      {"id", id},
                      {"type", type},
                      {"start_time", start_time},
                      {"stop_time", stop_time},
                      {"start_lsn", start_lsn},
                      {"stop_lsn", stop_lsn},
                      {"start_wal", start_wal},
                      {"stop_wal", stop_wal},
                      {"timeline", timeline},
                      {"system_identifier", system_identifier},
                      {"pg_version", pg_version},
                      {"wal_segment_size", wal_segment_size},
                      {"start_xid", start_xid},
                      {"stop_xid", stop_xid},
                      {"database", database},
                      {"compression", {{"algorithm", compression}, {"level", compress_level}}},
                      {"size", size()},
                      {"stored_size", stored_size()}};
  j["files"] = nlohmann::json::array();
  for (const auto& f : files) {
    nlohmann::json e = {{"name", f.name}, {"size", f.size}, {"stored_size", f.stored_size}, {"sha256", f.sha256}, {"stored_sha256", f.stored_sha256}};
    // [raw offset, compressed offset] of each frame: read by restore --delta, ignored by older statectl.
    if (!f.frames.empty()) {
      e["frames"] = nlohmann::json::array();
      for (const auto& fr : f.frames) e["frames"].push_back({fr.raw, fr.zstd});
    }
    j["files"].push_back(std::move(e));
  }
  j["contents"] = nlohmann::json::array();
  for (const auto& c : contents) {
    nlohmann::json e = {{"path", c.path}, {"size", c.size}, {"sha256", c.sha256}, {"mtime", c.mtime}};
    if (!c.reference.empty()) e["reference"] = c.reference;
    if (c.offset >= 0) e["offset"] = c.offset;
    j["contents"].push_back(std::move(e));
  }
  if (tree) {
    j["tree"] = nlohmann::json::array();
    for (const auto& t : *tree) {
      nlohmann::json e = {{"path", t.path}, {"type", t.type == '2' ? "symlink" : "directory"}};
      if (t.type == '2') e["target"] = t.link_target;
      j["tree"].push_back(std::move(e));
    }
  }
  if (!prior.empty()) {
    j["prior"] = prior;
    j["references"] = references;
  }
  return j;
}

Manifest Manifest::from_json(const nlohmann::json& j)
{
  Manifest m;
  m.id = j.value("id", "");
  m.type = j.value("type", "");
  m.start_time = j.value("start_time", "");
  m.stop_time = j.value("stop_time", "");
  m.start_lsn = j.value("start_lsn", "");
  m.stop_lsn = j.value("stop_lsn", "");
  m.start_wal = j.value("start_wal", "");
  m.stop_wal = j.value("stop_wal", "");
  m.timeline = j.value("timeline", 0u);
  m.system_identifier = j.value("system_identifier", "");
  m.pg_version = j.value("pg_version", "");
  m.wal_segment_size = j.value("wal_segment_size", std::uint64_t{16 * 1024 * 1024});
  m.start_xid = j.value("start_xid", std::uint64_t{0});
  m.stop_xid = j.value("stop_xid", std::uint64_t{0});
  m.database = j.value("database", "");
  if (j.contains("compression")) {
    m.compression = j["compression"].value("algorithm", "zstd");
    m.compress_level = j["compression"].value("level", 3);
  }
  for (const auto& f : j.value("files", nlohmann::json::array())) {
    StoredFile sf{f.value("name", ""), f.value("size", std::uint64_t{0}), f.value("stored_size", std::uint64_t{0}),
                  f.value("sha256", ""), f.value("stored_sha256", ""), {}};
    for (const auto& fr : f.value("frames", nlohmann::json::array()))
      if (fr.is_array() && fr.size() == 2) sf.frames.push_back({fr[0].get<std::uint64_t>(), fr[1].get<std::uint64_t>()});
    m.files.push_back(std::move(sf));
  }
  for (const auto& c : j.value("contents", nlohmann::json::array()))
    m.contents.push_back({c.value("path", ""), c.value("size", std::uint64_t{0}), c.value("sha256", ""), c.value("mtime", std::int64_t{0}),
                          c.value("reference", ""), c.value("offset", std::int64_t{-1})});
  if (j.contains("tree") && j["tree"].is_array()) {
    auto& t = m.tree.emplace();
    for (const auto& e : j["tree"])
      t.push_back({e.value("path", ""), e.value("type", "") == "symlink" ? '2' : '5', e.value("target", "")});
  }
  m.prior = j.value("prior", "");
  m.references = j.value("references", std::vector<std::string>{});
  return m;
}

Repository::Repository(fs::path root, std::string owner) : m_storage(std::make_shared<LocalStorage>(std::move(root), std::move(owner))) {}

Repository::Repository(std::shared_ptr<Storage> storage) : m_storage(std::move(storage)) {}

Repository Repository::at(const config::Config& cfg, const std::string& location)
{
  std::string owner = exec::running_as_root() ? cfg.get_string("local.run_as") : "";
  Repository repo = is_s3_location(location)
                      ? Repository(std::make_shared<S3Storage>(s3_settings(cfg, location), s3_credentials(cfg), s3_credentials_file(cfg), owner))
                      : Repository(fs::path(location), owner);
  if (cfg.get_string("backup.cipher") == "aes-256-gcm") {
    repo.m_cipher = true;
    repo.m_key_source = [cfg, owner](bool generate) { return repository_cipher_key(cfg, owner, generate); };
  }
  return repo;
}

const std::string& Repository::cipher_key() const
{
  if (m_cipher && m_key.empty()) m_key = m_key_source(false);
  return m_key;
}

Repository Repository::from_config(const config::Config& cfg)
{
  std::string repo = cfg.get_string("backup.repo");
  if (is_s3_location(repo)) return at(cfg, repo);
  return at(cfg, (repo.empty() ? cfg.state_dir() / "backups" : cfg.path("backup.repo")).string());
}

std::string Repository::location() const { return m_storage->location(); }

fs::path Repository::root() const { return m_storage->local_root(); }

std::string Repository::timeline_key(std::uint32_t tl) { return fmt::format("wal/{:08X}/", tl); }

void Repository::ensure() const
{
  m_storage->ensure();
  // The key is made on first use by a command that writes (backup create, wal push, deploy).
  if (m_cipher && m_key.empty()) m_key = m_key_source(true);
}

std::vector<BackupEntry> Repository::backups() const
{
  std::map<std::string, BackupEntry> by_id;
  for (const auto& o : m_storage->list("backups/")) {
    auto slash = o.key.find('/', 8);
    if (slash == std::string::npos) continue;
    std::string id = o.key.substr(8, slash - 8);
    auto& e = by_id[id];
    e.id = id;
    e.stored_bytes += o.size;
    if (o.key.substr(slash + 1) == "manifest.json") e.valid = true;
  }
  // A local folder can hold an empty backup directory (killed before its first file): incomplete.
  std::error_code ec;
  if (!root().empty())
    for (const auto& de : fs::directory_iterator(root() / "backups", ec)) {
      std::string id = de.path().filename().string();
      if (de.is_directory(ec) && !id.empty() && id.front() != '.') by_id[id].id = id;
    }
  std::vector<BackupEntry> out;
  for (auto& [id, e] : by_id) {
    if (e.valid) {
      e.manifest = manifest(id, &e.problem);
      e.valid = e.manifest.has_value();
    }
    out.push_back(std::move(e));
  }
  return out;
}

bool Repository::has_backup(const std::string& id) const { return !m_storage->list("backups/" + id + "/").empty(); }

std::optional<Manifest> Repository::manifest(const std::string& id, std::string* problem) const
{
  auto text = m_storage->get(backup_key(id, "manifest.json"));
  if (!text) return std::nullopt;
  try {
    // An encrypted repository accepts sealed manifests only: a plain one was put there by hand.
    if (m_cipher) *text = open_blob(cipher_key(), *text, backup_key(id, "manifest.json"));
    return Manifest::from_json(nlohmann::json::parse(*text));
  } catch (const Error& e) {
    if (e.code() != ExitCode::failed) throw;
    if (problem) *problem = e.why();
  } catch (const std::exception&) {
    if (problem) *problem = "not valid JSON";
  }
  return std::nullopt;
}

void Repository::write_manifest(const Manifest& m) const
{
  std::string text = m.to_json().dump(2) + "\n";
  m_storage->put(backup_key(m.id, "manifest.json"), m_cipher ? seal_blob(cipher_key(), text) : text);
}

void Repository::remove_backup(const std::string& id) const
{
  m_storage->remove(backup_key(id, "manifest.json"));
  m_storage->remove_prefix("backups/" + id + "/");
}

std::vector<ObjectInfo> Repository::wal_objects(std::uint32_t tl) const { return m_storage->list(timeline_key(tl)); }

std::optional<ObjectInfo> Repository::find_wal(const std::string& name) const
{
  auto w = parse_wal_name(name);
  if (!w) return std::nullopt;
  std::string prefix = timeline_key(w->timeline) + name + "-";
  for (auto& o : m_storage->list(prefix))
    if (util::ends_with(o.key, ".zst") && o.key.size() == prefix.size() + 64 + 4) return o;
  return std::nullopt;
}

// The segment name an archived object holds ("<name>-<sha>.zst"), or nothing for another object.
static std::optional<std::string> segment_of(const ObjectInfo& o)
{
  std::string f = o.key.substr(o.key.rfind('/') + 1);
  if (f.size() == 24 + 1 + 64 + 4 && f[24] == '-' && util::ends_with(f, ".zst")) return f.substr(0, 24);
  return std::nullopt;
}

std::vector<std::string> Repository::wal_segments(std::uint32_t tl) const
{
  std::vector<std::string> out;
  for (const auto& o : wal_objects(tl))
    if (auto name = segment_of(o)) out.push_back(*name);
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, ObjectInfo> Repository::archived_segments() const
{
  std::map<std::string, ObjectInfo> out;
  for (auto tl : timelines())
    for (auto& o : wal_objects(tl))
      if (auto name = segment_of(o)) out.emplace(*name, std::move(o));
  return out;
}

std::vector<std::uint32_t> Repository::timelines() const
{
  std::set<std::uint32_t> out;
  for (const auto& o : m_storage->list("wal/")) {
    if (o.key.size() < 13 || o.key[12] != '/') continue;
    std::string f = o.key.substr(4, 8);
    if (is_hex(f)) out.insert(static_cast<std::uint32_t>(std::stoul(f, nullptr, 16)));
  }
  return {out.begin(), out.end()};
}

void Repository::record_failure(const std::string& what) const
{
  // A local repository that was never created is not created just to hold the failure.
  std::error_code ec;
  if (!root().empty() && !fs::is_directory(root(), ec)) return;
  nlohmann::json j = {{"time", format_time(now_us())}, {"message", what}};
  try {
    std::string text = j.dump() + "\n";
    m_storage->put("last_failure.json", m_cipher ? seal_blob(cipher_key(), text) : text);
  } catch (const Error&) {
  }
}

std::optional<nlohmann::json> Repository::last_failure() const
{
  try {
    auto text = m_storage->get("last_failure.json");
    if (!text) return std::nullopt;
    if (m_cipher) *text = open_blob(cipher_key(), *text, "last_failure.json");
    return nlohmann::json::parse(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

RepoLock::RepoLock(const Repository& repo, const std::string& purpose)
{
  repo.ensure();
  fs::path p = repo.storage().lock_path();
  m_fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (m_fd < 0) throw Error(ExitCode::failed, fmt::format("cannot open {}", p.string()), std::strerror(errno));
  if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[256] = {};
    [[maybe_unused]] auto n = ::pread(m_fd, buf, sizeof buf - 1, 0);
    std::string holder = util::trim(buf);
    ::close(m_fd);
    m_fd = -1;
    throw Error(ExitCode::lock_timeout, "backup already running",
                holder.empty() ? "the repository is locked by another statectl" : "the repository is locked by " + holder,
                "wait for it to finish, or check `statectl backup info`");
  }
  std::string me = fmt::format("{} (pid {}, since {})", purpose, ::getpid(), format_time(now_us()));
  if (::ftruncate(m_fd, 0) == 0) [[maybe_unused]] auto n = ::pwrite(m_fd, me.data(), me.size(), 0);
}

RepoLock::~RepoLock()
{
  if (m_fd >= 0) {
    [[maybe_unused]] auto r = ::ftruncate(m_fd, 0);
    ::close(m_fd);
  }
}

} // namespace statectl::backup

#include "core/secrets/store.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <regex>
#include <sys/stat.h>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/tls.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::secrets {

namespace fs = std::filesystem;

static const std::string k_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const std::string& password_alphabet() { return k_alphabet; }

std::string generate_password(std::size_t length)
{
  // Rejection sampling: bytes at or above the largest multiple of the alphabet size are drawn
  // again, so every symbol is equally likely. With 64 symbols nothing is rejected; the loop
  // stays correct if the alphabet ever changes to a size that does not divide 256.
  const unsigned limit = 256 - (256 % k_alphabet.size());
  std::string out;
  out.reserve(length);
  unsigned char buf[64];
  while (out.size() < length) {
    if (RAND_bytes(buf, sizeof buf) != 1) throw Error(ExitCode::failed, "cannot generate a password", "OpenSSL RAND_bytes failed");
    for (unsigned char b : buf) {
      if (b >= limit) continue;
      out += k_alphabet[b % k_alphabet.size()];
      if (out.size() == length) break;
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return out;
}

std::string kind_of(const std::string& name, const std::string& value)
{
  if (name == k_ca_cert) return "tls-ca";
  if (name == k_tls_cert || util::ends_with(name, ".crt")) return "tls-cert";
  if (name == k_ca_key || name == k_tls_key || util::ends_with(name, ".key")) return "tls-key";
  if (util::starts_with(value, "-----BEGIN CERTIFICATE")) return "tls-cert";
  if (value.find("PRIVATE KEY-----") != std::string::npos) return "tls-key";
  return "password";
}

std::string utc_now_iso()
{
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

static std::string utc_stamp()
{
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

static KeySource key_source(const config::Config& cfg, const char* env_value)
{
  KeySource k;
  if (env_value) k.env_value = env_value;
  k.key_file = config::settings(cfg).secrets.key_file_path;
  return k;
}

static fs::path store_dir(const config::Config& cfg)
{
  return config::settings(cfg).secrets.dir.empty() ? config::settings(cfg).state_dir / "secrets" : config::settings(cfg).secrets.dir_path;
}

Store::Store(const config::Config& cfg) : m_dir(store_dir(cfg)), m_keys(key_source(cfg, std::getenv("STATECTL_MASTER_KEY"))) {}

Store::Store(const config::Config& cfg, const std::map<std::string, std::string>& environment) : m_dir(store_dir(cfg))
{
  auto it = environment.find("STATECTL_MASTER_KEY");
  m_keys = key_source(cfg, it == environment.end() ? nullptr : it->second.c_str());
}

Store::Store(fs::path dir) : m_dir(std::move(dir)) {}

Store::Store(fs::path dir, KeySource keys) : m_dir(std::move(dir)), m_keys(std::move(keys)) {}

static void check_private(const fs::path& path, bool is_dir)
{
  int mode = util::file_mode(path);
  if (mode < 0) return;
  if (mode & 077)
    throw Error(ExitCode::usage, fmt::format("refusing to read {}", path.string()),
                fmt::format("its mode is {:04o}, readable by group or others", mode),
                fmt::format("run: chmod {} {}", is_dir ? "0700" : "0600", path.string()));
}

static void check_name(const std::string& name)
{
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.' &&
            std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
  if (!ok) throw Error(ExitCode::usage, fmt::format("invalid secret name '{}'", name), "use letters, digits, '-', '_' and '.', not starting with '.'");
}

const MasterKey& Store::master_key() const
{
  if (m_key) return *m_key;
  const std::string hint_env = "set STATECTL_MASTER_KEY or [secrets] key_file to the key the store was written with";
  if (!m_keys.env_value.empty()) {
    auto k = MasterKey::parse(m_keys.env_value);
    if (!k) throw Error(ExitCode::usage, "invalid STATECTL_MASTER_KEY", k.error(), "create a key with: statectl secrets keygen");
    m_key = *k;
    return *m_key;
  }
  if (m_keys.key_file.empty())
    throw Error(ExitCode::usage, "no master key configured", "", "set STATECTL_MASTER_KEY or [secrets] key_file");
  const fs::path& kf = m_keys.key_file;
  std::error_code ec;
  if (!fs::exists(kf, ec))
    throw Error(ExitCode::usage, fmt::format("cannot read master key file {}", kf.string()), "no such file",
                fmt::format("create it with: statectl secrets keygen --out {}", kf.string()));
  check_private(kf, false);
  auto data = util::read_file(kf);
  if (!data) throw Error(ExitCode::usage, fmt::format("cannot read master key file {}", kf.string()), data.error());
  auto k = MasterKey::parse(*data);
  OPENSSL_cleanse(data->data(), data->size());
  if (!k) throw Error(ExitCode::usage, fmt::format("invalid master key file {}", kf.string()), k.error(),
                      fmt::format("create a new one with: statectl secrets keygen --out {}", kf.string()));
  m_key = *k;
  return *m_key;
}

std::string Store::decode(const std::string& name, const std::string& data, const fs::path& path) const
{
  if (!is_encrypted(data)) return data;
  if (!encrypting())
    throw Error(ExitCode::usage, fmt::format("cannot read secret '{}'", name), "it is encrypted and no master key is configured",
                "set STATECTL_MASTER_KEY or [secrets] key_file to the key the store was written with");
  const MasterKey& key = master_key();
  auto plain = decrypt(key, data, name);
  if (plain) return *plain;
  switch (plain.error().kind) {
  case DecryptError::wrong_key:
    throw Error(ExitCode::usage, fmt::format("cannot decrypt secret '{}'", name),
                fmt::format("wrong master key: {} was encrypted with key id {}, the configured key has id {}", path.string(),
                            plain.error().file_key_id, key.id()),
                "set STATECTL_MASTER_KEY or [secrets] key_file to the key the store was written with");
  case DecryptError::tampered:
    throw Error(ExitCode::failed, fmt::format("cannot decrypt secret '{}'", name),
                fmt::format("authentication failed: {} was modified or is corrupt", path.string()),
                fmt::format("restore it from {} or replace it with 'statectl secrets rotate {}'", (m_dir / ".backup").string(), name));
  case DecryptError::malformed:
    break;
  }
  throw Error(ExitCode::failed, fmt::format("cannot decrypt secret '{}'", name), fmt::format("{} is truncated", path.string()),
              fmt::format("replace it with 'statectl secrets rotate {}'", name));
}

std::optional<std::string> Store::get(const std::string& name) const
{
  check_name(name);
  fs::path p = m_dir / name;
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    // exists() is also false when the store cannot be searched: that is not "absent".
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
      throw Error(ExitCode::failed, fmt::format("cannot read secret '{}'", name), fmt::format("{}: {}", p.string(), ec.message()),
                  "run statectl as the user that owns the secret store");
    return std::nullopt;
  }
  check_private(m_dir, true);
  check_private(p, false);
  auto data = util::read_file(p);
  if (!data) throw Error(ExitCode::failed, fmt::format("cannot read secret '{}'", name), data.error());
  std::string value = decode(name, *data, p);
  exec::register_secret(value);
  return value;
}

std::string Store::require(const std::string& name) const
{
  auto v = get(name);
  if (!v)
    throw Error(ExitCode::usage, fmt::format("secret '{}' not found in {}", name, m_dir.string()), "",
                "run 'statectl secrets generate' (or 'statectl deploy', which generates what is missing)");
  return *v;
}

void Store::create_dirs()
{
  for (const fs::path& d : {m_dir, m_dir / ".meta", m_dir / ".backup", m_dir / ".journal"}) {
    if (auto r = util::make_dirs(d, 0700); !r) throw Error(ExitCode::failed, "cannot create secret store", r.error());
    ::chmod(d.c_str(), 0700);
  }
}

static std::string read_meta_field(const nlohmann::json& j, const char* key)
{
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void Store::write_metadata(const std::string& name, const Metadata& meta)
{
  nlohmann::json j = {{"kind", meta.kind}, {"created", meta.created}, {"rotated", meta.rotated}, {"expires", meta.expires}};
  if (auto r = util::write_file_atomic(m_dir / ".meta" / (name + ".json"), j.dump(2) + "\n", 0600); !r)
    throw Error(ExitCode::failed, fmt::format("cannot write metadata of secret '{}'", name), r.error());
}

void Store::put(const std::string& name, const std::string& value)
{
  check_name(name);
  exec::register_secret(value);
  create_dirs();
  Metadata meta = metadata(name);
  bool existed = exists(name);
  std::string data = encrypting() ? encrypt(master_key(), value, name) : value;
  if (auto r = util::write_file_atomic(m_dir / name, data, 0600); !r)
    throw Error(ExitCode::failed, fmt::format("cannot write secret '{}'", name), r.error());
  meta.kind = kind_of(name, value);
  if (!existed || meta.created.empty()) meta.created = utc_now_iso();
  meta.expires.clear();
  if (meta.kind == "tls-cert" || meta.kind == "tls-ca")
    if (auto info = tls::inspect(value)) meta.expires = info->not_after_iso;
  write_metadata(name, meta);
}

fs::path Store::replace(const std::string& name, const std::string& value)
{
  check_name(name);
  fs::path backup;
  if (exists(name)) {
    // Reading first proves the current file is ours to replace (mode, key) before anything moves.
    get(name);
    create_dirs();
    std::string stamp = utc_stamp();
    backup = m_dir / ".backup" / fmt::format("{}.{}", name, stamp);
    for (int i = 1; fs::exists(backup); ++i) backup = m_dir / ".backup" / fmt::format("{}.{}-{}", name, stamp, i);
    auto raw = util::read_file(m_dir / name);
    if (!raw) throw Error(ExitCode::failed, fmt::format("cannot back up secret '{}'", name), raw.error());
    if (auto r = util::write_file_atomic(backup, *raw, 0600); !r)
      throw Error(ExitCode::failed, fmt::format("cannot back up secret '{}'", name), r.error());
  }
  put(name, value);
  if (!backup.empty()) {
    Metadata meta = metadata(name);
    meta.rotated = utc_now_iso();
    write_metadata(name, meta);
  }
  return backup;
}

std::string Store::ensure(const std::string& name, std::size_t length)
{
  if (auto v = get(name)) return *v;
  std::string value = generate_password(length);
  put(name, value);
  return value;
}

bool Store::exists(const std::string& name) const
{
  check_name(name);
  std::error_code ec;
  return fs::is_regular_file(m_dir / name, ec);
}

std::vector<std::string> Store::names() const
{
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(m_dir, ec))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

Metadata Store::metadata(const std::string& name) const
{
  check_name(name);
  Metadata meta;
  fs::path mp = m_dir / ".meta" / (name + ".json");
  std::error_code ec;
  if (fs::exists(mp, ec)) {
    if (auto text = util::read_file(mp)) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object()) {
        meta.kind = read_meta_field(j, "kind");
        meta.created = read_meta_field(j, "created");
        meta.rotated = read_meta_field(j, "rotated");
        meta.expires = read_meta_field(j, "expires");
      }
    }
  }
  fs::path p = m_dir / name;
  if (fs::is_regular_file(p, ec)) {
    if (auto raw = util::read_file(p)) {
      meta.encrypted = is_encrypted(*raw);
      // A file written before metadata existed (or by hand): infer what can be inferred.
      if (meta.kind.empty()) meta.kind = kind_of(name, meta.encrypted ? std::string() : *raw);
      if (meta.expires.empty() && !meta.encrypted && (meta.kind == "tls-cert" || meta.kind == "tls-ca"))
        if (auto info = tls::inspect(*raw)) meta.expires = info->not_after_iso;
    }
    if (meta.created.empty()) {
      struct stat st {};
      if (::stat(p.c_str(), &st) == 0) {
        std::tm tm{};
        ::gmtime_r(&st.st_mtime, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        meta.created = buf;
      }
    }
  }
  meta.backups = static_cast<int>(backups(name).size());
  return meta;
}

std::vector<fs::path> Store::backups(const std::string& name) const
{
  static const std::regex stamp_re(R"(\d{8}T\d{6}Z(-\d+)?)");
  std::vector<fs::path> out;
  std::error_code ec;
  std::string prefix = name + ".";
  for (const auto& e : fs::directory_iterator(m_dir / ".backup", ec)) {
    std::string f = e.path().filename().string();
    if (f.size() > prefix.size() && f.compare(0, prefix.size(), prefix) == 0 && std::regex_match(f.substr(prefix.size()), stamp_re))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Store::begin_rotation(const Rotation& rotation)
{
  check_name(rotation.name);
  create_dirs();
  std::string text = nlohmann::json{{"old", rotation.old_value}, {"new", rotation.new_value}}.dump();
  std::string data = encrypting() ? encrypt(master_key(), text, ".journal/" + rotation.name) : text;
  if (auto r = util::write_file_atomic(m_dir / ".journal" / rotation.name, data, 0600); !r)
    throw Error(ExitCode::failed, fmt::format("cannot journal the rotation of secret '{}'", rotation.name), r.error());
}

std::optional<Rotation> Store::rotation(const std::string& name) const
{
  check_name(name);
  fs::path p = m_dir / ".journal" / name;
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  check_private(p, false);
  auto data = util::read_file(p);
  if (!data) throw Error(ExitCode::failed, fmt::format("cannot read the rotation journal of secret '{}'", name), data.error());
  auto j = nlohmann::json::parse(decode(".journal/" + name, *data, p), nullptr, false);
  if (!j.is_object() || !j.contains("old") || !j.contains("new") || !j["old"].is_string() || !j["new"].is_string())
    throw Error(ExitCode::failed, fmt::format("cannot read the rotation journal of secret '{}'", name), p.string() + " is malformed");
  Rotation r{name, j["old"].get<std::string>(), j["new"].get<std::string>()};
  exec::register_secret(r.old_value);
  exec::register_secret(r.new_value);
  return r;
}

std::vector<std::string> Store::rotations() const
{
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(m_dir / ".journal", ec))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return std::make_pair(a != "postgres", a) < std::make_pair(b != "postgres", b);
  });
  return out;
}

void Store::end_rotation(const std::string& name)
{
  check_name(name);
  std::error_code ec;
  fs::remove(m_dir / ".journal" / name, ec);
  if (ec) throw Error(ExitCode::failed, fmt::format("cannot remove the rotation journal of secret '{}'", name), ec.message());
}

std::vector<std::string> Store::login_candidates(const std::string& name) const
{
  std::vector<std::string> out;
  if (auto v = get(name)) out.push_back(*v);
  if (auto r = rotation(name))
    for (const auto* v : {&r->new_value, &r->old_value})
      if (std::find(out.begin(), out.end(), *v) == out.end()) out.push_back(*v);
  return out;
}

} // namespace statectl::secrets

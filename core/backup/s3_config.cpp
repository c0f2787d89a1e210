// S3 repository settings: the s3:// URL, endpoint and URL style, and where credentials come from.
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <unistd.h>

#include "core/backup/s3.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/exec/runner.h"
#include "core/secrets/store.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

bool is_s3_location(std::string_view text) { return util::starts_with(text, "s3://"); }

std::optional<std::pair<std::string, std::string>> parse_s3_url(std::string_view text)
{
  if (!is_s3_location(text)) return std::nullopt;
  std::string rest(text.substr(5));
  auto slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  // S3 bucket names: 3-63 of [a-z0-9.-], starting and ending with a letter or digit.
  if (bucket.size() < 3 || bucket.size() > 63) return std::nullopt;
  for (char c : bucket)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return std::nullopt;
  if (!std::isalnum(static_cast<unsigned char>(bucket.front())) || !std::isalnum(static_cast<unsigned char>(bucket.back()))) return std::nullopt;
  if (!prefix.empty() && (prefix.front() == '/' || prefix.find("//") != std::string::npos)) return std::nullopt;
  return std::make_pair(bucket, prefix);
}

std::string s3_encode(std::string_view text, bool keep_slash)
{
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string s3_query(const std::map<std::string, std::string>& params)
{
  // std::map sorts by name: the order SigV4's canonical query needs (libcurl signs it as sent).
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += s3_encode(k, false) + "=" + s3_encode(v, false);
  }
  return out;
}

std::string s3_url(const S3Settings& s, const std::string& key, const std::string& query)
{
  std::string endpoint = s.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  std::string path = s.prefix.empty() || key.empty() ? key : s.prefix + "/" + key;
  std::string url;
  if (s.path_style) {
    url = fmt::format("{}/{}/{}", endpoint, s.bucket, s3_encode(path, true));
  } else {
    auto scheme_end = endpoint.find("://");
    std::string scheme = scheme_end == std::string::npos ? "https://" : endpoint.substr(0, scheme_end + 3);
    std::string host = scheme_end == std::string::npos ? endpoint : endpoint.substr(scheme_end + 3);
    url = fmt::format("{}{}.{}/{}", scheme, s.bucket, host, s3_encode(path, true));
  }
  if (!query.empty()) url += "?" + query;
  return url;
}

S3Settings s3_settings(const config::Config& cfg, const std::string& location)
{
  S3Settings s;
  auto parsed = parse_s3_url(location);
  if (!parsed)
    throw Error(ExitCode::usage, fmt::format("invalid [backup] repo '{}'", location), "an S3 repository is s3://BUCKET[/PREFIX] with a valid bucket name",
                "example: repo = \"s3://my-backups/cluster1\"");
  s.bucket = parsed->first;
  s.prefix = parsed->second;
  s.region = config::settings(cfg).backup.s3_region;
  s.endpoint = config::settings(cfg).backup.s3_endpoint;
  if (s.endpoint.empty()) s.endpoint = fmt::format("https://s3.{}.amazonaws.com", s.region);
  if (!util::starts_with(s.endpoint, "http://") && !util::starts_with(s.endpoint, "https://"))
    throw Error(ExitCode::usage, fmt::format("invalid [backup] s3_endpoint '{}'", s.endpoint), "it must start with https:// or http://");
  s.path_style = config::settings(cfg).backup.s3_uri_style == "path";
  if (!config::settings(cfg).backup.s3_ca_file.empty()) s.ca_file = config::settings(cfg).backup.s3_ca_file_path.string();
  s.part_size = config::settings(cfg).backup.s3_part_size;
  if (s.part_size < (5u << 20) || s.part_size > (5ull << 30))
    throw Error(ExitCode::usage, fmt::format("invalid [backup] s3_part_size {}", util::format_size(s.part_size)),
                "S3 parts are between 5 MiB and 5 GiB");
  return s;
}

fs::path s3_credentials_file(const config::Config& cfg)
{
  if (!config::settings(cfg).backup.s3_credentials_file.empty()) return config::settings(cfg).backup.s3_credentials_file_path;
  return config::settings(cfg).state_dir / "s3-credentials";
}

S3Credentials s3_credentials(const config::Config& cfg)
{
  S3Credentials c;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  c.access_key_id = env("AWS_ACCESS_KEY_ID");
  c.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
  c.session_token = env("AWS_SESSION_TOKEN");
  c.source = "the environment";
  if (c.empty()) {
    c = {};
    // The store may be unreadable (the archiver runs as the server user): then try the file.
    try {
      secrets::Store store(cfg);
      if (store.exists("s3_access_key_id") && store.exists("s3_secret_access_key")) {
        c.access_key_id = store.require("s3_access_key_id");
        c.secret_access_key = store.require("s3_secret_access_key");
        c.session_token = store.get("s3_session_token").value_or("");
        c.source = "the secret store";
      }
    } catch (const Error&) {
    }
  }
  if (c.empty()) {
    c = {};
    fs::path file = s3_credentials_file(cfg);
    if (auto text = util::read_file(file)) {
      try {
        auto j = nlohmann::json::parse(*text);
        c.access_key_id = j.value("access_key_id", "");
        c.secret_access_key = j.value("secret_access_key", "");
        c.session_token = j.value("session_token", "");
        c.source = file.string();
      } catch (const std::exception&) {
        throw Error(ExitCode::usage, fmt::format("cannot read S3 credentials from {}", file.string()), "the file is not valid JSON",
                    "remove it; the next `statectl backup create` with AWS_ACCESS_KEY_ID set writes it again");
      }
    }
  }
  exec::register_secret(c.secret_access_key);
  exec::register_secret(c.session_token);
  return c;
}

void S3Storage::save_credentials_file()
{
  // Only credentials from the environment or the store are copied; the file is their copy.
  if (m_credentials.empty() || m_credentials.source == m_credentials_file.string() || m_credentials_file.empty()) return;
  nlohmann::json j = {{"access_key_id", m_credentials.access_key_id}, {"secret_access_key", m_credentials.secret_access_key}};
  if (!m_credentials.session_token.empty()) j["session_token"] = m_credentials.session_token;
  std::string text = j.dump() + "\n";
  if (auto old = util::read_file(m_credentials_file); old && *old == text) return;
  if (auto r = util::make_dirs(m_credentials_file.parent_path(), 0755); !r) return;
  // Not fatal: a user who cannot write it (the archiver itself) has the credentials already.
  if (auto r = util::write_file_atomic(m_credentials_file, text, 0600); !r) return;
  if (!m_owner.empty() && exec::running_as_root())
    if (struct passwd* pw = ::getpwnam(m_owner.c_str())) [[maybe_unused]] auto rc = ::chown(m_credentials_file.c_str(), pw->pw_uid, pw->pw_gid);
}

} // namespace statectl::backup

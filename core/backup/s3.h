#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/backup/storage.h"
#include "core/config/config_fwd.h"

namespace statectl::backup {

// The key pair (and optional session token) S3 requests are signed with, and where it came
// from ("environment", "secret store", or the credentials file's path) for messages. The values
// are registered with exec::redact as soon as they are read.
struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string source;
  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
};

// Where an S3 repository is and how to talk to it.
struct S3Settings {
  std::string bucket;
  std::string prefix;   // no leading or trailing '/', may be empty
  std::string endpoint; // "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000"
  std::string region = "us-east-1";
  bool path_style = false; // true: endpoint/bucket/key; false: bucket.endpoint-host/key
  std::string ca_file;     // extra CA bundle for a private endpoint
  std::uint64_t part_size = 16u << 20; // multipart upload above this size, in parts of it
  int attempts = 5;                    // tries per request on a network error, 5xx or 429
};

// Splits "s3://bucket/some/prefix" into bucket and prefix; nullopt when text is not such a URL
// or the bucket name is not a valid S3 bucket name.
std::optional<std::pair<std::string, std::string>> parse_s3_url(std::string_view text);

// True when a [backup] repo value names object storage ("s3://...").
bool is_s3_location(std::string_view text);

// The URL of key in the repository (key relative to the prefix; empty key: the bucket itself),
// with the query (already sorted, percent-encoded "a=1&b=2") appended.
std::string s3_url(const S3Settings& s, const std::string& key, const std::string& query = {});

// Percent-encodes text as SigV4 wants (RFC 3986 unreserved characters kept; '/' kept when
// keep_slash).
std::string s3_encode(std::string_view text, bool keep_slash);

// Builds a canonical query string from parameters: sorted by name, each "name=value" encoded.
std::string s3_query(const std::map<std::string, std::string>& params);

// Reads the settings of cfg's [backup] section for the repository URL location. Throws
// Error(usage) naming the key when a value is invalid.
S3Settings s3_settings(const config::Config& cfg, const std::string& location);

// The credentials file the archiver reads: [backup] s3_credentials_file, else
// <state dir>/s3-credentials.
std::filesystem::path s3_credentials_file(const config::Config& cfg);

// The credentials to sign with: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
// from the environment, else the secret store's s3_access_key_id / s3_secret_access_key /
// s3_session_token, else the 0600 credentials file. Empty when none has them.
S3Credentials s3_credentials(const config::Config& cfg);

// An S3-compatible repository. Requests are signed by libcurl (AWS Signature V4), carry the
// payload's SHA-256 (and Content-MD5) so that the server rejects damaged uploads, and are
// retried with exponential backoff on network errors, 5xx and 429. Files are staged in a
// private temporary folder and uploaded on commit, in parts above part_size.
class S3Storage : public Storage {
public:
  // credentials_file is rewritten (0600, owner) from env or store credentials on ensure(), so
  // that the archiver, running as the server user without them, can sign its requests.
  S3Storage(S3Settings settings, S3Credentials credentials, std::filesystem::path credentials_file, std::string owner);
  ~S3Storage() override;

  std::string location() const override;
  void ensure() override;
  std::filesystem::path stage(const std::string& key) override;
  void commit(const std::string& key, const std::filesystem::path& staged) override;
  void discard(const std::filesystem::path& staged) override;
  void put(const std::string& key, std::string_view data) override;
  std::optional<std::string> get(const std::string& key) override;
  LocalCopy fetch(const std::string& key) override;
  std::vector<ObjectInfo> list(const std::string& prefix) override;
  void remove(const std::string& key) override;
  void remove_prefix(const std::string& prefix) override;
  std::filesystem::path lock_path() const override;

  // One HTTP exchange's outcome.
  struct Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers; // lower-case names
  };

private:
  Response request(const std::string& method, const std::string& key, const std::string& query, std::string_view body,
                   const std::filesystem::path* download_to = nullptr);
  Response send_once(const std::string& method, const std::string& url, std::string_view body, const std::filesystem::path* download_to,
                     std::string& transport_error);
  void upload_file(const std::string& key, const std::filesystem::path& file);
  const std::filesystem::path& spool();
  void save_credentials_file();
  [[noreturn]] void fail(const std::string& what, const Response& r) const;

  S3Settings m_settings;
  S3Credentials m_credentials;
  std::filesystem::path m_credentials_file;
  std::string m_owner;
  std::filesystem::path m_spool;
  void* m_curl = nullptr;
};

} // namespace statectl::backup

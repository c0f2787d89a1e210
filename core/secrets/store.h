#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/secrets/crypto.h"

namespace statectl::secrets {

// Names of the passwords the stack needs; `secrets generate` with no names creates these.
inline const std::vector<std::string>& stack_secret_names()
{
  static const std::vector<std::string> names = {"postgres", "replication", "app", "pgbouncer", "redis"};
  return names;
}

// Names of the TLS material `secrets tls` writes. ca.key never leaves the store.
inline constexpr const char* k_ca_cert = "ca.crt";
inline constexpr const char* k_ca_key = "ca.key";
inline constexpr const char* k_tls_cert = "tls.crt";
inline constexpr const char* k_tls_key = "tls.key";
// The PostgreSQL application role's client certificate (CN = [postgres] app_user), signed by the
// same CA: the local stack's state commands log in to PgBouncer with it (a `cert` hba line).
inline constexpr const char* k_app_cert = "pg-app.crt";
inline constexpr const char* k_app_key = "pg-app.key";

// The default password length and the accepted range of --length.
inline constexpr std::size_t k_default_length = 32;
inline constexpr std::size_t k_min_length = 16;
inline constexpr std::size_t k_max_length = 1024;

// The URL-safe alphabet passwords are drawn from: [A-Za-z0-9_-], 64 symbols.
const std::string& password_alphabet();

// A generated password: `length` characters of password_alphabet(), drawn with OpenSSL
// RAND_bytes by rejection sampling (no modulo bias).
std::string generate_password(std::size_t length = k_default_length);

// What a stored secret is: "password", "tls-ca", "tls-cert" or "tls-key".
std::string kind_of(const std::string& name, const std::string& value);

// What `secrets list` shows about a secret; never its value.
struct Metadata {
  std::string kind;     // password, tls-ca, tls-cert, tls-key
  std::string created;  // ISO 8601 UTC ("2026-11-22T03:40:00Z")
  std::string rotated;  // empty when never rotated
  std::string expires;  // certificates: notAfter, ISO 8601 UTC; empty otherwise
  bool encrypted = false;
  int backups = 0;
};

// A password change in progress (`secrets rotate --apply`): both values, so that whichever the
// servers hold after a crash is known.
struct Rotation {
  std::string name;
  std::string old_value;
  std::string new_value;
};

// Where the master key comes from: STATECTL_MASTER_KEY (wins) or the [secrets] key_file.
struct KeySource {
  std::string env_value;
  std::filesystem::path key_file;
  bool configured() const { return !env_value.empty() || !key_file.empty(); }
};

// The secret store: a 0700 directory of 0600 files, one per secret, written atomically, with
// metadata in <dir>/.meta and dated backups of replaced values in <dir>/.backup. When a master
// key is configured, values are written encrypted with AES-256-GCM; plaintext files written
// before a key was configured stay readable. Reading a file (or the directory, or the key file)
// that group/others can access is refused with the path, the mode and the chmod to run. Every
// value read or written is registered with exec::redact.
class Store {
public:
  // The store of a config: [secrets] dir, else <state dir>/secrets; the master key from
  // STATECTL_MASTER_KEY in the process environment or [secrets] key_file.
  explicit Store(const config::Config& cfg);
  // The same, with the environment passed in (commands pass Context::environment()).
  Store(const config::Config& cfg, const std::map<std::string, std::string>& environment);
  // A store without encryption (tests, tools).
  explicit Store(std::filesystem::path dir);
  Store(std::filesystem::path dir, KeySource keys);

  const std::filesystem::path& dir() const { return m_dir; }
  // True when a master key is configured (values are written encrypted).
  bool encrypting() const { return m_keys.configured(); }
  // The configured master key; throws Error(usage) when it is missing, malformed or its file's
  // mode is too open.
  const MasterKey& master_key() const;

  // The value, or nullopt when the secret does not exist. Throws Error on a bad mode, an
  // unreadable file, or a file that cannot be decrypted (wrong key, tampered).
  std::optional<std::string> get(const std::string& name) const;
  // The value; throws Error(usage) naming `statectl secrets generate` when absent.
  std::string require(const std::string& name) const;
  // Writes a value atomically (creating the store when needed). A secret that already exists
  // keeps its created date.
  void put(const std::string& name, const std::string& value);
  // Replaces an existing value, keeping the old file as <dir>/.backup/<name>.<UTC stamp> and
  // recording the rotation date; behaves like put() when absent. Returns the backup path
  // (empty when there was nothing to back up).
  std::filesystem::path replace(const std::string& name, const std::string& value);
  // The value, generating and storing a new password first when absent.
  std::string ensure(const std::string& name, std::size_t length = k_default_length);
  bool exists(const std::string& name) const;
  // Names of stored secrets, sorted.
  std::vector<std::string> names() const;
  // What is known about a stored secret (created/rotated dates, kind, expiry); the value is
  // not read, so this works without the master key.
  Metadata metadata(const std::string& name) const;
  // Backup files of a secret, oldest first.
  std::vector<std::filesystem::path> backups(const std::string& name) const;

  // The rotation journal: <dir>/.journal/<name>, 0600, written atomically and encrypted like
  // the values. begin_rotation() records both values before anything changes; end_rotation()
  // removes the entry once the servers and the store agree.
  void begin_rotation(const Rotation& rotation);
  std::optional<Rotation> rotation(const std::string& name) const;
  // Names with an unfinished rotation, sorted ("postgres" first: the others log in with it).
  std::vector<std::string> rotations() const;
  void end_rotation(const std::string& name);
  // The passwords a login with secret `name` tries, in order: the stored value, then the other
  // value of an unfinished rotation. Empty when the secret does not exist.
  std::vector<std::string> login_candidates(const std::string& name) const;

private:
  std::string decode(const std::string& name, const std::string& data, const std::filesystem::path& path) const;
  void write_metadata(const std::string& name, const Metadata& meta);
  void create_dirs();

  std::filesystem::path m_dir;
  KeySource m_keys;
  mutable std::optional<MasterKey> m_key;
};

// The current time as ISO 8601 UTC with seconds ("2026-11-22T03:40:00Z").
std::string utc_now_iso();

} // namespace statectl::secrets

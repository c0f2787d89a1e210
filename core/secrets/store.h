#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config.h"

namespace statectl::secrets {

// Names of the passwords the stack needs; `secrets generate` with no names creates these.
inline const std::vector<std::string>& stack_secret_names()
{
  static const std::vector<std::string> names = {"postgres", "replication", "app", "pgbouncer", "redis"};
  return names;
}

// A generated password: `length` characters of the URL-safe alphabet [A-Za-z0-9_-], drawn with
// OpenSSL RAND_bytes by rejection sampling (no modulo bias).
std::string generate_password(std::size_t length = 32);

// The secret store: a 0700 directory of 0600 files, one per secret, written atomically.
// Reading a file (or the directory) that group/others can access is refused with the path, the
// mode and the chmod to run. Every value read or written is registered with exec::redact.
class Store {
public:
  // The store of a config: [secrets] dir, else <state dir>/secrets.
  explicit Store(const config::Config& cfg);
  explicit Store(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return m_dir; }

  // The value, or nullopt when the secret does not exist. Throws Error on a bad mode or
  // an unreadable/undecryptable file.
  std::optional<std::string> get(const std::string& name) const;
  // The value; throws Error(usage) naming `statectl secrets generate` when absent.
  std::string require(const std::string& name) const;
  // Writes a value atomically (creating the store when needed).
  void put(const std::string& name, const std::string& value);
  // The value, generating and storing a new password first when absent.
  std::string ensure(const std::string& name, std::size_t length = 32);
  bool exists(const std::string& name) const;
  // Names of stored secrets, sorted.
  std::vector<std::string> names() const;

private:
  std::filesystem::path m_dir;
};

} // namespace statectl::secrets

#include "core/backup/keys.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include "core/backup/cipher.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/exec/runner.h"
#include "core/secrets/store.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

namespace {

inline constexpr const char* k_secret = "backup_cipher_key";

void write_key_file(const fs::path& file, const std::string& hex, const std::string& owner)
{
  if (auto old = util::read_file(file); old && util::trim(*old) == hex) return;
  if (auto r = util::make_dirs(file.parent_path(), 0755); !r) return;
  // Not fatal: whoever cannot write it (the archiver itself) read the key from it.
  if (auto r = util::write_file_atomic(file, hex + "\n", 0600); !r) return;
  if (!owner.empty() && exec::running_as_root())
    if (struct passwd* pw = ::getpwnam(owner.c_str())) [[maybe_unused]] auto rc = ::chown(file.c_str(), pw->pw_uid, pw->pw_gid);
}

} // namespace

fs::path cipher_key_file(const config::Config& cfg)
{
  if (!config::settings(cfg).backup.cipher_key_file.empty()) return config::settings(cfg).backup.cipher_key_file_path;
  return config::settings(cfg).state_dir / "backup-cipher-key";
}

std::string repository_cipher_key(const config::Config& cfg, const std::string& owner, bool generate)
{
  fs::path file = cipher_key_file(cfg);
  std::optional<std::string> hex;
  std::string source;
  std::optional<secrets::Store> store;
  try {
    store.emplace(cfg);
    hex = store->get(k_secret);
    source = "the secret store (" + std::string(k_secret) + ")";
  } catch (const Error&) {
    // The archiver cannot read the store: it reads the key file below.
    store.reset();
  }
  if (!hex) {
    if (auto text = util::read_file(file)) {
      hex = util::trim(*text);
      source = file.string();
    }
  }
  if (!hex && generate) {
    if (!store)
      throw Error(ExitCode::usage, "cannot make the backup cipher key", "the secret store is not readable by this user",
                  "run `statectl backup create` once as the operator; it makes the key and its copy for the archiver");
    hex = new_cipher_key_hex();
    exec::register_secret(*hex);
    store->put(k_secret, *hex);
    source = "the secret store (" + std::string(k_secret) + ")";
  }
  if (!hex)
    throw Error(ExitCode::usage, "no backup cipher key", fmt::format("[backup] cipher is aes-256-gcm, the secret store has no {} and {} does not exist", k_secret, file.string()),
                "restore the key from your key backup (README: Encryption at rest); without it the repository cannot be read");
  exec::register_secret(*hex);
  std::string key = cipher_key_from_hex(*hex, source);
  if (store) write_key_file(file, *hex, owner);
  return key;
}

} // namespace statectl::backup

#pragma once

#include <filesystem>
#include <string>

#include "core/config/config_fwd.h"

namespace statectl::backup {

// The 0600 copy of the cipher key that wal push / wal fetch read when they run as the server
// user: [backup] cipher_key_file, else <state dir>/backup-cipher-key.
std::filesystem::path cipher_key_file(const config::Config& cfg);

// The repository's AES-256-GCM key (32 raw bytes): the secret store's backup_cipher_key when the
// store is readable (refreshing the key file, mode 0600, owned by owner), else the key file.
// With generate, a missing key is made (256 random bits) and stored in both. Throws
// Error(usage) when there is no key and generate is false, or the key is malformed.
std::string repository_cipher_key(const config::Config& cfg, const std::string& owner, bool generate);

} // namespace statectl::backup

#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/util/expected.h"

namespace statectl::secrets {

// A 256-bit master key for encryption at rest. Never printed; only its key id (a fingerprint
// that reveals nothing about the key) appears in messages.
class MasterKey {
public:
  // Parses a key from 64 hex digits or base64 of 32 bytes (surrounding whitespace ignored), or
  // exactly 32 raw bytes (a key file written with `head -c 32 /dev/urandom`). The error says
  // which forms are accepted, never the text it was given.
  static util::Expected<MasterKey> parse(std::string_view text);

  // A new random key (OpenSSL RAND_bytes).
  static MasterKey generate();

  // The key as 64 lower-case hex digits (for writing a key file).
  std::string hex() const;
  // 16 hex digits identifying the key: SHA-256("statectl-key-id" || key), truncated.
  std::string id() const;
  const std::array<unsigned char, 32>& bytes() const { return m_key; }

private:
  std::array<unsigned char, 32> m_key{};
};

// Standard base64 with padding (Kubernetes Secret `data`).
std::string base64_encode(std::string_view data);

// The PostgreSQL SCRAM-SHA-256 verifier of a password ("SCRAM-SHA-256$<iterations>:<salt>$
// <StoredKey>:<ServerKey>", RFC 5802/7677, as libpq's PQencryptPasswordConn makes it), so that
// `ALTER ROLE ... PASSWORD '<verifier>'` never sends the password itself to the server, where a
// statement log could keep it. The salt is 16 random bytes unless given. Returns nothing for a
// password that is not pure ASCII: its SASLprep normalisation (which the server applies) is not
// implemented here, and the caller must let the server hash it.
std::optional<std::string> scram_sha256_verifier(std::string_view password, int iterations = 4096, std::string_view salt = {});

// The prefix that marks an encrypted secret file.
inline constexpr std::string_view k_encrypted_magic = "SCTLAES1";

// True when data is an encrypted secret (starts with k_encrypted_magic).
bool is_encrypted(std::string_view data);

// Encrypts plaintext with AES-256-GCM under key. The result is
// magic(8) || key id(8 bytes) || nonce(12) || ciphertext || tag(16); `context` (the secret's
// name) is authenticated as associated data, so a file renamed to another secret fails to open.
std::string encrypt(const MasterKey& key, std::string_view plaintext, std::string_view context);

// Why decryption failed.
enum class DecryptError { malformed, wrong_key, tampered };

struct DecryptFailure {
  DecryptError kind;
  std::string file_key_id; // the id recorded in the file (for wrong_key)
};

// Decrypts what encrypt() produced. A different key is reported as wrong_key (from the key id,
// before any decryption is tried); a failed GCM tag with the right key as tampered.
util::Expected<std::string, DecryptFailure> decrypt(const MasterKey& key, std::string_view data, std::string_view context);

// The key id recorded in an encrypted file, or empty when data is not one.
std::string file_key_id(std::string_view data);

} // namespace statectl::secrets

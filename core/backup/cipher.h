#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace statectl::backup {

// The repository's encryption at rest ([backup] cipher = "aes-256-gcm"): every stored file,
// manifest and WAL object is sealed with AES-256-GCM (OpenSSL EVP) in records, so that a
// changed, reordered, dropped or truncated byte fails authentication. Layout of a sealed file:
//   "STCGCM1\n" | 8-byte random file id | records
//   record: 4-byte big-endian ciphertext length n | n bytes | 16-byte tag
// Record i's nonce is the file id followed by i (4 bytes, big-endian); its additional data is i
// and a final flag (1 for the last record), so a file cut after any record is detected.
inline constexpr std::string_view k_sealed_magic = "STCGCM1\n";

// Plaintext bytes per record.
inline constexpr std::size_t k_seal_record = 1 << 20;

// Encrypts a stream. begin() returns the header; seal() one record (final: the last one).
class Sealer {
public:
  // key: 32 raw bytes.
  explicit Sealer(std::string key);
  std::string begin();
  std::string seal(std::string_view plain, bool final);

private:
  std::string m_key;
  std::string m_file_id;
  std::uint32_t m_index = 0;
};

// Decrypts a stream fed in arbitrary pieces, handing plaintext to sink. Throws
// Error(failed, "<what> is damaged", ...) when a record fails authentication, the header is not
// a sealed file's, or (finish) the final record is missing.
class Opener {
public:
  Opener(std::string key, std::string what);
  void feed(std::string_view data, const std::function<void(std::string_view)>& sink);
  void finish();
  // Starts reading in the middle of a sealed file, at record `index` of the file with this id
  // (the 8 bytes after the magic): the next feed() begins with that record's length.
  void resume(std::string file_id, std::uint32_t index);

private:
  [[noreturn]] void damaged(const std::string& why) const;

  std::string m_key;
  std::string m_what;
  std::string m_buf;
  std::string m_file_id;
  std::uint32_t m_index = 0;
  bool m_header = false;
  bool m_final = false;
};

// Seals or opens a small object (a manifest) in one go.
std::string seal_blob(const std::string& key, std::string_view plain);
std::string open_blob(const std::string& key, std::string_view sealed, const std::string& what);

// True when data starts like a sealed file.
bool is_sealed(std::string_view data);

// A new random 256-bit key, as 64 lower-case hex digits (the form kept in the secret store).
std::string new_cipher_key_hex();
// The 32 raw bytes of a 64-hex-digit key; throws Error(usage) naming where it came from.
std::string cipher_key_from_hex(const std::string& hex, const std::string& source);

} // namespace statectl::backup

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace statectl::backup {

// An incremental SHA-256 (OpenSSL EVP). hex() finishes the digest; update() after hex() is a bug.
class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex();

private:
  void* m_ctx;
  std::string m_hex;
};

// The SHA-256 of a whole byte string, as lower-case hex.
std::string sha256_hex(std::string_view data);

// What a compressed write or a verified read measured.
struct StreamStats {
  std::uint64_t raw_size = 0;
  std::uint64_t stored_size = 0;
  std::string raw_sha256;
  std::string stored_sha256;
};

// Compresses a stream into `path` with libzstd (multi-threaded when threads > 1, frame checksum
// on) and hashes the raw and the stored bytes while it streams. Data goes to a temporary name
// beside `path`; finish() fsyncs, renames it into place and fsyncs the directory. A writer
// destroyed before finish() removes its temporary file, so a failure leaves nothing behind.
class ZstdFileWriter {
public:
  // A non-empty key (32 bytes) seals the compressed stream with AES-256-GCM (core/backup/cipher.h);
  // the stored SHA-256 is then of the sealed bytes.
  ZstdFileWriter(std::filesystem::path path, int level, int threads, mode_t mode = 0640, std::string key = {});
  ~ZstdFileWriter();
  ZstdFileWriter(const ZstdFileWriter&) = delete;
  ZstdFileWriter& operator=(const ZstdFileWriter&) = delete;

  void write(std::string_view data);
  StreamStats finish();
  const std::filesystem::path& temp_path() const { return m_tmp; }

private:
  void drain(int mode_end, std::string_view in);
  void put(const char* data, std::size_t n);
  void emit(const char* data, std::size_t n);

  std::filesystem::path m_path;
  std::filesystem::path m_tmp;
  int m_fd = -1;
  void* m_cctx = nullptr;
  std::string m_out;
  Sha256 m_raw;
  Sha256 m_stored;
  StreamStats m_stats;
  bool m_done = false;
  std::string m_key;
  std::unique_ptr<class Sealer> m_sealer;
  std::string m_pending;
};

// Decompresses a zstd file, handing raw chunks to sink, and hashes both sides (the raw side
// only with hash_raw: a caller that checks the stored bytes' hash and hashes every member of
// the content itself need not hash it twice; raw_sha256 is then empty). With a key, the file is
// a sealed one and is authenticated record by record. Throws statectl::Error(failed) naming the
// file (as `what`, default its path) when it is unreadable, truncated, corrupt or fails
// authentication.
StreamStats read_zstd_file(const std::filesystem::path& path, const std::function<void(std::string_view)>& sink,
                           const std::string& key = {}, const std::string& what = {}, bool hash_raw = true);

// Hashes a plain file (SHA-256 of its bytes); throws Error(failed) when unreadable.
StreamStats hash_file(const std::filesystem::path& path);

// Writes a whole file atomically with fsync (temporary name, rename, directory fsync); throws
// Error(failed) on failure.
void write_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode = 0640);

} // namespace statectl::backup

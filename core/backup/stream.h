#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

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

// Where an independent zstd frame of a stored file starts: its offset in the raw (decompressed)
// bytes and in the compressed stream (before encryption, which seals the compressed stream in
// records of k_seal_record bytes). A file's frame index lists every frame in order and ends with
// a mark at the raw and compressed sizes, so that frame i spans [marks[i], marks[i + 1]).
struct FrameMark {
  std::uint64_t raw = 0;
  std::uint64_t zstd = 0;
  bool operator==(const FrameMark&) const = default;
};

// What a compressed write or a verified read measured.
struct StreamStats {
  std::uint64_t raw_size = 0;
  std::uint64_t stored_size = 0;
  std::string raw_sha256;
  std::string stored_sha256;
  std::vector<FrameMark> frames; // a writer's frame index when it was given a frame size
};

// Compresses a stream into `path` with libzstd (multi-threaded when threads > 1, frame checksum
// on) and hashes the raw and the stored bytes while it streams. Data goes to a temporary name
// beside `path`; finish() fsyncs, renames it into place and fsyncs the directory. A writer
// destroyed before finish() removes its temporary file, so a failure leaves nothing behind.
class ZstdFileWriter {
public:
  // A non-empty key (32 bytes) seals the compressed stream with AES-256-GCM (core/backup/cipher.h);
  // the stored SHA-256 is then of the sealed bytes.
  // A non-zero frame_size ends a zstd frame after every frame_size raw bytes, so that a reader
  // given the frame index (StreamStats::frames) can decompress any part on its own
  // (read_zstd_range); the file stays one valid zstd stream (concatenated frames).
  ZstdFileWriter(std::filesystem::path path, int level, int threads, mode_t mode = 0640, std::string key = {}, std::uint64_t frame_size = 0);
  ~ZstdFileWriter();
  ZstdFileWriter(const ZstdFileWriter&) = delete;
  ZstdFileWriter& operator=(const ZstdFileWriter&) = delete;

  void write(std::string_view data);
  StreamStats finish();
  const std::filesystem::path& temp_path() const { return m_tmp; }
  // The raw bytes written so far (the offset of the next write in the raw stream).
  std::uint64_t raw_size() const { return m_stats.raw_size; }

private:
  void drain(int mode_end, std::string_view in);
  void compress(std::string_view data);
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
  std::uint64_t m_frame_size = 0;
  std::uint64_t m_frame_raw = 0; // raw bytes in the current frame
  std::uint64_t m_zstd = 0;      // compressed bytes produced so far
  std::vector<FrameMark> m_frames;
};

// Decompresses a zstd file, handing raw chunks to sink, and hashes both sides (the raw side
// only with hash_raw: a caller that checks the stored bytes' hash and hashes every member of
// the content itself need not hash it twice; raw_sha256 is then empty). With a key, the file is
// a sealed one and is authenticated record by record. Throws statectl::Error(failed) naming the
// file (as `what`, default its path) when it is unreadable, truncated, corrupt or fails
// authentication.
StreamStats read_zstd_file(const std::filesystem::path& path, const std::function<void(std::string_view)>& sink,
                           const std::string& key = {}, const std::string& what = {}, bool hash_raw = true);

// Decompresses the raw bytes [raw_begin, raw_end) of a stored zstd file written with a frame
// index (frames, ending with the size mark), reading only the frames that hold them from the open
// file fd, and hands them to sink in order. With a key the file is a sealed one: only the records
// holding those frames are read, each authenticated. Every frame read is decoded whole (its
// content checksum checked) and must hold exactly the raw bytes the index says. Throws
// Error(failed, "<what> is damaged", ...) otherwise, or when the file cannot be read. Returns the
// raw bytes decoded (those of the whole frames read).
std::uint64_t read_zstd_range(int fd, const std::vector<FrameMark>& frames, std::uint64_t raw_begin, std::uint64_t raw_end,
                     const std::function<void(std::string_view)>& sink, const std::string& key, const std::string& what);

// Hashes a plain file (SHA-256 of its bytes); throws Error(failed) when unreadable.
StreamStats hash_file(const std::filesystem::path& path);

// Writes a whole file atomically with fsync (temporary name, rename, directory fsync); throws
// Error(failed) on failure.
void write_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode = 0640);

} // namespace statectl::backup

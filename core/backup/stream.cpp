#include "core/backup/stream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <optional>
#include <random>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/backup/cipher.h"
#include "core/error.h"
#include "core/util/fs.h"

namespace statectl::backup {

namespace fs = std::filesystem;

Sha256::Sha256() : m_ctx(EVP_MD_CTX_new())
{
  if (!m_ctx || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(m_ctx), EVP_sha256(), nullptr) != 1)
    throw Error(ExitCode::failed, "cannot hash", "OpenSSL EVP_DigestInit failed");
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(m_ctx)); }

void Sha256::update(std::string_view data)
{
  if (!data.empty()) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(m_ctx), data.data(), data.size());
}

std::string Sha256::hex()
{
  if (!m_hex.empty()) return m_hex;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(m_ctx), md, &len);
  static const char* k_digits = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    m_hex += k_digits[md[i] >> 4];
    m_hex += k_digits[md[i] & 15];
  }
  return m_hex;
}

std::string sha256_hex(std::string_view data)
{
  Sha256 h;
  h.update(data);
  return h.hex();
}

static fs::path temp_name(const fs::path& path)
{
  std::random_device rd;
  return path.parent_path() / fmt::format(".{}.tmp.{}.{:x}", path.filename().string(), ::getpid(), rd());
}

static void write_all(int fd, const char* p, std::size_t n, const fs::path& what)
{
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(ExitCode::failed, fmt::format("cannot write {}", what.string()), std::strerror(errno),
                  "check free space and permissions of the backup repository");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

ZstdFileWriter::ZstdFileWriter(fs::path path, int level, int threads, mode_t mode, std::string key, std::uint64_t frame_size)
  : m_path(std::move(path)), m_tmp(temp_name(m_path)), m_key(std::move(key)), m_frame_size(frame_size)
{
  if (m_frame_size) m_frames.push_back({0, 0});
  m_fd = ::open(m_tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (m_fd < 0)
    throw Error(ExitCode::failed, fmt::format("cannot create {}", m_tmp.string()), std::strerror(errno),
                "check that the backup repository is writable by this user");
  ::fchmod(m_fd, mode);
  auto* cctx = ZSTD_createCCtx();
  m_cctx = cctx;
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  if (threads > 1) ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, threads);
  m_out.resize(ZSTD_CStreamOutSize());
}

ZstdFileWriter::~ZstdFileWriter()
{
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(m_cctx));
  if (m_fd >= 0) ::close(m_fd);
  if (!m_done) ::unlink(m_tmp.c_str());
}

void ZstdFileWriter::emit(const char* data, std::size_t n)
{
  if (n == 0) return;
  m_stored.update(std::string_view(data, n));
  m_stats.stored_size += n;
  write_all(m_fd, data, n, m_path);
}

void ZstdFileWriter::put(const char* data, std::size_t n)
{
  m_zstd += n;
  if (m_key.empty()) return emit(data, n);
  if (!m_sealer) {
    m_sealer = std::make_unique<Sealer>(m_key);
    std::string header = m_sealer->begin();
    emit(header.data(), header.size());
  }
  m_pending.append(data, n);
  // Keep the last record back: only finish() knows which one is final.
  while (m_pending.size() > k_seal_record) {
    std::string rec = m_sealer->seal(std::string_view(m_pending).substr(0, k_seal_record), false);
    emit(rec.data(), rec.size());
    m_pending.erase(0, k_seal_record);
  }
}

void ZstdFileWriter::drain(int mode_end, std::string_view data)
{
  auto* cctx = static_cast<ZSTD_CCtx*>(m_cctx);
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  auto mode = mode_end ? ZSTD_e_end : ZSTD_e_continue;
  while (true) {
    ZSTD_outBuffer out{m_out.data(), m_out.size(), 0};
    std::size_t rc = ZSTD_compressStream2(cctx, &out, &in, mode);
    if (ZSTD_isError(rc)) throw Error(ExitCode::failed, fmt::format("cannot compress {}", m_path.string()), ZSTD_getErrorName(rc));
    put(m_out.data(), out.pos);
    if (mode_end ? rc == 0 : in.pos == in.size) break;
  }
}

void ZstdFileWriter::write(std::string_view data)
{
  m_raw.update(data);
  if (!m_frame_size) return compress(data);
  while (!data.empty()) {
    std::string_view part = data.substr(0, static_cast<std::size_t>(m_frame_size - m_frame_raw));
    compress(part);
    data.remove_prefix(part.size());
    m_frame_raw += part.size();
    if (m_frame_raw == m_frame_size) {
      // The frame ends here: every byte of it has been handed to put() once this returns.
      drain(1, {});
      m_frames.push_back({m_stats.raw_size, m_zstd});
      m_frame_raw = 0;
    }
  }
}

void ZstdFileWriter::compress(std::string_view data)
{
  m_stats.raw_size += data.size();
  drain(0, data);
}

StreamStats ZstdFileWriter::finish()
{
  // No empty frame after the last full one (an empty file still gets its one frame).
  if (!m_frame_size || m_frame_raw > 0 || m_stats.raw_size == 0) drain(1, {});
  if (m_frame_size && !(m_frames.back() == FrameMark{m_stats.raw_size, m_zstd})) m_frames.push_back({m_stats.raw_size, m_zstd});
  m_stats.frames = m_frames;
  if (!m_key.empty()) {
    put(nullptr, 0);
    std::string rec = m_sealer->seal(m_pending, true);
    emit(rec.data(), rec.size());
    m_pending.clear();
  }
  if (::fsync(m_fd) != 0)
    throw Error(ExitCode::failed, fmt::format("cannot fsync {}", m_tmp.string()), std::strerror(errno));
  ::close(m_fd);
  m_fd = -1;
  if (::rename(m_tmp.c_str(), m_path.c_str()) != 0)
    throw Error(ExitCode::failed, fmt::format("cannot rename into {}", m_path.string()), std::strerror(errno));
  m_done = true;
  util::fsync_dir(m_path.parent_path());
  m_stats.raw_sha256 = m_raw.hex();
  m_stats.stored_sha256 = m_stored.hex();
  return m_stats;
}

namespace {
struct Fd {
  int fd;
  ~Fd() { if (fd >= 0) ::close(fd); }
};
} // namespace

StreamStats read_zstd_file(const fs::path& path, const std::function<void(std::string_view)>& sink, const std::string& key,
                           const std::string& what_arg, bool hash_raw)
{
  std::string what = what_arg.empty() ? path.string() : what_arg;
  std::optional<Opener> opener;
  if (!key.empty()) opener.emplace(key, what);
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw Error(ExitCode::failed, fmt::format("cannot read {}", path.string()), std::strerror(errno));
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::string inbuf(ZSTD_DStreamInSize(), '\0');
  std::string outbuf(ZSTD_DStreamOutSize(), '\0');
  Sha256 raw, stored;
  StreamStats st;
  std::size_t last = 1; // 0 once a frame was completely decoded
  auto decompress = [&](std::string_view data) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer out{outbuf.data(), outbuf.size(), 0};
      last = ZSTD_decompressStream(dctx.get(), &out, &in);
      if (ZSTD_isError(last)) throw Error(ExitCode::failed, fmt::format("{} is damaged", what), ZSTD_getErrorName(last));
      std::string_view chunk(outbuf.data(), out.pos);
      if (hash_raw) raw.update(chunk);
      st.raw_size += out.pos;
      if (sink && !chunk.empty()) sink(chunk);
    }
  };
  while (true) {
    ssize_t n = ::read(f.fd, inbuf.data(), inbuf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ExitCode::failed, fmt::format("cannot read {}", path.string()), std::strerror(errno));
    }
    if (n == 0) break;
    stored.update(std::string_view(inbuf.data(), static_cast<std::size_t>(n)));
    st.stored_size += static_cast<std::uint64_t>(n);
    std::string_view chunk_in(inbuf.data(), static_cast<std::size_t>(n));
    if (opener) opener->feed(chunk_in, decompress);
    else decompress(chunk_in);
  }
  if (opener) opener->finish();
  // Flush what the decoder still holds.
  while (last != 0) {
    ZSTD_inBuffer in{nullptr, 0, 0};
    ZSTD_outBuffer out{outbuf.data(), outbuf.size(), 0};
    last = ZSTD_decompressStream(dctx.get(), &out, &in);
    if (ZSTD_isError(last)) throw Error(ExitCode::failed, fmt::format("{} is damaged", what), ZSTD_getErrorName(last));
    if (out.pos == 0) break;
    std::string_view chunk(outbuf.data(), out.pos);
    if (hash_raw) raw.update(chunk);
    st.raw_size += out.pos;
    if (sink) sink(chunk);
  }
  if (last != 0) throw Error(ExitCode::failed, fmt::format("{} is damaged", what), "truncated zstd frame");
  if (hash_raw) st.raw_sha256 = raw.hex();
  st.stored_sha256 = stored.hex();
  return st;
}

namespace {

// pread until n bytes or the end of the file; returns how many were read.
std::size_t stream_pread(int fd, char* buf, std::size_t n, std::uint64_t offset, const std::string& what)
{
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Error(ExitCode::failed, fmt::format("cannot read {}", what), std::strerror(errno));
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

} // namespace

std::uint64_t read_zstd_range(int fd, const std::vector<FrameMark>& frames, std::uint64_t raw_begin, std::uint64_t raw_end,
                     const std::function<void(std::string_view)>& sink, const std::string& key, const std::string& what)
{
  auto damaged = [&](const std::string& why) { return Error(ExitCode::failed, fmt::format("{} is damaged", what), why); };
  if (raw_begin >= raw_end) return 0;
  if (frames.size() < 2 || raw_end > frames.back().raw)
    throw damaged(fmt::format("its frame index does not cover bytes {}-{}", raw_begin, raw_end));
  // The last frame starting at or before raw_begin, and the first mark at or after raw_end.
  auto last_start = std::upper_bound(frames.begin(), frames.end() - 1, raw_begin, [](std::uint64_t v, const FrameMark& f) { return v < f.raw; });
  std::size_t fa = static_cast<std::size_t>(last_start - frames.begin()) - 1;
  auto end_mark = std::lower_bound(frames.begin() + static_cast<std::ptrdiff_t>(fa) + 1, frames.end(), raw_end,
                                   [](const FrameMark& f, std::uint64_t v) { return f.raw < v; });
  std::size_t fb = static_cast<std::size_t>(end_mark - frames.begin());
  std::uint64_t zb = frames[fa].zstd, ze = frames[fb].zstd;
  if (ze <= zb) throw damaged("its frame index is not in order");

  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::string outbuf(ZSTD_DStreamOutSize(), '\0');
  std::uint64_t pos = frames[fa].raw; // raw offset of the next decoded byte
  std::size_t last = 1;
  // flush: no more input, hand out what the decoder still holds (a full output buffer).
  auto decompress = [&](std::string_view data, bool flush = false) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size || flush) {
      ZSTD_outBuffer out{outbuf.data(), outbuf.size(), 0};
      last = ZSTD_decompressStream(dctx.get(), &out, &in);
      if (ZSTD_isError(last)) throw damaged(ZSTD_getErrorName(last));
      std::uint64_t from = std::max(pos, raw_begin), to = std::min(pos + out.pos, raw_end);
      if (from < to) sink(std::string_view(outbuf.data() + (from - pos), static_cast<std::size_t>(to - from)));
      pos += out.pos;
      if (flush && (out.pos == 0 || last == 0)) break;
    }
  };
  std::string buf;
  if (key.empty()) {
    buf.resize(1u << 20);
    for (std::uint64_t at = zb; at < ze;) {
      std::size_t n = stream_pread(fd, buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), ze - at)), at, what);
      if (n == 0) throw damaged("it is shorter than its frame index says");
      decompress(std::string_view(buf.data(), n));
      at += n;
    }
  } else {
    // Sealed: "STCGCM1\n", the file id, then records of k_seal_record plaintext bytes each
    // (4-byte length, ciphertext, 16-byte tag); record i holds compressed bytes from i * k_seal_record.
    std::string header(k_sealed_magic.size() + 8, '\0');
    if (stream_pread(fd, header.data(), header.size(), 0, what) != header.size() || !is_sealed(header))
      throw damaged("not an encrypted file (the repository's cipher is aes-256-gcm)");
    const std::uint64_t record = 4 + k_seal_record + 16;
    std::uint64_t first = zb / k_seal_record, end = (ze - 1) / k_seal_record + 1;
    Opener opener(key, what);
    opener.resume(header.substr(k_sealed_magic.size()), static_cast<std::uint32_t>(first));
    std::uint64_t zpos = first * k_seal_record; // compressed offset of the next plaintext byte
    auto plain = [&](std::string_view d) {
      std::uint64_t from = std::max(zpos, zb), to = std::min(zpos + d.size(), ze);
      if (from < to) decompress(d.substr(static_cast<std::size_t>(from - zpos), static_cast<std::size_t>(to - from)));
      zpos += d.size();
    };
    buf.resize(static_cast<std::size_t>(record));
    for (std::uint64_t i = first; i < end && zpos < ze; ++i) {
      std::size_t n = stream_pread(fd, buf.data(), buf.size(), header.size() + i * record, what);
      if (n == 0) break;
      opener.feed(std::string_view(buf.data(), n), plain);
    }
    if (zpos < ze) throw damaged("the encrypted file is truncated");
  }
  if (last != 0) decompress({}, true);
  if (last != 0) throw damaged("truncated zstd frame");
  if (pos != frames[fb].raw) throw damaged(fmt::format("frames {}-{} hold {} bytes, not the {} its frame index says", fa, fb - 1, pos - frames[fa].raw,
                                                       frames[fb].raw - frames[fa].raw));
  return pos - frames[fa].raw;
}

StreamStats hash_file(const fs::path& path)
{
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw Error(ExitCode::failed, fmt::format("cannot read {}", path.string()), std::strerror(errno));
  Sha256 h;
  StreamStats st;
  std::string buf(1 << 20, '\0');
  while (true) {
    ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ExitCode::failed, fmt::format("cannot read {}", path.string()), std::strerror(errno));
    }
    if (n == 0) break;
    h.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    st.raw_size += static_cast<std::uint64_t>(n);
  }
  st.stored_size = st.raw_size;
  st.raw_sha256 = st.stored_sha256 = h.hex();
  return st;
}

void write_atomic(const fs::path& path, std::string_view data, mode_t mode)
{
  if (auto r = util::write_file_atomic(path, data, mode); !r)
    throw Error(ExitCode::failed, "cannot write to the backup repository", r.error(), "check free space and permissions");
}

} // namespace statectl::backup

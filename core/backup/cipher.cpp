#include "core/backup/cipher.h"

#include <fmt/format.h>
#include <memory>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/error.h"

namespace statectl::backup {

namespace {

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string be32(std::uint32_t v)
{
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::uint32_t read_be32(const char* p)
{
  auto b = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

std::string random_bytes(std::size_t n)
{
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw Error(ExitCode::failed, "cannot draw random bytes", "OpenSSL RAND_bytes failed");
  return out;
}

// One AES-256-GCM operation on a record; false when authentication fails (decrypt).
bool gcm(bool encrypt, const std::string& key, const std::string& nonce, const std::string& aad, std::string_view in, std::string& out,
         std::string& tag)
{
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  auto u = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  int n = 0;
  out.resize(in.size());
  if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr, encrypt ? 1 : 0) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) != 1 ||
      EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, u(key), u(nonce), encrypt ? 1 : 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), nullptr, &n, u(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_CipherUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n, reinterpret_cast<const unsigned char*>(in.data()),
                       static_cast<int>(in.size())) != 1)
    throw Error(ExitCode::failed, "AES-256-GCM failed", "OpenSSL EVP_CipherUpdate failed");
  if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) != 1)
    throw Error(ExitCode::failed, "AES-256-GCM failed", "cannot set the tag");
  int fin = 0;
  if (EVP_CipherFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + n, &fin) != 1) return false;
  if (encrypt) {
    tag.assign(16, '\0');
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag.data()) != 1)
      throw Error(ExitCode::failed, "AES-256-GCM failed", "cannot read the tag");
  }
  return true;
}

} // namespace

Sealer::Sealer(std::string key) : m_key(std::move(key)) {}

std::string Sealer::begin()
{
  m_file_id = random_bytes(8);
  m_index = 0;
  return std::string(k_sealed_magic) + m_file_id;
}

std::string Sealer::seal(std::string_view plain, bool final)
{
  std::string out, tag;
  gcm(true, m_key, m_file_id + be32(m_index), be32(m_index) + (final ? '\1' : '\0'), plain, out, tag);
  ++m_index;
  return be32(static_cast<std::uint32_t>(out.size())) + out + tag;
}

Opener::Opener(std::string key, std::string what) : m_key(std::move(key)), m_what(std::move(what)) {}

void Opener::damaged(const std::string& why) const
{
  throw Error(ExitCode::failed, fmt::format("{} is damaged", m_what), why,
              "the file was changed after it was written, or the repository's key is not the one it was sealed with");
}

void Opener::feed(std::string_view data, const std::function<void(std::string_view)>& sink)
{
  m_buf.append(data);
  std::size_t pos = 0;
  if (!m_header) {
    if (m_buf.size() < k_sealed_magic.size() + 8) return;
    if (m_buf.compare(0, k_sealed_magic.size(), k_sealed_magic) != 0) damaged("not an encrypted file (the repository's cipher is aes-256-gcm)");
    m_file_id = m_buf.substr(k_sealed_magic.size(), 8);
    pos = k_sealed_magic.size() + 8;
    m_header = true;
  }
  std::string plain;
  while (m_buf.size() - pos >= 4) {
    std::uint32_t n = read_be32(m_buf.data() + pos);
    if (n > k_seal_record) damaged(fmt::format("record {} has an impossible length", m_index));
    if (m_buf.size() - pos < 4 + n + 16) break;
    if (m_final) damaged("data after the final record");
    std::string tag = m_buf.substr(pos + 4 + n, 16);
    std::string_view ct(m_buf.data() + pos + 4, n);
    // Which flag the record was sealed with is not known until it authenticates: try both.
    bool ok = gcm(false, m_key, m_file_id + be32(m_index), be32(m_index) + '\0', ct, plain, tag);
    if (!ok) {
      ok = gcm(false, m_key, m_file_id + be32(m_index), be32(m_index) + '\1', ct, plain, tag);
      m_final = ok;
    }
    if (!ok) damaged(fmt::format("record {} fails AES-256-GCM authentication", m_index));
    ++m_index;
    pos += 4 + n + 16;
    if (sink && !plain.empty()) sink(plain);
  }
  m_buf.erase(0, pos);
}

void Opener::resume(std::string file_id, std::uint32_t index)
{
  m_file_id = std::move(file_id);
  m_index = index;
  m_header = true;
  m_final = false;
  m_buf.clear();
}

void Opener::finish()
{
  if (!m_header || !m_final || !m_buf.empty()) damaged("the encrypted file is truncated");
}

std::string seal_blob(const std::string& key, std::string_view plain)
{
  Sealer s(key);
  std::string out = s.begin();
  while (plain.size() > k_seal_record) {
    out += s.seal(plain.substr(0, k_seal_record), false);
    plain.remove_prefix(k_seal_record);
  }
  return out + s.seal(plain, true);
}

std::string open_blob(const std::string& key, std::string_view sealed, const std::string& what)
{
  Opener o(key, what);
  std::string out;
  o.feed(sealed, [&](std::string_view d) { out.append(d); });
  o.finish();
  return out;
}

bool is_sealed(std::string_view data) { return data.substr(0, k_sealed_magic.size()) == k_sealed_magic; }

std::string new_cipher_key_hex()
{
  std::string raw = random_bytes(32), out;
  for (unsigned char c : raw) out += fmt::format("{:02x}", c);
  return out;
}

std::string cipher_key_from_hex(const std::string& hex, const std::string& source)
{
  auto digit = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  std::string h;
  for (char c : hex)
    if (!std::isspace(static_cast<unsigned char>(c))) h += c;
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    int a = digit(h[i]), b = digit(h[i + 1]);
    if (a < 0 || b < 0) break;
    out += static_cast<char>(a * 16 + b);
  }
  if (h.size() != 64 || out.size() != 32)
    throw Error(ExitCode::usage, fmt::format("invalid backup cipher key in {}", source), "it must be 64 hexadecimal digits (256 bits)");
  return out;
}

} // namespace statectl::backup

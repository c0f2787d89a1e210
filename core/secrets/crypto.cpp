#include "core/secrets/crypto.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <cstring>
#include <memory>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/error.h"

namespace statectl::secrets {

namespace {

constexpr std::size_t k_id_len = 8;
constexpr std::size_t k_nonce_len = 12;
constexpr std::size_t k_tag_len = 16;
constexpr std::size_t k_header_len = k_encrypted_magic.size() + k_id_len + k_nonce_len;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

std::string to_hex(const unsigned char* p, std::size_t n)
{
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

int hex_value(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes standard or URL-safe base64 (padding optional); nullopt on any invalid character.
std::optional<std::string> base64_decode(std::string_view text)
{
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else if (c == '=') break;
    else return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

} // namespace

util::Expected<MasterKey> MasterKey::parse(std::string_view text)
{
  MasterKey key;
  if (text.size() == 32 && std::any_of(text.begin(), text.end(), [](char c) { return !std::isprint(static_cast<unsigned char>(c)); })) {
    std::memcpy(key.m_key.data(), text.data(), 32);
    return key;
  }
  std::size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  std::string_view t = text.substr(b, e - b);
  if (t.size() == 64 && std::all_of(t.begin(), t.end(), [](char c) { return hex_value(c) >= 0; })) {
    for (std::size_t i = 0; i < 32; ++i)
      key.m_key[i] = static_cast<unsigned char>(hex_value(t[2 * i]) * 16 + hex_value(t[2 * i + 1]));
    return key;
  }
  if (t.size() >= 43 && t.size() <= 44) {
    if (auto raw = base64_decode(t); raw && raw->size() == 32) {
      std::memcpy(key.m_key.data(), raw->data(), 32);
      OPENSSL_cleanse(raw->data(), raw->size());
      return key;
    }
  }
  return util::unexpected("a master key must be 32 bytes: 64 hex digits or 44 characters of base64");
}

MasterKey MasterKey::generate()
{
  MasterKey key;
  if (RAND_bytes(key.m_key.data(), static_cast<int>(key.m_key.size())) != 1)
    throw Error(ExitCode::failed, "cannot generate a master key", "OpenSSL RAND_bytes failed");
  return key;
}

std::string MasterKey::hex() const { return to_hex(m_key.data(), m_key.size()); }

std::string MasterKey::id() const
{
  static const char label[] = "statectl-key-id";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  EVP_DigestUpdate(md, label, sizeof label - 1);
  EVP_DigestUpdate(md, m_key.data(), m_key.size());
  EVP_DigestFinal_ex(md, digest, nullptr);
  EVP_MD_CTX_free(md);
  return to_hex(digest, k_id_len);
}

std::string base64_encode(std::string_view data)
{
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8) | static_cast<unsigned char>(data[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i < data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < data.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool is_encrypted(std::string_view data) { return data.substr(0, k_encrypted_magic.size()) == k_encrypted_magic; }

std::string file_key_id(std::string_view data)
{
  if (!is_encrypted(data) || data.size() < k_header_len) return {};
  return to_hex(reinterpret_cast<const unsigned char*>(data.data()) + k_encrypted_magic.size(), k_id_len);
}

static void check(int rc, const char* what)
{
  if (rc != 1) throw Error(ExitCode::failed, "cannot encrypt a secret", std::string("OpenSSL ") + what + " failed");
}

std::string encrypt(const MasterKey& key, std::string_view plaintext, std::string_view context)
{
  unsigned char nonce[k_nonce_len];
  check(RAND_bytes(nonce, sizeof nonce), "RAND_bytes");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  check(ctx ? 1 : 0, "EVP_CIPHER_CTX_new");
  check(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr), "EVP_EncryptInit_ex");
  check(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, k_nonce_len, nullptr), "set IV length");
  check(EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.bytes().data(), nonce), "EVP_EncryptInit_ex");

  std::string out(k_encrypted_magic);
  std::string id = key.id();
  for (std::size_t i = 0; i < k_id_len; ++i) out += static_cast<char>(hex_value(id[2 * i]) * 16 + hex_value(id[2 * i + 1]));
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);

  // The header and the secret's name are authenticated along with the ciphertext.
  int len = 0;
  check(EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(out.data()), static_cast<int>(out.size())), "AAD");
  check(EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(context.data()), static_cast<int>(context.size())), "AAD");
  std::string body(plaintext.size() + 16, '\0');
  auto* bp = reinterpret_cast<unsigned char*>(body.data());
  check(EVP_EncryptUpdate(ctx.get(), bp, &len, reinterpret_cast<const unsigned char*>(plaintext.data()), static_cast<int>(plaintext.size())), "EVP_EncryptUpdate");
  int total = len;
  check(EVP_EncryptFinal_ex(ctx.get(), bp + total, &len), "EVP_EncryptFinal_ex");
  total += len;
  body.resize(static_cast<std::size_t>(total));
  unsigned char tag[k_tag_len];
  check(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, k_tag_len, tag), "get tag");
  out += body;
  out.append(reinterpret_cast<const char*>(tag), sizeof tag);
  return out;
}

util::Expected<std::string, DecryptFailure> decrypt(const MasterKey& key, std::string_view data, std::string_view context)
{
  using R = util::Expected<std::string, DecryptFailure>;
  if (!is_encrypted(data) || data.size() < k_header_len + k_tag_len) return R::failure({DecryptError::malformed, {}});
  std::string id = file_key_id(data);
  if (id != key.id()) return R::failure({DecryptError::wrong_key, id});

  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const unsigned char* nonce = p + k_encrypted_magic.size() + k_id_len;
  const unsigned char* body = p + k_header_len;
  std::size_t body_len = data.size() - k_header_len - k_tag_len;
  unsigned char tag[k_tag_len];
  std::memcpy(tag, p + data.size() - k_tag_len, k_tag_len);

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return R::failure({DecryptError::malformed, {}});
  int len = 0;
  bool ok = EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, k_nonce_len, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.bytes().data(), nonce) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, p, static_cast<int>(k_header_len)) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(context.data()), static_cast<int>(context.size())) == 1;
  std::string out(body_len + 16, '\0');
  auto* op = reinterpret_cast<unsigned char*>(out.data());
  int total = 0;
  ok = ok && EVP_DecryptUpdate(ctx.get(), op, &len, body, static_cast<int>(body_len)) == 1;
  total = len;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, k_tag_len, tag) == 1;
  // The tag check happens here: a wrong key that shares the id (practically impossible) or a
  // modified file both fail, and no unauthenticated plaintext is returned.
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), op + total, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return R::failure({DecryptError::tampered, id});
  }
  total += len;
  out.resize(static_cast<std::size_t>(total));
  return out;
}

std::optional<std::string> scram_sha256_verifier(std::string_view password, int iterations, std::string_view salt)
{
  if (std::any_of(password.begin(), password.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) return std::nullopt;
  std::string salt_bytes(salt);
  if (salt_bytes.empty()) {
    salt_bytes.resize(16);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(salt_bytes.data()), static_cast<int>(salt_bytes.size())) != 1)
      throw Error(ExitCode::failed, "cannot make a SCRAM salt", "OpenSSL RAND_bytes failed");
  }
  unsigned char salted[32];
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), reinterpret_cast<const unsigned char*>(salt_bytes.data()),
                        static_cast<int>(salt_bytes.size()), iterations, EVP_sha256(), sizeof salted, salted) != 1)
    throw Error(ExitCode::failed, "cannot compute a SCRAM verifier", "OpenSSL PKCS5_PBKDF2_HMAC failed");
  auto hmac = [&](std::string_view text) {
    unsigned char out[32];
    unsigned int len = sizeof out;
    if (!HMAC(EVP_sha256(), salted, sizeof salted, reinterpret_cast<const unsigned char*>(text.data()), text.size(), out, &len))
      throw Error(ExitCode::failed, "cannot compute a SCRAM verifier", "OpenSSL HMAC failed");
    return std::string(reinterpret_cast<const char*>(out), len);
  };
  std::string client_key = hmac("Client Key");
  unsigned char stored[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), client_key.size(), stored);
  std::string server_key = hmac("Server Key");
  OPENSSL_cleanse(salted, sizeof salted);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  return "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + base64_encode(salt_bytes) + "$" +
         base64_encode(std::string_view(reinterpret_cast<const char*>(stored), sizeof stored)) + ":" + base64_encode(server_key);
}

} // namespace statectl::secrets

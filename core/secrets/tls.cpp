#include "core/secrets/tls.h"

#include <arpa/inet.h>
#include <algorithm>
#include <ctime>
#include <fmt/format.h>
#include <memory>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/config/settings.h"
#include "core/error.h"

namespace statectl::secrets::tls {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

std::string openssl_error()
{
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

[[noreturn]] void fail(const std::string& what)
{
  throw Error(ExitCode::failed, "cannot issue the TLS certificate", what + ": " + openssl_error());
}

Pkey generate_key(KeyType type)
{
  EVP_PKEY* k = type == KeyType::rsa4096 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(4096))
                                         : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!k) fail("key generation");
  return Pkey(k);
}

std::string to_pem(X509* cert)
{
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail("PEM encoding");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string to_pem(EVP_PKEY* key)
{
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) fail("PEM encoding");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<std::size_t>(n));
  OPENSSL_cleanse(data, static_cast<std::size_t>(n));
  return out;
}

Cert read_cert(std::string_view pem)
{
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  return Cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

Pkey read_key(std::string_view pem)
{
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  return Pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

bool is_ip(const std::string& text)
{
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value)
{
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail(fmt::format("extension {}", OBJ_nid2sn(nid)));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

Cert new_cert(const std::string& cn, int days, EVP_PKEY* pubkey)
{
  Cert cert(X509_new());
  if (!cert) fail("X509_new");
  X509_set_version(cert.get(), 2);
  // A random positive 127-bit serial (RFC 5280 allows up to 20 octets).
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("RAND_bytes");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  // Backdated five minutes so a peer with a slightly slow clock accepts it at once.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400L);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_pubkey(cert.get(), pubkey);
  return cert;
}

std::string common_name(X509_NAME* name)
{
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t)
{
  std::tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string iso(std::chrono::system_clock::time_point tp)
{
  std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace

std::optional<KeyType> parse_key_type(std::string_view text)
{
  if (text == "ec-p256") return KeyType::ec_p256;
  if (text == "rsa4096") return KeyType::rsa4096;
  return std::nullopt;
}

Material issue(const Request& request, const std::string& existing_ca_cert, const std::string& existing_ca_key)
{
  Material m;
  Pkey ca_key;
  Cert ca_cert;
  if (!existing_ca_cert.empty() || !existing_ca_key.empty()) {
    ca_cert = read_cert(existing_ca_cert);
    ca_key = read_key(existing_ca_key);
    ERR_clear_error();
    if (!ca_cert || !ca_key)
      throw Error(ExitCode::usage, "cannot reuse the CA", "ca.crt or ca.key in the secret store is not valid PEM",
                  "rotate the CA with 'statectl secrets rotate ca.crt'");
    if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
      ERR_clear_error();
      throw Error(ExitCode::usage, "cannot reuse the CA", "ca.key does not belong to ca.crt",
                  "rotate the CA with 'statectl secrets rotate ca.crt'");
    }
    m.ca_cert = existing_ca_cert;
    m.ca_key = existing_ca_key;
  } else {
    ca_key = generate_key(request.key);
    ca_cert = new_cert(request.cn + " CA", request.ca_days, ca_key.get());
    X509_set_issuer_name(ca_cert.get(), X509_get_subject_name(ca_cert.get()));
    add_ext(ca_cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(ca_cert.get(), ca_cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(ca_cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(ca_cert.get(), ca_key.get(), EVP_sha256()) <= 0) fail("signing the CA");
    m.ca_cert = to_pem(ca_cert.get());
    m.ca_key = to_pem(ca_key.get());
    m.ca_created = true;
  }

  Pkey key = generate_key(request.key);
  Cert cert = new_cert(request.cn, request.days, key.get());
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage,
          request.key == KeyType::rsa4096 ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature");
  add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, request.client ? "clientAuth" : "serverAuth,clientAuth");
  add_ext(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  std::vector<std::string> sans = request.client ? std::vector<std::string>{} : request.sans;
  if (!request.client && std::find(sans.begin(), sans.end(), request.cn) == sans.end() && !request.cn.empty())
    sans.insert(sans.begin(), request.cn);
  std::string san_text;
  for (const auto& s : sans) {
    if (s.empty()) continue;
    if (!san_text.empty()) san_text += ",";
    san_text += (is_ip(s) ? "IP:" : "DNS:") + s;
  }
  if (!san_text.empty()) add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san_text);
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) <= 0) fail(request.client ? "signing the client certificate" : "signing the server certificate");
  m.cert = to_pem(cert.get());
  m.key = to_pem(key.get());
  return m;
}

util::Expected<CertInfo> inspect(std::string_view pem)
{
  Cert cert = read_cert(pem);
  if (!cert) {
    ERR_clear_error();
    return util::unexpected("not a PEM certificate");
  }
  CertInfo info;
  info.subject_cn = common_name(X509_get_subject_name(cert.get()));
  info.issuer_cn = common_name(X509_get_issuer_name(cert.get()));
  info.not_before = to_time_point(X509_get0_notBefore(cert.get()));
  info.not_after = to_time_point(X509_get0_notAfter(cert.get()));
  info.not_after_iso = iso(info.not_after);
  info.is_ca = X509_check_ca(cert.get()) > 0;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        char buf[INET6_ADDRSTRLEN] = {};
        int len = ASN1_STRING_length(s);
        if (len == 4 || len == 16) inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf);
        info.ip_addresses.emplace_back(buf);
      }
    }
    GENERAL_NAMES_free(names);
  }
  if (EVP_PKEY* pk = X509_get0_pubkey(cert.get())) {
    if (EVP_PKEY_is_a(pk, "RSA")) info.key_type = fmt::format("rsa{}", EVP_PKEY_get_bits(pk));
    else if (EVP_PKEY_is_a(pk, "EC")) info.key_type = EVP_PKEY_get_bits(pk) == 256 ? "ec-p256" : fmt::format("ec-{}", EVP_PKEY_get_bits(pk));
    else info.key_type = EVP_PKEY_get0_type_name(pk);
  }
  ERR_clear_error();
  return info;
}

long days_left(const CertInfo& info)
{
  auto left = info.not_after - std::chrono::system_clock::now();
  return static_cast<long>(std::chrono::floor<std::chrono::hours>(left).count() / 24 - (left.count() < 0 ? 1 : 0));
}

util::Expected<bool> verify(const std::string& ca_cert, const std::string& cert)
{
  Cert ca = read_cert(ca_cert);
  Cert leaf = read_cert(cert);
  if (!ca || !leaf) {
    ERR_clear_error();
    return util::unexpected("not a PEM certificate");
  }
  Store store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.get());
  StoreCtx ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
  int rc = X509_verify_cert(ctx.get());
  std::string why = rc == 1 ? "" : X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  ERR_clear_error();
  if (rc != 1) return util::unexpected(why);
  return true;
}

bool key_matches(const std::string& cert, const std::string& key)
{
  Cert c = read_cert(cert);
  Pkey k = read_key(key);
  bool ok = c && k && X509_check_private_key(c.get(), k.get()) == 1;
  ERR_clear_error();
  return ok;
}

std::vector<std::string> default_sans(const config::Config& cfg)
{
  std::string project = config::settings(cfg).project.name;
  std::string ns = config::settings(cfg).k8s.namespace_;
  std::vector<std::string> out = {"localhost", "127.0.0.1", "::1"};
  // Compose service names, and the Kubernetes Services ("<project>-<service>") by short name.
  static const char* services[] = {"postgres-primary", "postgres-replica", "pgbouncer", "redis-master", "redis-replica", "redis-sentinel"};
  for (const char* svc : services) out.push_back(svc);
  for (const char* svc : services) out.push_back(fmt::format("{}-{}", project, svc));
  out.push_back(fmt::format("{}-redis-cluster", project));
  // Kubernetes: every Service in the namespace ("<svc>.<ns>" by name: a wildcard needs two more
  // labels), and the pods behind the headless Services (Sentinel and the cluster nodes announce
  // pod names).
  for (const char* svc : services) out.push_back(fmt::format("{}-{}.{}", project, svc, ns));
  out.push_back(fmt::format("{}-redis-cluster.{}", project, ns));
  out.push_back(fmt::format("*.{}.svc", ns));
  out.push_back(fmt::format("*.{}.svc.cluster.local", ns));
  for (const char* svc : {"postgres", "redis", "redis-cluster", "redis-master", "redis-replica", "redis-sentinel"}) {
    out.push_back(fmt::format("*.{}-{}.{}.svc", project, svc, ns));
    out.push_back(fmt::format("*.{}-{}.{}.svc.cluster.local", project, svc, ns));
  }
  return out;
}

} // namespace statectl::secrets::tls

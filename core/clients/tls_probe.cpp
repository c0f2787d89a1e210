#include "core/clients/tls_probe.h"

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <thread>

namespace statectl::clients {

namespace {

std::string serial_hex_of(X509* x)
{
  std::string out;
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
  if (char* hex = bn ? BN_bn2hex(bn) : nullptr) {
    out = hex;
    OPENSSL_free(hex);
  }
  BN_free(bn);
  return out;
}

} // namespace

std::string certificate_serial(const std::string& pem)
{
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  std::string out;
  if (x) {
    out = serial_hex_of(x);
    X509_free(x);
  }
  BIO_free(bio);
  return out;
}

std::string presented_serial(const std::string& host, int port, const std::string& ca_file, bool starttls_pg)
{
  std::string serial;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* conn = BIO_new_connect(fmt::format("{}:{}", host, port).c_str());
  if (ctx && conn && SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) == 1 && BIO_do_connect(conn) == 1) {
    bool ready = true;
    if (starttls_pg) {
      // SSLRequest: length 8, code 80877103; the server answers 'S' when it speaks TLS.
      const unsigned char req[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
      char answer = 0;
      ready = BIO_write(conn, req, sizeof req) == 8 && BIO_read(conn, &answer, 1) == 1 && answer == 'S';
    }
    SSL* ssl = ready ? SSL_new(ctx) : nullptr;
    if (ssl) {
      SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
      SSL_set_bio(ssl, conn, conn);
      conn = nullptr; // owned by ssl now
      if (SSL_connect(ssl) == 1) {
        if (X509* peer = SSL_get1_peer_certificate(ssl)) {
          serial = serial_hex_of(peer);
          X509_free(peer);
        }
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
    }
  }
  if (conn) BIO_free_all(conn);
  if (ctx) SSL_CTX_free(ctx);
  return serial;
}

std::string await_serial(const std::string& host, int port, const std::string& ca_file, bool starttls_pg, const std::string& want, int attempts,
                         std::chrono::milliseconds interval)
{
  std::string got;
  for (int attempt = 0; attempt < attempts && got != want; ++attempt) {
    got = presented_serial(host, port, ca_file, starttls_pg);
    if (got != want) std::this_thread::sleep_for(interval);
  }
  return got;
}

} // namespace statectl::clients

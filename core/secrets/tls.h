#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/util/expected.h"

namespace statectl::secrets::tls {

// The key algorithms `secrets tls --key` offers.
enum class KeyType { ec_p256, rsa4096 };

// Parses "ec-p256" / "rsa4096"; nullopt otherwise.
std::optional<KeyType> parse_key_type(std::string_view text);

// What to issue: a server certificate for cn with these subjectAltNames (DNS names, or IP
// addresses when the text parses as one), valid `days` days from now.
struct Request {
  std::string cn;
  std::vector<std::string> sans;
  int days = 365;
  int ca_days = 3650;
  KeyType key = KeyType::ec_p256;
  // A client certificate (extendedKeyUsage clientAuth only, no subjectAltName): cn is the role.
  bool client = false;
};

// A CA and a server key/certificate it signed, all PEM.
struct Material {
  std::string ca_cert;
  std::string ca_key;
  std::string cert;
  std::string key;
  bool ca_created = false;
};

// Issues a server certificate through the OpenSSL library (never the `openssl` CLI). With
// existing_ca_cert/key (PEM) the CA is reused; otherwise a new CA "<cn> CA" is created. Throws
// Error(usage) when the existing CA cannot be read or its key does not match.
Material issue(const Request& request, const std::string& existing_ca_cert = {}, const std::string& existing_ca_key = {});

// What a certificate says, read back with OpenSSL.
struct CertInfo {
  std::string subject_cn;
  std::string issuer_cn;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::string not_after_iso; // "2027-11-22T03:40:00Z"
  bool is_ca = false;
  std::string key_type; // "ec-p256", "rsa4096", ...
};

// Reads the first certificate of a PEM text.
util::Expected<CertInfo> inspect(std::string_view pem);

// Whole days from now until not_after (negative once expired).
long days_left(const CertInfo& info);

// Verifies that cert (PEM) chains to ca_cert (PEM) and is currently valid; the error says why not.
util::Expected<bool> verify(const std::string& ca_cert, const std::string& cert);

// True when the private key (PEM) belongs to the certificate (PEM).
bool key_matches(const std::string& cert, const std::string& key);

// The DNS names the services answer to on every target: localhost and 127.0.0.1 (local), the
// Compose service names (postgres-primary, pgbouncer, redis-master, ...), and the Kubernetes
// Services "<project>-<service>" with wildcards for [k8s] namespace and the headless Services' pods.
std::vector<std::string> default_sans(const config::Config& cfg);

} // namespace statectl::secrets::tls

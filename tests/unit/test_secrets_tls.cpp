#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>

#include "core/config/config.h"
#include "core/error.h"
#include "core/secrets/tls.h"

using namespace statectl;
using namespace statectl::secrets;

namespace {
bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }
} // namespace

TEST_CASE("secrets tls: a new CA signs a server certificate with the requested SANs and validity")
{
  tls::Request req;
  req.cn = "demo";
  req.sans = {"localhost", "127.0.0.1", "::1", "demo-postgres", "*.prod.svc.cluster.local"};
  req.days = 90;
  auto m = tls::issue(req);
  CHECK(m.ca_created);
  CHECK(m.ca_cert.rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
  CHECK(m.key.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);

  auto info = tls::inspect(m.cert);
  REQUIRE(info.ok());
  CHECK(info->subject_cn == "demo");
  CHECK(info->issuer_cn == "demo CA");
  CHECK_FALSE(info->is_ca);
  CHECK(info->key_type == "ec-p256");
  CHECK(info->dns_names == std::vector<std::string>{"demo", "localhost", "demo-postgres", "*.prod.svc.cluster.local"});
  CHECK(info->ip_addresses == std::vector<std::string>{"127.0.0.1", "::1"});
  auto now = std::chrono::system_clock::now();
  auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(info->not_after - now).count();
  CHECK(lifetime > 90 * 86400 - 120);
  CHECK(lifetime <= 90 * 86400);
  CHECK(info->not_before <= now);
  CHECK(tls::days_left(*info) == 89);
  CHECK(info->not_after_iso.size() == 20);

  auto ca = tls::inspect(m.ca_cert);
  REQUIRE(ca.ok());
  CHECK(ca->is_ca);
  CHECK(ca->subject_cn == "demo CA");
  CHECK(tls::days_left(*ca) >= 3649);

  CHECK(tls::verify(m.ca_cert, m.cert).ok());
  CHECK(tls::key_matches(m.cert, m.key));
  CHECK(tls::key_matches(m.ca_cert, m.ca_key));
  CHECK_FALSE(tls::key_matches(m.cert, m.ca_key));
}

TEST_CASE("secrets tls: an existing CA is reused, and a foreign CA does not verify")
{
  tls::Request req;
  req.cn = "demo";
  req.sans = {"localhost"};
  auto first = tls::issue(req);
  auto second = tls::issue(req, first.ca_cert, first.ca_key);
  CHECK_FALSE(second.ca_created);
  CHECK(second.ca_cert == first.ca_cert);
  CHECK(second.cert != first.cert);
  CHECK(tls::verify(first.ca_cert, second.cert).ok());

  auto other = tls::issue(req);
  auto bad = tls::verify(other.ca_cert, first.cert);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error() == "unable to get local issuer certificate");

  try {
    tls::issue(req, first.ca_cert, other.ca_key);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.message() == "cannot reuse the CA: ca.key does not belong to ca.crt");
  }
}

TEST_CASE("secrets tls: rsa4096 keys")
{
  tls::Request req;
  req.cn = "rsa-demo";
  req.key = tls::KeyType::rsa4096;
  req.days = 30;
  auto m = tls::issue(req);
  auto info = tls::inspect(m.cert);
  REQUIRE(info.ok());
  CHECK(info->key_type == "rsa4096");
  CHECK(info->dns_names == std::vector<std::string>{"rsa-demo"});
  CHECK(tls::days_left(*info) == 29);
  CHECK(tls::verify(m.ca_cert, m.cert).ok());
}

TEST_CASE("secrets tls: default SANs cover every target's service names")
{
  auto cfg = config::Config::from_string("[project]\nname = \"shop\"\n[k8s]\nnamespace = \"prod\"\n", "test.toml");
  auto sans = tls::default_sans(cfg);
  for (const char* s : {"localhost", "127.0.0.1", "postgres-primary", "pgbouncer", "redis-master", "redis-sentinel", "shop-postgres-primary",
                        "shop-pgbouncer", "shop-redis-cluster", "*.prod.svc", "*.prod.svc.cluster.local",
                        "*.shop-postgres.prod.svc.cluster.local", "*.shop-redis.prod.svc.cluster.local", "shop-pgbouncer.prod",
                        "shop-postgres-primary.prod", "shop-redis-master.prod", "*.shop-redis-master.prod.svc.cluster.local",
                        "*.shop-redis-sentinel.prod.svc", "*.shop-redis-cluster.prod.svc.cluster.local"})
    CHECK_MESSAGE(has(sans, s), s);
  CHECK(tls::parse_key_type("ec-p256") == tls::KeyType::ec_p256);
  CHECK(tls::parse_key_type("rsa4096") == tls::KeyType::rsa4096);
  CHECK_FALSE(tls::parse_key_type("dsa").has_value());
  CHECK_FALSE(tls::inspect("garbage").ok());
}

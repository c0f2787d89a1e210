#include "core/stack/tls_apply.h"

#include <algorithm>
#include <csignal>
#include <fmt/format.h>
#include <thread>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/clients/postgres.h"
#include "core/clients/redis.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/local/redis_acl.h"
#include "core/local/site.h"
#include "core/local/stack.h"
#include "core/secrets/store.h"

namespace statectl::stack {

namespace {

using namespace std::chrono;

// The serial number of a PEM certificate, as hex.
std::string serial_of(const std::string& pem)
{
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  std::string out;
  if (x) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
    if (char* hex = bn ? BN_bn2hex(bn) : nullptr) {
      out = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
    X509_free(x);
  }
  BIO_free(bio);
  return out;
}

// The serial of the certificate the server on 127.0.0.1:port presents (PostgreSQL's SSLRequest
// first with starttls_pg), verified against the stack's CA; empty when the handshake fails.
std::string presented_serial(int port, const std::string& ca_file, bool starttls_pg)
{
  std::string serial;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* conn = BIO_new_connect(fmt::format("127.0.0.1:{}", port).c_str());
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
          BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr);
          if (char* hex = bn ? BN_bn2hex(bn) : nullptr) {
            serial = hex;
            OPENSSL_free(hex);
          }
          BN_free(bn);
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

} // namespace

std::vector<std::string> apply_tls_rotation(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
{
  if (!config::settings(cfg).tls.enabled)
    throw Error(ExitCode::usage, "--apply needs a local stack with TLS", "[tls] enabled is false", "rotate without --apply");
  local::Stack stack(cfg, runner, printer);
  if (!stack.deployed() || stack.state().members.empty())
    throw Error(ExitCode::usage, "--apply needs the local stack", fmt::format("nothing is deployed in {}", config::settings(cfg).state_dir.string()),
                "run 'statectl deploy' first, or rotate without --apply");
  std::vector<std::string> steps;
  auto step = [&](std::string line) {
    printer.info(line);
    steps.push_back(std::move(line));
  };
  local::Site site(cfg, runner, printer);
  site.install_tls();
  local::TlsFiles files = local::tls_files(cfg);
  step(fmt::format("wrote the new certificate and key to {}", files.cert.parent_path().string()));
  if (site.planning()) return steps;
  std::string want = serial_of(secrets::Store(cfg).require(secrets::k_tls_cert));
  clients::ClientTls tls = local::client_tls(cfg);
  std::string redis_password = secrets::Store(cfg).get("redis").value_or("");

  std::vector<local::Member> members = stack.state().members;
  std::vector<std::string> reloaded;
  for (auto& m : members) {
    bool pg_member = m.kind == "postgres" || m.kind == "patroni";
    bool alive = pg_member ? local::read_pidfile(std::filesystem::path(m.data_dir) / "postmaster.pid").has_value()
                           : local::process_matches(m.pid, m.start_time);
    if (!alive) {
      if (m.kind == "pgbouncer" || m.kind == "redis" || m.kind == "sentinel" || pg_member)
        step(fmt::format("{}: not running, takes the new certificate when started", m.name));
      continue;
    }
    reloaded.push_back(m.name);
    if (pg_member) {
      local::postgres::reload(site, m);
      step(fmt::format("{}: pg_ctl reload", m.name));
    } else if (m.kind == "pgbouncer") {
      local::signal_member(m, SIGHUP);
      step(fmt::format("{}: RELOAD (SIGHUP)", m.name));
    } else if (m.kind == "redis") {
      clients::RedisOptions o;
      o.port = m.port;
      if (stack.state().redis_acl) o.user = local::redis_acl::k_admin_user;
      o.password = redis_password;
      o.tls = clients::redis_tls(tls);
      try {
        auto c = clients::RedisConnection::connect(o);
        auto r = c.command({"CONFIG", "SET", "tls-cert-file", files.cert.string(), "tls-key-file", files.key.string()});
        if (r.is_error()) throw Error(ExitCode::external, fmt::format("{}: CONFIG SET tls-cert-file failed", m.name), r.str);
      } catch (const clients::RedisError& e) {
        throw clients::to_error(e.failure(), fmt::format("cannot reach {} to reload its certificate", m.name));
      }
      step(fmt::format("{}: CONFIG SET tls-cert-file, tls-key-file", m.name));
    } else if (m.kind == "sentinel") {
      clients::RedisOptions o;
      o.port = m.port;
      o.tls = clients::redis_tls(tls);
      std::string why;
      try {
        auto c = clients::RedisConnection::connect(o);
        auto r = c.command({"CONFIG", "SET", "tls-cert-file", files.cert.string(), "tls-key-file", files.key.string()});
        if (r.is_error()) why = r.str;
      } catch (const clients::RedisError& e) {
        why = e.what();
      }
      if (why.empty()) {
        step(fmt::format("{}: CONFIG SET tls-cert-file, tls-key-file", m.name));
      } else {
        // One at a time: the other Sentinels keep the quorum meanwhile.
        stack.stop_member(m.name, local::StopMode::fast);
        stack.start_member(m.name);
        step(fmt::format("{}: restarted ({})", m.name, why));
      }
    }
  }
  // Every TLS port must now present the new certificate.
  for (const auto& m : stack.state().members) {
    bool pg = m.kind == "postgres" || m.kind == "patroni" || m.kind == "pgbouncer";
    if (!pg && m.kind != "redis" && m.kind != "sentinel") continue;
    if (std::find(reloaded.begin(), reloaded.end(), m.name) == reloaded.end()) continue;
    std::string got;
    for (int attempt = 0; attempt < 20 && got != want; ++attempt) {
      got = presented_serial(m.port, files.ca.string(), pg);
      if (got != want) std::this_thread::sleep_for(100ms);
    }
    if (got != want)
      throw Error(ExitCode::failed, fmt::format("{} still presents another certificate", m.name),
                  got.empty() ? "no TLS handshake" : fmt::format("serial {} instead of {}", got, want), "see its log, then run 'statectl deploy'");
  }
  step("verified: every server presents the new certificate");
  return steps;
}

} // namespace statectl::stack

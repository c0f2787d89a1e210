#include <doctest/doctest.h>

#include <array>
#include <ctime>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/config/config.h"
#include "core/exec/redact.h"
#include "core/secrets/crypto.h"
#include "core/secrets/manage.h"
#include "core/secrets/store.h"
#include "core/util/fs.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace statectl;
using namespace statectl::secrets;

namespace {

// A fresh directory per test, removed at the end.
const std::string k_key_a = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string k_key_b = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

std::string message_of(const std::function<void()>& f)
{
  try {
    f();
  } catch (const Error& e) {
    return e.message() + (e.hint().empty() ? "" : " | hint: " + e.hint());
  }
  return "(no error)";
}

int code_of(const std::function<void()>& f)
{
  try {
    f();
  } catch (const Error& e) {
    return static_cast<int>(e.code());
  }
  return 0;
}

std::string raw(const fs::path& p) { return *util::read_file(p); }

} // namespace

TEST_CASE("secrets store: passwords use the URL-safe alphabet and the requested length")
{
  CHECK(password_alphabet() == "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
  std::string p = generate_password();
  CHECK(p.size() == 32);
  CHECK(p.find_first_not_of(password_alphabet()) == std::string::npos);
  CHECK(generate_password(17).size() == 17);
  CHECK(generate_password(1024).size() == 1024);
  CHECK(generate_password() != generate_password());
}

TEST_CASE("secrets store: no modulo bias over a large sample")
{
  // 6.4 million symbols: each of the 64 should appear 100,000 times. A biased generator (e.g.
  // byte % 62) would put some symbols ~50% over; allow 2% per symbol and a chi-square bound
  // (63 degrees of freedom, 140 is far beyond p = 0.0001).
  std::array<long, 256> counts{};
  const int n_passwords = 100000;
  for (int i = 0; i < n_passwords; ++i)
    for (char c : generate_password(64)) ++counts[static_cast<unsigned char>(c)];
  const double expected = 64.0 * n_passwords / 64.0;
  double chi2 = 0;
  for (char c : password_alphabet()) {
    double got = static_cast<double>(counts[static_cast<unsigned char>(c)]);
    CHECK(got > expected * 0.98);
    CHECK(got < expected * 1.02);
    chi2 += (got - expected) * (got - expected) / expected;
  }
  CHECK(chi2 < 140.0);
}

TEST_CASE("secrets store: files are 0600 in a 0700 directory, written atomically")
{
  testing::TempDir t("statectl-unit-secrets");
  Store s(t.path() / "secrets");
  s.put("postgres", "pw-0123456789");
  CHECK(util::file_mode(t.path() / "secrets") == 0700);
  CHECK(util::file_mode(t.path() / "secrets" / "postgres") == 0600);
  CHECK(raw(t.path() / "secrets" / "postgres") == "pw-0123456789");
  CHECK(*s.get("postgres") == "pw-0123456789");
  CHECK_FALSE(s.get("redis").has_value());
  CHECK(s.names() == std::vector<std::string>{"postgres"});
  CHECK(exec::redact("x pw-0123456789 y") == "x **** y");
  exec::clear_secrets();
}

TEST_CASE("secrets store: refuses a secret, directory or key file readable by group or others")
{
  testing::TempDir t("statectl-unit-secrets");
  fs::path dir = t.path() / "secrets";
  Store s(dir);
  s.put("postgres", "pw-0123456789");
  ::chmod((dir / "postgres").c_str(), 0640);
  CHECK(message_of([&] { s.get("postgres"); }) ==
        "refusing to read " + (dir / "postgres").string() + ": its mode is 0640, readable by group or others | hint: run: chmod 0600 " +
          (dir / "postgres").string());
  CHECK(code_of([&] { s.get("postgres"); }) == 2);
  ::chmod((dir / "postgres").c_str(), 0600);
  ::chmod(dir.c_str(), 0755);
  CHECK(message_of([&] { s.get("postgres"); }) ==
        "refusing to read " + dir.string() + ": its mode is 0755, readable by group or others | hint: run: chmod 0700 " + dir.string());
  ::chmod(dir.c_str(), 0700);

  fs::path kf = t.path() / "master.key";
  REQUIRE(util::write_file_atomic(kf, k_key_a + "\n", 0644).ok());
  Store enc(dir, KeySource{"", kf});
  CHECK(message_of([&] { enc.put("redis", "pw-redis-0123"); }) ==
        "refusing to read " + kf.string() + ": its mode is 0644, readable by group or others | hint: run: chmod 0600 " + kf.string());
  ::chmod(kf.c_str(), 0600);
  enc.put("redis", "pw-redis-0123");
  CHECK(*enc.get("redis") == "pw-redis-0123");
  exec::clear_secrets();
}

TEST_CASE("secrets store: encrypted round trip keeps no plaintext on disk")
{
  testing::TempDir t("statectl-unit-secrets");
  fs::path dir = t.path() / "secrets";
  Store s(dir, KeySource{k_key_a, {}});
  CHECK(s.encrypting());
  s.put("postgres", "the-plaintext-value");
  std::string data = raw(dir / "postgres");
  CHECK(data.rfind("SCTLAES1", 0) == 0);
  CHECK(data.find("the-plaintext-value") == std::string::npos);
  CHECK(data.size() == 8 + 8 + 12 + 19 + 16);
  CHECK(*s.get("postgres") == "the-plaintext-value");
  CHECK(s.metadata("postgres").encrypted);
  // The same value encrypts differently each time (fresh nonce).
  s.put("postgres", "the-plaintext-value");
  CHECK(raw(dir / "postgres") != data);
  // A key given as base64 is the same key.
  Store b64(dir, KeySource{"ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=", {}});
  CHECK(*b64.get("postgres") == "the-plaintext-value");
  exec::clear_secrets();
}

TEST_CASE("secrets store: a wrong key says so instead of returning garbage")
{
  testing::TempDir t("statectl-unit-secrets");
  fs::path dir = t.path() / "secrets";
  Store a(dir, KeySource{k_key_a, {}});
  a.put("postgres", "the-plaintext-value");
  Store b(dir, KeySource{k_key_b, {}});
  std::string id_a = a.master_key().id(), id_b = b.master_key().id();
  CHECK(id_a.size() == 16);
  CHECK(id_a != id_b);
  CHECK(message_of([&] { b.get("postgres"); }) ==
        "cannot decrypt secret 'postgres': wrong master key: " + (dir / "postgres").string() + " was encrypted with key id " + id_a +
          ", the configured key has id " + id_b +
          " | hint: set STATECTL_MASTER_KEY or [secrets] key_file to the key the store was written with");
  CHECK(code_of([&] { b.get("postgres"); }) == 2);

  Store none(dir);
  CHECK(message_of([&] { none.get("postgres"); }) ==
        "cannot read secret 'postgres': it is encrypted and no master key is configured | hint: set STATECTL_MASTER_KEY or [secrets] "
        "key_file to the key the store was written with");

  Store bad(dir, KeySource{"not-a-key", {}});
  CHECK(message_of([&] { bad.get("postgres"); }) ==
        "invalid STATECTL_MASTER_KEY: a master key must be 32 bytes: 64 hex digits or 44 characters of base64 | hint: create a key "
        "with: statectl secrets keygen");
}

TEST_CASE("secrets store: a modified or renamed encrypted file fails authentication")
{
  testing::TempDir t("statectl-unit-secrets");
  fs::path dir = t.path() / "secrets";
  Store s(dir, KeySource{k_key_a, {}});
  s.put("postgres", "the-plaintext-value");
  std::string data = raw(dir / "postgres");
  data[30] ^= 1;
  REQUIRE(util::write_file_atomic(dir / "postgres", data, 0600).ok());
  CHECK(message_of([&] { s.get("postgres"); }) ==
        "cannot decrypt secret 'postgres': authentication failed: " + (dir / "postgres").string() +
          " was modified or is corrupt | hint: restore it from " + (dir / ".backup").string() +
          " or replace it with 'statectl secrets rotate postgres'");
  CHECK(code_of([&] { s.get("postgres"); }) == 1);

  s.put("app", "the-app-value-123");
  fs::copy_file(dir / "app", dir / "redis");
  CHECK(message_of([&] { s.get("redis"); }).find("authentication failed") != std::string::npos);
  exec::clear_secrets();
}

TEST_CASE("secrets store: replace keeps a dated backup and records the rotation")
{
  testing::TempDir t("statectl-unit-secrets");
  fs::path dir = t.path() / "secrets";
  Store s(dir, KeySource{k_key_a, {}});
  s.put("redis", "first-value-0001");
  auto before = s.metadata("redis");
  CHECK(before.kind == "password");
  CHECK(before.rotated.empty());
  CHECK(before.backups == 0);
  fs::path backup = s.replace("redis", "second-value-002");
  CHECK(backup.parent_path() == dir / ".backup");
  CHECK(backup.filename().string().rfind("redis.", 0) == 0);
  CHECK(backup.filename().string().size() == std::string("redis.20261122T034000Z").size());
  CHECK(util::file_mode(backup) == 0600);
  CHECK(*s.get("redis") == "second-value-002");
  // The backup is the old file as it was (still encrypted for the same name).
  CHECK(*decrypt(s.master_key(), raw(backup), "redis") == "first-value-0001");
  auto after = s.metadata("redis");
  CHECK(after.created == before.created);
  CHECK_FALSE(after.rotated.empty());
  CHECK(after.backups == 1);
  s.replace("redis", "third-value-0003");
  CHECK(s.backups("redis").size() == 2);
  CHECK(s.names() == std::vector<std::string>{"redis"});
  exec::clear_secrets();
}

TEST_CASE("secrets store: generate keeps existing values unless forced and validates first")
{
  testing::TempDir t("statectl-unit-secrets");
  Store s(t.path() / "secrets");
  auto first = generate(s, {}, 32, false, false);
  REQUIRE(first.size() == 5);
  CHECK(first[0].name == "postgres");
  CHECK(first[0].action == "generated");
  std::string pg = *s.get("postgres");
  auto again = generate(s, {"postgres", "extra"}, 20, false, false);
  CHECK(again[0].action == "kept");
  CHECK(again[1].action == "generated");
  CHECK(*s.get("postgres") == pg);
  CHECK(s.get("extra")->size() == 20);
  auto forced = generate(s, {"postgres"}, 32, true, false);
  CHECK(forced[0].action == "replaced");
  CHECK(*s.get("postgres") != pg);
  CHECK(s.backups("postgres").size() == 1);
  CHECK(message_of([&] { generate(s, {"tls.key"}, 32, false, false); }) ==
        "'tls.key' is TLS material, not a password | hint: use 'statectl secrets tls' to issue certificates");
  CHECK(message_of([&] { generate(s, {}, 8, false, false); }) == "invalid --length 8: a password must have between 16 and 1024 characters");
  CHECK(message_of([&] { generate(s, {"ok", "../x"}, 32, false, false); }) ==
        "invalid secret name '../x': use letters, digits, '-', '_' and '.', not starting with '.'");
  CHECK_FALSE(s.exists("ok"));
  auto planned = generate(s, {"planned-name"}, 32, false, true);
  CHECK(planned[0].action == "generated");
  CHECK_FALSE(s.exists("planned-name"));
  exec::clear_secrets();
}

TEST_CASE("secrets store: rotate with a failing apply puts the old value back")
{
  testing::TempDir t("statectl-unit-secrets");
  Store s(t.path() / "secrets");
  s.put("postgres", "old-value-000001");
  auto cfg = config::Config::from_string("", "test.toml");
  std::vector<std::pair<std::string, std::string>> calls;
  ApplyFn failing = [&](const std::string&, const std::string& from, const std::string& to) -> std::vector<std::string> {
    calls.emplace_back(from, to);
    if (calls.size() == 1) throw Error(ExitCode::unavailable, "cannot reload pgbouncer", "connection refused");
    return {"undone"};
  };
  CHECK(message_of([&] { rotate(cfg, s, "postgres", 32, false, failing); }) ==
        "cannot reload pgbouncer: connection refused | hint: the servers and the store were put back to the old value");
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].first == "old-value-000001");
  CHECK(calls[1].second == "old-value-000001");
  CHECK(*s.get("postgres") == "old-value-000001");

  ApplyFn ok = [](const std::string& name, const std::string&, const std::string&) { return std::vector<std::string>{"did " + name}; };
  auto r = rotate(cfg, s, "postgres", 24, false, ok);
  CHECK(r.applied == std::vector<std::string>{"did postgres"});
  CHECK(r.verified);
  CHECK(s.get("postgres")->size() == 24);
  CHECK(message_of([&] { rotate(cfg, s, "nope", 32, false); }) ==
        "secret 'nope' not found in " + (t.path() / "secrets").string() + " | hint: run 'statectl secrets generate nope'");
  exec::clear_secrets();
}

TEST_CASE("secrets store: days_until counts whole days")
{
  auto now = std::chrono::system_clock::now();
  auto fmt_iso = [](std::chrono::system_clock::time_point tp) {
    std::time_t tt = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf);
  };
  CHECK(*days_until(fmt_iso(now + std::chrono::hours(24 * 30 + 5))) == 30);
  CHECK(*days_until(fmt_iso(now - std::chrono::hours(5))) == -1);
  CHECK_FALSE(days_until("soon").has_value());
}

TEST_CASE("secrets crypto: SCRAM-SHA-256 verifier matches an independent implementation")
{
  using statectl::secrets::scram_sha256_verifier;
  // Expected value computed with Python's hashlib.pbkdf2_hmac / hmac (RFC 5802 definitions),
  // password "pencil", salt bytes 0..15, 4096 iterations.
  std::string salt;
  for (char c = 0; c < 16; ++c) salt += c;
  CHECK(scram_sha256_verifier("pencil", 4096, salt).value() ==
        "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$zHCdol2044/ZyWzPLi7oxApCkamKw9Z+E4U/QApd/5Y=:"
        "dd5peBOitVnLNFu7VmwP+HiDaaw4OUCv396eVCWhYiE=");
  // A random salt: same shape, different every time, never containing the password.
  auto a = scram_sha256_verifier("pencil").value();
  auto b = scram_sha256_verifier("pencil").value();
  CHECK(a.rfind("SCRAM-SHA-256$4096:", 0) == 0);
  CHECK(a != b);
  CHECK(a.find("pencil") == std::string::npos);
  // Non-ASCII needs SASLprep, which is the server's job.
  CHECK_FALSE(scram_sha256_verifier("p\xc3\xa9ncil").has_value());
}

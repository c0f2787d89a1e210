#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config/config.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/exec/runner.h"
#include "tests/support/fake_runner.h"
#include "core/secrets/push.h"
#include "core/secrets/store.h"
#include "core/util/fs.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace statectl;
using namespace statectl::secrets;

namespace {
config::Config make_config(const fs::path& dir, const std::string& extra = "")
{
  return config::Config::from_string("[project]\nname = \"shop\"\n[local]\ndir = \"" + dir.string() + "\"\n[k8s]\nnamespace = \"prod\"\n" + extra,
                                     "test.toml");
}
} // namespace

TEST_CASE("secrets push: the Kubernetes manifest and the kubectl argv")
{
  testing::TempDir t("statectl-unit-push");
  auto cfg = make_config(t.path(), "context = \"kind-ci\"\n");
  auto doc = k8s_secret_manifest(cfg, {{"postgres", "pg-value"}, {"redis", "redis-value"}, {"tls.key", std::string("\xff\xfe", 2)}});
  CHECK(doc.dump() ==
        R"({"apiVersion":"v1","data":{"tls.key":"//4="},"kind":"Secret","metadata":{"labels":{"app.kubernetes.io/managed-by":"statectl","app.kubernetes.io/part-of":"shop"},"name":"shop-secrets","namespace":"prod"},"stringData":{"postgres":"pg-value","redis":"redis-value"},"type":"Opaque"})");
  CHECK(k8s_secret_name(cfg) == "shop-secrets");
  CHECK(exec::display(kubectl_apply_argv(cfg)) ==
        "kubectl --context kind-ci --namespace prod apply --server-side --field-manager=statectl --force-conflicts -f -");
  CHECK(exec::display(kubectl_apply_argv(make_config(t.path()))) ==
        "kubectl --namespace prod apply --server-side --field-manager=statectl --force-conflicts -f -");
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("a") == "YQ==");
  CHECK(base64_encode("ab") == "YWI=");
  CHECK(base64_encode("abc") == "YWJj");
}

TEST_CASE("secrets push: k8s sends every stack secret on stdin, never in argv")
{
  testing::TempDir t("statectl-unit-push");
  auto cfg = make_config(t.path());
  Store store(cfg);
  CHECK(store.dir() == t.path() / "secrets");
  exec::FakeRunner runner;
  try {
    push_k8s(cfg, store, runner);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.message() == "cannot push secrets: missing in " + store.dir().string() + ": postgres, replication, app, pgbouncer, redis");
    CHECK(e.hint() == "run 'statectl secrets generate' first");
  }
  CHECK(runner.commands().empty());
  for (const auto& n : stack_secret_names()) store.put(n, "value-of-" + n + "-0123");
  auto r = push_k8s(cfg, store, runner);
  CHECK(r.destination == "prod/shop-secrets");
  CHECK(r.names == std::vector<std::string>{"app", "pgbouncer", "postgres", "redis", "replication"});
  REQUIRE(runner.commands().size() == 1);
  const auto& cmd = runner.commands()[0];
  CHECK(cmd.mutating);
  for (const auto& n : stack_secret_names()) {
    CHECK(cmd.stdin_data->find("\"" + n + "\": \"value-of-" + n + "-0123\"") != std::string::npos);
    for (const auto& a : cmd.argv) CHECK(a.find("value-of-") == std::string::npos);
  }

  store.put("tls.crt", "-----BEGIN CERTIFICATE-----\nx\n");
  store.put("tls.key", "-----BEGIN PRIVATE KEY-----\ny\n");
  store.put("ca.crt", "-----BEGIN CERTIFICATE-----\nz\n");
  store.put("ca.key", "-----BEGIN PRIVATE KEY-----\nca-key-material\n");
  push_k8s(cfg, store, runner);
  const auto& with_tls = runner.commands()[1];
  CHECK(with_tls.stdin_data->find("\"tls.crt\"") != std::string::npos);
  CHECK(with_tls.stdin_data->find("\"ca.crt\"") != std::string::npos);
  CHECK(with_tls.stdin_data->find("ca-key-material") == std::string::npos);

  exec::FakeRunner failing;
  exec::Result bad;
  bad.exit_code = 1;
  bad.err = "Error from server (NotFound): namespaces \"prod\" not found\n";
  failing.push_result(bad);
  try {
    push_k8s(cfg, store, failing);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(static_cast<int>(e.code()) == 4);
    CHECK(e.message() == "kubectl apply of secret prod/shop-secrets failed: Error from server (NotFound): namespaces \"prod\" not found");
    CHECK(e.hint() == "check the context and that namespace 'prod' exists (kubectl create namespace prod)");
  }

  exec::FakeRunner plan(exec::DryRun::plan);
  CHECK(push_k8s(cfg, store, plan).planned);
  exec::clear_secrets();
}

TEST_CASE("secrets push: compose writes files for the containers' uid where the rendered compose file looks")
{
  testing::TempDir t("statectl-unit-push");
  auto cfg = make_config(t.path());
  Store store(cfg);
  for (const auto& n : stack_secret_names()) store.put(n, "value-of-" + n + "-0123");
  exec::FakeRunner plan(exec::DryRun::plan);
  auto planned = push_compose(cfg, store, plan);
  CHECK(planned.planned);
  CHECK_FALSE(fs::exists(t.path() / "compose" / "secrets"));

  exec::FakeRunner runner;
  auto r = push_compose(cfg, store, runner);
  CHECK(r.target == "compose");
  CHECK(r.destination == (t.path() / "compose" / "secrets").string());
  CHECK(util::file_mode(t.path() / "compose" / "secrets") == 0700);
  for (const auto& n : stack_secret_names()) {
    fs::path f = t.path() / "compose" / "secrets" / n;
    // As root: 0400 owned by the containers' uid 999; otherwise 0644 (the 0700 directory keeps
    // the host's users out).
    struct stat st {};
    REQUIRE(::stat(f.c_str(), &st) == 0);
    if (::geteuid() == 0) {
      CHECK(util::file_mode(f) == 0400);
      CHECK(st.st_uid == k_compose_container_uid);
      CHECK(st.st_gid == k_compose_container_uid);
    } else {
      CHECK(util::file_mode(f) == 0644);
    }
    CHECK(*util::read_file(f) == "value-of-" + n + "-0123");
  }
  exec::clear_secrets();
}

// Golden-file tests of every template (tests/golden/<case>/<file>) plus the engine's contract:
// missing names fail, rendering is deterministic, overrides replace templates by relative path.
// Regenerate the golden files after an intended template change with
//   STATECTL_UPDATE_GOLDEN=1 build-X/statectl_unit_tests -tc='render: golden*'
// and review the diff.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "core/config/config.h"
#include "core/error.h"
#include "core/templating/engine.h"
#include "core/render/render.h"
#include "core/util/fs.h"

using namespace statectl;
namespace fs = std::filesystem;

namespace {

config::Config cfg_from(const std::string& toml)
{
  // A config "file" in a directory that does not exist: no recorded scale, no state dir.
  return config::Config::from_string(toml, "/nonexistent/statectl-golden/statectl.toml");
}

std::string slurp(const fs::path& p)
{
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void check_golden(const std::string& name, const config::Config& cfg, render::Request req)
{
  auto files = render::render(cfg, req);
  REQUIRE(!files.empty());
  fs::path dir = fs::path(STATECTL_TEST_SOURCE_DIR) / "tests" / "golden" / name;
  if (std::getenv("STATECTL_UPDATE_GOLDEN")) {
    fs::remove_all(dir);
    for (const auto& f : files) {
      fs::create_directories((dir / f.path).parent_path());
      std::ofstream(dir / f.path, std::ios::binary) << f.content;
    }
  }
  std::vector<std::string> expected;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) expected.push_back(fs::relative(e.path(), dir).generic_string());
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> got;
  for (const auto& f : files) got.push_back(f.path);
  CHECK(got == expected);
  for (const auto& f : files) {
    INFO("golden file: " << (dir / f.path).string());
    CHECK(f.content == slurp(dir / f.path));
  }
}

const char* k_custom_compose = R"(
[project]
name = "orders"
[postgres]
replicas = 3
memory = "2Gi"
max_connections = 400
[pgbouncer]
replicas = 2
pool_mode = "session"
[redis]
replicas = 2
maxmemory = "1gb"
)";

const char* k_custom_k8s = R"(
[project]
name = "orders"
[postgres]
replicas = 3
storage_size = "100Gi"
[k8s]
namespace = "orders-state"
storage_class = "fast-ssd"
app_label = "app=orders"
[redis]
mode = "cluster"
[pgbouncer]
replicas = 3
max_replicas = 10
)";

} // namespace

TEST_CASE("render: golden compose default")
{
  check_golden("compose-default", cfg_from(""), {render::Target::compose, ""});
}

TEST_CASE("render: golden compose with 3 replicas, 2 poolers, 2 redis replicas")
{
  check_golden("compose-custom", cfg_from(k_custom_compose), {render::Target::compose, ""});
}

TEST_CASE("render: golden compose standalone redis without standbys")
{
  check_golden("compose-minimal", cfg_from("[postgres]\nreplicas = 0\n[redis]\nmode = \"standalone\"\n"), {render::Target::compose, ""});
}

TEST_CASE("render: golden k8s default")
{
  check_golden("k8s-default", cfg_from(""), {render::Target::k8s, ""});
}

TEST_CASE("render: golden k8s with [tls] enabled = false (the plain-text render)")
{
  check_golden("k8s-plain", cfg_from("[tls]\nenabled = false\n"), {render::Target::k8s, ""});
}

TEST_CASE("render: golden k8s with 3 replicas, another storage class and redis cluster mode")
{
  check_golden("k8s-custom", cfg_from(k_custom_k8s), {render::Target::k8s, ""});
}

TEST_CASE("render: golden k8s with Patroni on the Kubernetes API")
{
  check_golden("k8s-patroni", cfg_from("[project]\nname = \"orders\"\n[postgres]\nha = \"patroni\"\n"), {render::Target::k8s, ""});
}

TEST_CASE("render: golden compose with Patroni, etcd and HAProxy")
{
  check_golden("compose-patroni", cfg_from("[project]\nname = \"orders\"\n[postgres]\nha = \"patroni\"\n"), {render::Target::compose, ""});
}

TEST_CASE("render: golden terraform for every cloud")
{
  for (std::string cloud : {"aws", "gcp", "azure"}) {
    INFO("cloud " << cloud);
    check_golden("terraform-" + cloud, cfg_from(""), {render::Target::terraform, cloud});
  }
}

TEST_CASE("render: golden terraform with non-default values")
{
  const char* toml = R"(
[project]
name = "billing"
[postgres]
replicas = 3
[redis]
replicas = 2
[terraform]
cloud = "gcp"
region = "europe-west1"
storage_gb = 500
backup_window = "01:30-02:30"
)";
  check_golden("terraform-gcp-custom", cfg_from(toml), {render::Target::terraform, ""});
}

TEST_CASE("render: k8s renders 2 postgres replicas unless the config sets the count")
{
  auto v = render::values(cfg_from(""), {render::Target::k8s, ""});
  CHECK(v["pg_replicas"] == "2");
  v = render::values(cfg_from("[postgres]\nreplicas = 1\n"), {render::Target::k8s, ""});
  CHECK(v["pg_replicas"] == "1");
  v = render::values(cfg_from(""), {render::Target::compose, ""});
  CHECK(v["pg_replicas"] == "1");
}

TEST_CASE("render: rendering is byte-identical on every run")
{
  auto cfg = cfg_from(k_custom_k8s);
  auto a = render::render(cfg, {render::Target::k8s, ""});
  auto b = render::render(cfg, {render::Target::k8s, ""});
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].path == b[i].path);
    CHECK(a[i].content == b[i].content);
  }
}

TEST_CASE("render: a missing name fails with the template path and the name")
{
  nlohmann::json v = {{"name", "x"}, {"postgres", {{"image", "postgres:16"}}}};
  CHECK(templating::render_string("image: {{postgres.image}}\n", "t.yaml", v) == "image: postgres:16\n");
  try {
    templating::render_string("a: {{name}}\nb: {{postgres.replicaz}}\nc: {{nope}}\n", "k8s/x.yaml", v);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "cannot render template k8s/x.yaml: no value for names 'nope', 'postgres.replicaz'");
  }
  try {
    templating::render_string("{{#missing_section}}x{{/missing_section}}", "s.yaml", v);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.message() == "cannot render template s.yaml: no value for name 'missing_section'");
  }
}

TEST_CASE("render: values never include URL keys (they can hold passwords)")
{
  auto cfg = cfg_from("[postgres]\nurl = \"postgresql://u:hunter2hunter2@h/db\"\n");
  auto v = render::values(cfg, {render::Target::compose, ""});
  CHECK(!v["postgres"].contains("url"));
  CHECK(v.dump().find("hunter2hunter2") == std::string::npos);
}

TEST_CASE("render: a project name that is not a DNS label is refused")
{
  try {
    render::values(cfg_from("[project]\nname = \"My_App\"\n"), {render::Target::k8s, ""});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "project.name 'My_App' cannot name k8s resources: it must be 1-40 characters of a-z, 0-9 and '-', not "
                         "starting or ending with '-'");
  }
}

TEST_CASE("render: compose renders a Redis Cluster as one service per node")
{
  auto files = render::render(cfg_from("[redis]\nmode = \"cluster\"\n[local]\nredis_port = 7100\n"), {render::Target::compose, ""});
  std::string compose;
  for (const auto& f : files)
    if (f.path == "docker-compose.yml") compose = f.content;
  REQUIRE(!compose.empty());
  for (int i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(compose.find(fmt::format("\n  redis-node-{}:\n", i)) != std::string::npos);
    CHECK(compose.find(fmt::format("\"127.0.0.1:{}:6379\"", 7100 + i)) != std::string::npos);
    CHECK(compose.find(fmt::format("\"cluster\", \"redis-node-{}\"]", i)) != std::string::npos);
    CHECK(compose.find(fmt::format("\n  redis-node-{}-data: {{}}\n", i)) != std::string::npos);
  }
  CHECK(compose.find("redis-node-6") == std::string::npos);
  CHECK(compose.find("redis-master") == std::string::npos);
  CHECK(compose.find("redis-sentinel") == std::string::npos);

  try {
    render::render(cfg_from("[redis]\nmode = \"cluster\"\n[monitoring]\nenabled = true\n"), {render::Target::compose, ""});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.what_failed() == "[monitoring] enabled is not rendered for a Redis Cluster on compose yet");
  }
}

TEST_CASE("render: compose renders TLS only by default; compose with Patroni refuses an explicit [tls] enabled = true")
{
  auto compose_file = [](const std::vector<render::File>& files) {
    for (const auto& f : files)
      if (f.path == "docker-compose.yml") return f.content;
    return std::string();
  };
  for (const char* toml : {"", "[tls]\nenabled = true\n"}) {
    CAPTURE(toml);
    auto cfg = cfg_from(toml);
    CHECK(render::tls_rendered(cfg, {render::Target::compose, ""}));
    std::string compose = compose_file(render::render(cfg, {render::Target::compose, ""}));
    CHECK(compose.find("  tls.key:\n    file: ./secrets/tls.key\n") != std::string::npos);
    CHECK(compose.find("secrets: [postgres, ca.crt, tls.crt, tls.key]") != std::string::npos);
  }
  auto plain = cfg_from("[tls]\nenabled = false\n");
  CHECK_FALSE(render::tls_rendered(plain, {render::Target::compose, ""}));
  CHECK(compose_file(render::render(plain, {render::Target::compose, ""})).find("ca.crt") == std::string::npos);
  // A Redis Cluster on compose is plain text (no compose cluster TLS yet) although [tls] enabled
  // is on by default for it, as for the local cluster and k8s.
  auto cluster = cfg_from("[redis]\nmode = \"cluster\"\n");
  CHECK(cluster.get_bool("tls.enabled"));
  CHECK_FALSE(render::tls_rendered(cluster, {render::Target::compose, ""}));
  CHECK(render::tls_rendered(cluster, {render::Target::k8s, ""}));

  struct Refused {
    std::string toml;
    render::Target target;
    std::string where;
  };
  for (const auto& r : {Refused{"[tls]\nenabled = true\n[postgres]\nha = \"patroni\"\n", render::Target::compose,
                                "compose with [postgres] ha = \"patroni\""},
                        Refused{"[tls]\nenabled = true\n[redis]\nmode = \"cluster\"\n", render::Target::compose,
                                "compose with [redis] mode = \"cluster\""}}) {
    CAPTURE(r.where);
    std::string name = render::target_name(r.target);
    try {
      render::render(cfg_from(r.toml), {r.target, ""});
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::usage);
      CHECK(e.what_failed() == "[tls] enabled = true is not rendered for " + r.where + " yet");
      CHECK(e.hint() == "set [tls] enabled = false for " + name + " (an [env.NAME] profile, or STATECTL_TLS_ENABLED=false)");
    }
  }
  CHECK_FALSE(render::render(cfg_from(""), {render::Target::k8s, ""}).empty());
  CHECK_FALSE(render::render(cfg_from("[postgres]\nha = \"patroni\"\n"), {render::Target::compose, ""}).empty());
  CHECK_FALSE(render::render(cfg_from("[tls]\nenabled = true\n"), {render::Target::terraform, "aws"}).empty());
}

TEST_CASE("render: --templates overrides one file by relative path and a bad override names the file")
{
  fs::path dir = fs::temp_directory_path() / ("statectl-render-override-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "k8s");
  std::ofstream(dir / "k8s" / "00-namespace.yaml") << "kind: Namespace # {{namespace}}\n";
  auto cfg = cfg_from("[templates]\ndir = \"" + dir.string() + "\"\n");
  auto files = render::render(cfg, {render::Target::k8s, ""});
  REQUIRE(files.front().path == "00-namespace.yaml");
  CHECK(files.front().content == "kind: Namespace # statectl\n");
  CHECK(files.size() > 3); // the other templates still come from the built-in set

  std::ofstream(dir / "k8s" / "00-namespace.yaml", std::ios::trunc) << "name: {{k8s.namespaces}}\n";
  try {
    render::render(cfg, {render::Target::k8s, ""});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.message() == "cannot render template " + (dir / "k8s" / "00-namespace.yaml").string() +
                           ": no value for name 'k8s.namespaces'");
  }
  fs::remove_all(dir);
}

TEST_CASE("render: to_stream writes a multi-document stream for k8s and file markers otherwise")
{
  std::vector<render::File> files = {{"a.yaml", "kind: A\n", false}, {"b.yaml", "kind: B\n---\nkind: C\n", false}};
  CHECK(render::to_stream({render::Target::k8s, ""}, files) == "---\n# Source: a.yaml\nkind: A\n---\n# Source: b.yaml\nkind: B\n---\nkind: C\n");
  CHECK(render::to_stream({render::Target::compose, ""}, files) == "# ==> a.yaml <==\nkind: A\n# ==> b.yaml <==\nkind: B\n---\nkind: C\n");
}

TEST_CASE("render: write_tree replaces a directory as a whole and keeps named entries")
{
  fs::path dir = fs::temp_directory_path() / ("statectl-render-tree-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  render::write_tree(dir, {{"x/one.txt", "1\n", false}, {"run.sh", "#!/bin/sh\n", true}});
  CHECK(slurp(dir / "x" / "one.txt") == "1\n");
  CHECK(util::file_mode(dir / "run.sh") == 0755);
  fs::create_directories(dir / "secrets");
  std::ofstream(dir / "secrets" / "pw") << "s";
  render::write_tree(dir, {{"two.txt", "2\n", false}}, {"secrets"});
  CHECK(!fs::exists(dir / "x"));
  CHECK(slurp(dir / "two.txt") == "2\n");
  CHECK(slurp(dir / "secrets" / "pw") == "s");
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(dir.parent_path()))
    if (e.path().filename().string().rfind("." + dir.filename().string() + ".tmp", 0) == 0) ++leftovers;
  CHECK(leftovers == 0);
  fs::remove_all(dir);
}

namespace {

std::string k8s_file(const std::vector<render::File>& files, const std::string& path)
{
  for (const auto& f : files)
    if (f.path == path) return f.content;
  FAIL("no file " << path);
  return {};
}

bool has_text(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

std::size_t count_text(const std::string& text, const std::string& what)
{
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

} // namespace

TEST_CASE("render: k8s speaks TLS only by default, with the Secret's certificate mounted at /tls")
{
  for (const char* toml : {"", "[tls]\nenabled = true\n"}) {
    CAPTURE(toml);
    auto cfg = cfg_from(toml);
    CHECK(render::tls_rendered(cfg, {render::Target::k8s, ""}));
    auto files = render::render(cfg, {render::Target::k8s, ""});
    std::string conf = k8s_file(files, "10-configmaps.yaml");
    // PostgreSQL: TLS 1.3 with the mounted files, and pg_hba accepts TCP only as hostssl + SCRAM.
    for (const char* line : {"    ssl = on\n", "    ssl_min_protocol_version = 'TLSv1.3'\n", "    ssl_cert_file = '/tls/tls.crt'\n",
                             "    ssl_key_file = '/tls/tls.key'\n", "    ssl_ca_file = '/tls/ca.crt'\n",
                             "    hostssl all all all scram-sha-256\n", "    hostssl replication replicator all scram-sha-256\n",
                             "    host all all all reject\n", "    host replication all all reject\n"})
      CHECK_MESSAGE(has_text(conf, line), line);
    // The whole pg_hba.conf: the socket, then TCP only over TLS; plain TCP is rejected.
    CHECK(has_text(conf, "  pg_hba.conf: |\n    local all all trust\n    hostssl replication replicator all scram-sha-256\n"
                         "    hostssl replication postgres all scram-sha-256\n    hostssl all all all scram-sha-256\n"
                         "    host all all all reject\n    host replication all all reject\n  init-roles.sh: |\n"));
    CHECK_FALSE(has_text(conf, "127.0.0.1/32 trust"));
    CHECK(has_text(conf, "-d \"sslmode=verify-full sslrootcert=/tls/ca.crt\""));
    // PgBouncer: TLS to its clients, verify-full to the primary's Service.
    for (const char* line : {"    client_tls_sslmode = require\n", "    client_tls_key_file = /tls/tls.key\n", "    server_tls_sslmode = verify-full\n",
                             "    server_tls_ca_file = /tls/ca.crt\n"})
      CHECK_MESSAGE(has_text(conf, line), line);
    // Redis and Sentinel: no plain port, TLS port, replication over TLS.
    CHECK(count_text(conf, "    port 0\n") == 2);
    CHECK(has_text(conf, "    tls-port 6379\n"));
    CHECK(has_text(conf, "    tls-port 26379\n"));
    CHECK(count_text(conf, "    tls-replication yes\n") == 2);
    CHECK_FALSE(has_text(conf, "    port 6379\n"));
    CHECK_FALSE(has_text(conf, "    port 26379\n"));
    // Every server pod mounts the three keys read-only at /tls; the exporters get ca.crt only.
    for (const char* path : {"20-postgres.yaml", "30-pgbouncer.yaml", "40-redis.yaml"}) {
      CAPTURE(path);
      std::string m = k8s_file(files, path);
      CHECK(has_text(m, "            - name: tls\n              mountPath: /tls\n              readOnly: true\n"));
      CHECK(has_text(m, "            defaultMode: 0440\n            items:\n              - key: tls.crt\n                path: tls.crt\n"
                        "              - key: tls.key\n                path: tls.key\n              - key: ca.crt\n                path: ca.crt\n"));
    }
    std::string pg = k8s_file(files, "20-postgres.yaml");
    CHECK(count_text(pg, "mountPath: /tls") == 3); // the primary, the standbys and their clone-primary init container
    CHECK(count_text(pg, "fsGroup: 999") == 2);    // tls.key is root-owned 0440: PostgreSQL accepts that for group 999
    std::string redis = k8s_file(files, "40-redis.yaml");
    CHECK(count_text(redis, "mountPath: /tls") == 3);
    CHECK(has_text(redis, "redis-cli --tls --cacert /tls/ca.crt ping"));
    CHECK(has_text(redis, R"(["redis-cli", "--tls", "--cacert", "/tls/ca.crt", "-p", "26379", "ping"])"));
  }

  // The exporters verify the servers: verify-full and rediss:// against the mounted CA.
  auto mon = k8s_file(render::render(cfg_from("[monitoring]\nenabled = true\n"), {render::Target::k8s, ""}), "70-monitoring.yaml");
  CHECK(count_text(mon, "sslmode=verify-full&sslrootcert=/tls/ca.crt") == 2);
  CHECK(has_text(mon, "rediss://statectl-redis-master:6379"));
  CHECK(has_text(mon, "rediss://statectl-redis-sentinel:26379"));
  CHECK(count_text(mon, "value: /tls/ca.crt") == 2);
  CHECK_FALSE(has_text(mon, "sslmode=disable"));

  // Redis Cluster (TLS only when asked: a cluster config's default is plain text): the bus over
  // TLS too, and the init Job's redis-cli verifies the nodes.
  auto cluster = render::render(cfg_from("[tls]\nenabled = true\n[redis]\nmode = \"cluster\"\n"), {render::Target::k8s, ""});
  CHECK(has_text(k8s_file(cluster, "10-configmaps.yaml"), "    tls-cluster yes\n"));
  std::string nodes = k8s_file(cluster, "41-redis-cluster.yaml");
  CHECK(has_text(nodes, "yes yes | redis-cli --tls --cacert /tls/ca.crt --cluster create"));
  CHECK(count_text(nodes, "mountPath: /tls") == 2);

  // Patroni: PostgreSQL's TLS in Patroni's config, hostssl-only pg_hba, replication verifying the CA.
  std::string patroni = k8s_file(render::render(cfg_from("[postgres]\nha = \"patroni\"\n"), {render::Target::k8s, ""}), "21-patroni.yaml");
  for (const char* line : {"        ssl: \"on\"\n", "        ssl_min_protocol_version: TLSv1.3\n", "        ssl_key_file: /tls/tls.key\n",
                           "        - hostssl all all all scram-sha-256\n", "        - host all all all reject\n", "          sslmode: verify-ca\n",
                           "              mountPath: /tls\n"})
    CHECK_MESSAGE(has_text(patroni, line), line);
  CHECK_FALSE(has_text(patroni, "127.0.0.1/32 trust"));

  // [tls] enabled = false: no TLS anywhere.
  auto plain = cfg_from("[tls]\nenabled = false\n[redis]\nmode = \"cluster\"\n[monitoring]\nenabled = true\n");
  CHECK_FALSE(render::tls_rendered(plain, {render::Target::k8s, ""}));
  for (const auto& f : render::render(plain, {render::Target::k8s, ""})) {
    CAPTURE(f.path);
    CHECK_FALSE(has_text(f.content, "/tls"));
    CHECK_FALSE(has_text(f.content, "hostssl"));
    CHECK_FALSE(has_text(f.content, "rediss://"));
  }
}

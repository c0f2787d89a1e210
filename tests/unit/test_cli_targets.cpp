// The targets through the whole CLI, in-process (run_cli with a recording FakeRunner): one JSON
// document under --dry-run -o json on every target, `psql --target compose` running psql inside
// the compose stack, state commands reaching the addresses the compose render publishes (and
// never a local stack's), and an unknown --target.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

using namespace statectl;
using statectl::testing::run_cli;
namespace fs = std::filesystem;

namespace {

// A loopback port nobody listens on.
int unused_port()
{
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A project directory with statectl.toml, and stand-ins for docker, kubectl and terraform on PATH
// (the drivers look them up before building argv; the FakeRunner never runs them).
struct Project {
  statectl::testing::TempDir tmp{"statectl-cli-targets"};
  std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  fs::path state;
  fs::path config;

  explicit Project(const std::string& toml)
  {
    state = tmp.path() / "state";
    config = tmp.path() / "statectl.toml";
    // One [local] table: the test's own [local] keys join the state folder's.
    std::string dir = "dir = \"" + state.string() + "\"\n";
    std::string text = toml;
    auto at = text.find("[local]\n");
    if (at == std::string::npos) text = "[local]\n" + dir + text;
    else text.insert(at + 8, dir);
    std::ofstream(config) << text;
    fs::create_directories(tmp.path() / "bin");
    for (const char* tool : {"docker", "kubectl", "terraform"}) {
      fs::path p = tmp.path() / "bin" / tool;
      std::ofstream(p) << "#!/bin/sh\nexit 0\n";
      fs::permissions(p, fs::perms::owner_all);
    }
    ::setenv("PATH", ((tmp.path() / "bin").string() + ":" + old_path).c_str(), 1);
  }
  ~Project() { ::setenv("PATH", old_path.c_str(), 1); }

  std::map<std::string, std::string> env() const { return {{"STATECTL_CONFIG", config.string()}}; }
};

nlohmann::json plan_of(const std::string& out)
{
  nlohmann::json doc = nlohmann::json::parse(out); // throws unless stdout is exactly one document
  REQUIRE(doc.is_object());
  CHECK(doc["dry_run"] == true);
  REQUIRE(doc["plan"].is_array());
  return doc;
}

bool has(const nlohmann::json& plan, const std::string& step)
{
  for (const auto& s : plan)
    if (s == step) return true;
  return false;
}

} // namespace

TEST_CASE("cli targets: --dry-run -o json deploy on compose is one JSON document with the plan inside")
{
  Project p("[project]\ntarget = \"compose\"\n");
  exec::FakeRunner runner;
  auto r = run_cli({"--dry-run", "-o", "json", "deploy"}, p.env(), &runner);
  CHECK(r.code == 0);
  CHECK(r.err == "dry run: nothing was changed\n");
  auto doc = plan_of(r.out);
  std::string dir = (p.state / "compose").string();
  std::string compose = "docker compose -p statectl -f " + dir + "/docker-compose.yml";
  CHECK(doc["target"] == "compose");
  CHECK(doc["applied"] == false);
  std::string roles = compose + " exec -T postgres-primary psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres";
  REQUIRE(doc["plan"].size() == 7);
  CHECK(doc["plan"][1] == "# would write the secret files " + dir + "/secrets (with ca.crt, tls.crt and tls.key, issued into the secret store when it has none)");
  CHECK(doc["plan"][2] == compose + " config -q");
  CHECK(doc["plan"][3] == compose + " up -d --remove-orphans");
  CHECK(doc["plan"][4] == "# would once postgres-primary is healthy, set up its roles, passwords (SCRAM verifiers) and synchronous_standby_names");
  CHECK(doc["plan"][5] == roles); // the SQL goes on stdin, so no password is in the plan
  CHECK(doc["plan"][6] == "# would wait up to 2m for every container to be healthy, then verify");
  CHECK(runner.command_lines() == std::vector<std::string>{"docker compose version", compose + " config -q", compose + " up -d --remove-orphans", roles});
  CHECK_FALSE(fs::exists(p.state / "compose"));
}

TEST_CASE("cli targets: --dry-run -o json deploy on k8s is one JSON document with the plan inside")
{
  Project p("[project]\ntarget = \"k8s\"\n");
  exec::FakeRunner runner;
  auto r = run_cli({"--dry-run", "-o", "json", "deploy"}, p.env(), &runner);
  CHECK(r.code == 0);
  CHECK(r.err == "dry run: nothing was changed\n");
  auto doc = plan_of(r.out);
  std::string dir = (p.state / "k8s").string();
  CHECK(doc["target"] == "k8s");
  CHECK(has(doc["plan"], "kubectl --namespace statectl apply -f " + dir + "/00-namespace.yaml"));
  CHECK(has(doc["plan"], "kubectl --namespace statectl apply -f " + dir));
  CHECK(has(doc["plan"], "# would create the Secret statectl-secrets from the secret store unless it exists (an existing one is kept, or "
                         "pushed again when it lacks tls.crt, tls.key or ca.crt; the TLS certificate is issued into the secret store first "
                         "when it has none)"));
  CHECK_FALSE(fs::exists(p.state / "k8s"));
}

TEST_CASE("cli targets: --dry-run -o json deploy on terraform plans in a copy and writes nothing")
{
  Project p("[project]\ntarget = \"terraform\"\n[terraform]\ncloud = \"gcp\"\n");
  exec::FakeRunner runner;
  runner.push_result({0, 0, false, false, "", ""});                                             // init
  runner.push_result({0, 0, false, false, "Plan: 7 to add, 0 to change, 0 to destroy.\n", ""}); // plan
  auto r = run_cli({"--dry-run", "-o", "json", "deploy"}, p.env(), &runner);
  CHECK(r.code == 0);
  CHECK(r.err == "dry run: nothing was changed\n");
  auto doc = plan_of(r.out);
  std::string dir = (p.state / "terraform" / "gcp").string();
  CHECK(doc["target"] == "terraform");
  CHECK(doc["cloud"] == "gcp");
  CHECK(doc["changes"] == nlohmann::json{{"add", 7}, {"change", 0}, {"destroy", 0}});
  CHECK(has(doc["plan"], "# would apply the plan: 7 to add, 0 to change, 0 to destroy"));
  CHECK(has(doc["plan"], "terraform -chdir=" + dir + " apply -input=false -no-color statectl.tfplan"));
  REQUIRE(runner.commands().size() == 3);
  CHECK(runner.commands()[0].argv[1] != "-chdir=" + dir); // init and plan ran in the temporary copy
  CHECK_FALSE(fs::exists(p.state / "terraform"));
}

TEST_CASE("cli targets: --dry-run -o json deploy on local is one JSON document and creates nothing")
{
  Project p("[project]\ntarget = \"local\"\n");
  exec::FakeRunner runner;
  auto r = run_cli({"--dry-run", "-o", "json", "deploy"}, p.env(), &runner);
  INFO(r.err);
  CHECK(r.code == 0);
  auto doc = plan_of(r.out);
  CHECK(doc["target"] == "local");
  CHECK(has(doc["plan"], "# would create the backup repository " + (p.state / "backups").string()));
  CHECK(r.err.find("dry run: nothing was changed\n") != std::string::npos);
  CHECK_FALSE(fs::exists(p.state)); // not even the backup repository's folders
}

TEST_CASE("cli targets: psql --target compose runs psql inside the primary's container")
{
  Project p("");
  fs::create_directories(p.state / "compose");
  // A TLS render with Redis ACL users (the defaults): it mounts the CA and the ACL users as
  // Compose secrets.
  const std::string tls_secrets = "secrets:\n  ca.crt:\n    file: ./secrets/ca.crt\n";
  std::ofstream(p.state / "compose" / "docker-compose.yml") << "services: {}\n" << tls_secrets << "  redis-acl:\n    file: ./secrets/redis-acl\n";
  exec::FakeRunner runner;
  auto r = run_cli({"psql", "--target", "compose", "--", "-c", "SELECT 1"}, p.env(), &runner);
  CHECK(r.code == 0);
  CHECK(r.out == "");
  CHECK(r.err == "");
  std::string file = (p.state / "compose" / "docker-compose.yml").string();
  REQUIRE(runner.commands().size() == 2);
  CHECK(runner.commands()[0].argv == std::vector<std::string>{"docker", "compose", "version"});
  std::vector<std::string> argv = runner.commands()[1].argv;
  std::vector<std::string> tty = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO) ? std::vector<std::string>{} : std::vector<std::string>{"-T"};
  std::vector<std::string> want = {"docker", "compose", "-p", "statectl", "-f", file, "exec"};
  want.insert(want.end(), tty.begin(), tty.end());
  want.insert(want.end(), {"postgres-primary", "psql", "-U", "postgres", "-d", "postgres", "-c", "SELECT 1"});
  CHECK(argv == want);
  CHECK(runner.commands()[1].io == exec::Io::inherit);

  // A render without TLS under the default [tls] enabled = true: exit 2, nothing run.
  std::ofstream(p.state / "compose" / "docker-compose.yml") << "services: {}\n";
  exec::FakeRunner plain;
  r = run_cli({"psql", "--target", "compose", "--", "-c", "SELECT 1"}, p.env(), &plain);
  CHECK(r.code == 2);
  CHECK(r.err.rfind("statectl: error: the compose stack in " + (p.state / "compose").string() + " runs without TLS: ", 0) == 0);
  CHECK(plain.commands().empty());

  // A TLS render without Redis ACL users under the default [redis] acl = true: exit 2, nothing
  // run; with [redis] acl = false it is the stack's mode.
  std::ofstream(p.state / "compose" / "docker-compose.yml") << "services: {}\n" << tls_secrets;
  exec::FakeRunner no_acl;
  r = run_cli({"psql", "--target", "compose", "--", "-c", "SELECT 1"}, p.env(), &no_acl);
  CHECK(r.code == 2);
  CHECK(r.err.rfind("statectl: error: the compose stack in " + (p.state / "compose").string() + " runs Redis without ACL users: ", 0) == 0);
  CHECK(no_acl.commands().empty());
  auto env = p.env();
  env["STATECTL_REDIS_ACL"] = "false";
  exec::FakeRunner acl_off;
  r = run_cli({"psql", "--target", "compose", "--", "-c", "SELECT 1"}, env, &acl_off);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(acl_off.commands().size() == 2);
}

TEST_CASE("cli targets: a state command on the compose target reaches the ports its render publishes, never a local stack")
{
  int published = unused_port();
  Project p("[project]\ntarget = \"compose\"\n[state]\nconnect_retries = 1\n[local]\npgbouncer_port = " + std::to_string(published) + "\n");
  exec::FakeRunner runner;

  // Nothing deployed on compose: exit 2, no address of another target is tried.
  auto r = run_cli({"get", "some/key"}, p.env(), &runner);
  CHECK(r.code == 2);
  CHECK(r.out == "");
  CHECK(r.err == "statectl: error: the compose target has no stack to reach: " + (p.state / "compose").string() +
                   " holds no applied compose render\nhint: run `statectl deploy --target compose`, or pass the --target the stack "
                   "runs on\n");

  // The applied render publishes the pooler on `published`; a later config change of the port
  // does not move the stack, so the render's port is the one reached.
  r = run_cli({"render", "--target", "compose", "--out", (p.state / "compose").string()}, p.env(), &runner);
  REQUIRE(r.code == 0);
  std::ofstream(p.state / "compose" / ".applied") << "";
  auto moved = p.env();
  moved["STATECTL_LOCAL_PGBOUNCER_PORT"] = std::to_string(published == 65535 ? 1025 : published + 1);
  r = run_cli({"get", "some/key"}, moved, &runner);
  CHECK(r.code == 3);
  CHECK(r.out == "");
  std::string want = "statectl: error: cannot connect to postgresql at 127.0.0.1:" + std::to_string(published) + ": ";
  CHECK(r.err.substr(0, want.size()) == want);
  CHECK(runner.commands().empty());
}

TEST_CASE("cli targets: an unknown --target is a usage error that lists the targets")
{
  Project p("");
  exec::FakeRunner runner;
  for (const auto& args : std::vector<std::vector<std::string>>{{"status", "--target", "nomad"}, {"get", "k", "--target", "nomad"}}) {
    auto r = run_cli(args, p.env(), &runner);
    CHECK(r.code == 2);
    CHECK(r.out == "");
    CHECK(r.err == "statectl: error: unknown target 'nomad': the targets are local, compose, k8s, terraform\n"
                   "hint: pass --target local, compose, k8s or terraform (or set [project] target)\n");
  }
  auto r = run_cli({"-o", "json", "scale", "postgres", "--replicas", "1", "--target", "nomad"}, p.env(), &runner);
  CHECK(r.code == 2);
  auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["error"]["code"] == 2);
  CHECK(runner.commands().empty());
}

TEST_CASE("cli targets: resizing a Redis Cluster is checked before anything runs, on every target")
{
  exec::FakeRunner runner;
  Project cluster("[project]\ntarget = \"compose\"\n[redis]\nmode = \"cluster\"\n[tls]\nenabled = false\n");
  auto r = run_cli({"scale", "redis", "--masters", "4"}, cluster.env(), &runner);
  CHECK(r.code == 2);
  CHECK(r.err.find("statectl: error: cannot resize a Redis Cluster on the compose target yet") == 0);
  r = run_cli({"scale", "redis", "--masters", "4", "--target", "k8s"}, cluster.env(), &runner);
  CHECK(r.code == 2);
  CHECK(r.err.find("statectl: error: cannot resize a Redis Cluster on the k8s target yet") == 0);
  for (const auto& args : std::vector<std::vector<std::string>>{{"scale", "redis", "--masters", "2", "--target", "local"},
                                                                {"scale", "redis", "--replicas", "6", "--target", "local"},
                                                                {"scale", "redis", "--target", "local"}}) {
    CAPTURE(args);
    r = run_cli(args, cluster.env(), &runner);
    CHECK(r.code == 2);
  }
  CHECK(run_cli({"scale", "redis", "--masters", "2", "--target", "local"}, cluster.env(), &runner).err.find("invalid --masters 2") !=
        std::string::npos);
  CHECK(run_cli({"scale", "redis", "--replicas", "6", "--target", "local"}, cluster.env(), &runner).err.find("per master") !=
        std::string::npos);

  Project sentinel("[project]\ntarget = \"local\"\n");
  r = run_cli({"scale", "redis", "--masters", "4"}, sentinel.env(), &runner);
  CHECK(r.code == 2);
  CHECK(r.err.find("statectl: error: --masters applies to a Redis Cluster only") == 0);
  r = run_cli({"scale", "postgres", "--replicas", "-1"}, sentinel.env(), &runner);
  CHECK(r.code == 2);
  CHECK(r.err.find("statectl: error: invalid --replicas -1") == 0);
  CHECK(runner.commands().empty());
}

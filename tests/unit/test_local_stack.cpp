#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <unistd.h>

#include "core/error.h"
#include "core/config/config.h"
#include "core/exec/redact.h"
#include "core/local/archive.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/local/site.h"
#include "core/local/stack.h"
#include "core/local/state.h"
#include "core/util/strings.h"
#include "tests/support/temp_dir.h"
#include "tests/support/fake_runner.h"

namespace fs = std::filesystem;
using namespace statectl;

namespace {

config::Config local_config(const fs::path& dir, const std::string& extra = {})
{
  std::string text = "[local]\ndir = \"" + (dir / "stack").string() +
                     "\"\npostgres_port = 30500\npgbouncer_port = 30520\nredis_port = 30530\nsentinel_port = 30550\n"
                     "etcd_port = 30560\npatroni_port = 30570\nhaproxy_port = 30590\n" +
                     extra;
  return config::Config::from_string(text, "statectl.toml");
}

// The plan of `deploy --dry-run` through a recording runner.
std::vector<exec::Command> plan_commands(const config::Config& cfg, std::string* plan_text = nullptr)
{
  exec::FakeRunner runner(exec::DryRun::plan);
  std::ostringstream out, err;
  output::Printer printer(out, err, output::Format::text, output::Verbosity::normal, false);
  local::Stack stack(cfg, runner, printer);
  stack.deploy({});
  if (plan_text) *plan_text = out.str();
  return runner.commands();
}

const exec::Command* find_command(const std::vector<exec::Command>& cmds, const std::string& program)
{
  for (const auto& c : cmds)
    if (fs::path(c.argv[0]).filename() == program) return &c;
  return nullptr;
}

} // namespace

TEST_CASE("local: archive_command calls statectl wal push with the backup repository")
{
  testing::TempDir t("statectl-unit-local");
  auto cfg = local_config(t.path());
  std::string repo = (t.path() / "stack" / "backups").string();
  CHECK(local::archive_command(cfg) == local::self_exe().string() + " wal push --repo " + repo + " %p");
  auto ctx = local::archive_context(cfg);
  CHECK(ctx.statectl.is_absolute());
  CHECK(ctx.state_dir == t.path() / "stack");
}

TEST_CASE("local: patroni timings follow loop_wait + 2 * retry_timeout <= ttl")
{
  testing::TempDir t("statectl-unit-local");
  CHECK_NOTHROW(local::check_patroni_timings(local_config(t.path(), "[postgres]\nttl = 30\nloop_wait = 10\nretry_timeout = 10\n")));
  try {
    local::check_patroni_timings(local_config(t.path(), "[postgres]\nttl = 10\nloop_wait = 5\nretry_timeout = 4\n"));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "invalid Patroni timings: loop_wait + 2 * retry_timeout must not exceed ttl, got 5 + 2 * 4 = 13 > 10");
  }
}

TEST_CASE("local: the state file round-trips members and scale overrides")
{
  testing::TempDir t("statectl-unit-local");
  local::StackState s;
  s.ha = "none";
  s.run_as = "postgres";
  s.pgbouncer_target = 15433;
  s.scaled["postgres"] = 2;
  local::Member m;
  m.name = "postgres-1";
  m.kind = "postgres";
  m.role = "primary";
  m.port = 15433;
  m.pid = 4242;
  m.start_time = 99;
  m.data_dir = "/x/postgres-1/data";
  m.initialized = true;
  s.members.push_back(m);
  fs::path file = t.path() / "stack.json";
  local::save_state(file, s);
  auto back = local::load_state(file);
  REQUIRE(back);
  CHECK(back->to_json() == s.to_json());
  CHECK(back->with_role("postgres", "primary")->name == "postgres-1");
  CHECK(back->scaled.at("postgres") == 2);
  CHECK_FALSE(local::load_state(t.path() / "missing.json"));
}

TEST_CASE("local: slot names are valid PostgreSQL identifiers")
{
  CHECK(local::postgres::slot_name("postgres-1") == "postgres_1");
  CHECK(local::postgres::slot_name("Postgres-12") == "postgres_12");
}

TEST_CASE("local: deploy --dry-run plans every server and passes no password in argv")
{
  testing::TempDir t("statectl-unit-local");
  auto cfg = local_config(t.path(), "[postgres]\nreplicas = 2\n");
  std::string plan;
  auto cmds = plan_commands(cfg, &plan);

  const exec::Command* initdb = find_command(cmds, "initdb");
  REQUIRE(initdb);
  std::string initdb_line = util::join(initdb->argv, " ");
  CHECK(initdb_line.find("--auth-host=scram-sha-256") != std::string::npos);
  CHECK(initdb_line.find("-D " + (t.path() / "stack/postgres-0/data").string()) != std::string::npos);
  CHECK(initdb->mutating);

  int basebackups = 0;
  for (const auto& c : cmds) {
    if (fs::path(c.argv[0]).filename() != "pg_basebackup") continue;
    ++basebackups;
    std::string line = util::join(c.argv, " ");
    CHECK(line.find("-p 30500 -U replication") != std::string::npos);
    CHECK((line.find("-S postgres_1") != std::string::npos || line.find("-S postgres_2") != std::string::npos));
    CHECK(c.env.count("PGPASSFILE") == 1);
  }
  CHECK(basebackups == 2);
  REQUIRE(find_command(cmds, "pgbouncer"));
  CHECK(find_command(cmds, "redis-sentinel"));
  CHECK(plan.find("write " + (t.path() / "stack/pgbouncer/userlist.txt").string() + " (mode 0600") != std::string::npos);

  // No secret reaches an argv: the psql passwords go by stdin and environment.
  for (const auto& c : cmds) {
    CHECK(exec::redact(util::join(c.argv, " ")) == util::join(c.argv, " "));
    if (fs::path(c.argv[0]).filename() == "psql") {
      CHECK(c.env.count("PGPASSWORD") == 1);
      CHECK(c.stdin_data.has_value());
    }
  }
  CHECK_FALSE(fs::exists(t.path() / "stack" / "postgres-0"));
  CHECK_FALSE(fs::exists(t.path() / "stack" / "stack.json"));
}

TEST_CASE("local: patroni mode plans etcd, three members and HAProxy")
{
  testing::TempDir t("statectl-unit-local");
  auto cfg = local_config(t.path(), "[postgres]\nha = \"patroni\"\n[redis]\nmode = \"standalone\"\n");
  std::string plan;
  auto cmds = plan_commands(cfg, &plan);
  int members = 0;
  bool etcd = false, haproxy = false;
  for (const auto& c : cmds) {
    std::string line = util::join(c.argv, " ");
    if (line.find("--exec /usr/bin/patroni") != std::string::npos || line.find("patroni.yml") != std::string::npos) ++members;
    // TLS by default: etcd's client and peer URLs are https with the stack's certificate.
    etcd = etcd || (line.find("--initial-cluster statectl=https://127.0.0.1:30561") != std::string::npos &&
                    line.find("--listen-client-urls https://127.0.0.1:30560") != std::string::npos &&
                    line.find("--cert-file " + (t.path() / "stack" / "tls" / "server.crt").string()) != std::string::npos &&
                    line.find("--peer-trusted-ca-file " + (t.path() / "stack" / "tls" / "ca.crt").string()) != std::string::npos);
    haproxy = haproxy || fs::path(c.argv[0]).filename() == "haproxy";
  }
  CHECK(members == 3);
  CHECK(etcd);
  CHECK(haproxy);
  CHECK_FALSE(find_command(cmds, "initdb"));
  CHECK_FALSE(find_command(cmds, "redis-sentinel"));
}

TEST_CASE("local: clients of a stack deployed without TLS are told so when the config asks for TLS")
{
  testing::TempDir t("statectl-unit-local");
  auto cfg = local_config(t.path());
  CHECK(local::client_tls(cfg).enabled); // nothing deployed yet: TLS, the default
  fs::create_directories(t.path() / "stack");
  local::save_state(local::state_file(cfg), local::StackState{});
  try {
    local::client_tls(cfg);
    FAIL("no error for a plain-text stack");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message().find("runs without TLS") != std::string::npos);
    CHECK(e.hint().find("[tls] enabled = false") != std::string::npos);
  }
  auto plain = local_config(t.path(), "[tls]\nenabled = false\n");
  CHECK_FALSE(local::client_tls(plain).enabled);
}

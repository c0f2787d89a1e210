// The deploy drivers' parsing and argv building (exact text), and a terraform deploy through a
// FakeRunner: the command sequence, the dry-run stop and TF_VAR_ passwords never in argv.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <unistd.h>

#include "core/config/config.h"
#include "core/deploy/tools.h"
#include "core/error.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/targets/common.h"
#include "core/targets/target.h"
#include "tests/support/fake_runner.h"

using namespace statectl;
namespace fs = std::filesystem;

TEST_CASE("deploy: terraform plan summary")
{
  auto s = deploy::parse_plan_summary("...\nPlan: 12 to add, 3 to change, 1 to destroy.\n");
  CHECK(s.parsed);
  CHECK(s.add == 12);
  CHECK(s.change == 3);
  CHECK(s.destroy == 1);
  s = deploy::parse_plan_summary("No changes. Your infrastructure matches the configuration.\n");
  CHECK(s.parsed);
  CHECK(s.add == 0);
  CHECK(!deploy::parse_plan_summary("Error: something").parsed);
}

TEST_CASE("deploy: workloads found in rendered manifests, in file order")
{
  std::vector<std::pair<std::string, std::string>> files = {
    {"a.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  "
               "name: db\n  labels:\n    name: not-this\nspec:\n  template:\n    metadata:\n      name: nor-this\n"},
    {"b.yaml", "# comment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: pool\n"},
  };
  CHECK(deploy::workloads(files) == std::vector<std::string>{"statefulset/db", "deployment/pool"});
}

TEST_CASE("deploy: scale bounds are checked before anything runs")
{
  std::ostringstream out, err;
  output::Printer printer(out, err, output::Format::text, output::Verbosity::normal, false);
  exec::FakeRunner runner;
  auto check = [&](const std::string& target, const std::string& component, std::int64_t replicas) {
    auto cfg = config::Config::from_string("[project]\ntarget = \"" + target + "\"\n", "/nonexistent/statectl-scale/statectl.toml");
    targets::make(cfg, runner, printer)->check_scale({component, replicas});
  };
  try {
    check("k8s", "postgres", 16);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "invalid --replicas 16 for postgres: must be between 0 and 15, got 16");
  }
  CHECK_THROWS_AS(check("terraform", "pooler", 2), Error);
  CHECK_THROWS_AS(check("local", "pooler", 2), Error);
  CHECK_NOTHROW(check("compose", "pooler", 2));
  CHECK_THROWS_AS(check("terraform", "postgres", 0), Error);
  CHECK_THROWS_AS(targets::detail::scale_key("proxy"), Error);
  CHECK(targets::detail::scale_key("pooler") == "pgbouncer.replicas");
  CHECK(runner.commands().empty());
}

TEST_CASE("deploy: terraform through a FakeRunner runs init, plan, apply of the plan file, output")
{
  if (!exec::find_program("terraform")) return; // deploy checks the binary is installed
  fs::path dir = fs::temp_directory_path() / ("statectl-deploy-unit-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto cfg = config::Config::from_string("[project]\ntarget = \"terraform\"\n[terraform]\ncloud = \"aws\"\n[local]\ndir = \"" + (dir / "state").string() + "\"\n",
                                         (dir / "statectl.toml").string());
  std::ostringstream out, err;
  output::Printer printer(out, err, output::Format::text, output::Verbosity::normal, false);

  exec::FakeRunner runner;
  runner.push_result({0, 0, false, false, "", ""});                                             // init
  runner.push_result({0, 0, false, false, "Plan: 4 to add, 0 to change, 0 to destroy.\n", ""}); // plan
  runner.push_result({0, 0, false, false, "", ""});                                             // apply
  runner.push_result({0, 0, false, false, "{}", ""});                                           // output
  auto doc = targets::make(cfg, runner, printer)->deploy({}).to_json();
  CHECK(targets::detail::applied_dir(cfg, {render::Target::terraform, "aws"}) == dir / "state" / "terraform" / "aws");
  std::string chdir = "-chdir=" + (dir / "state" / "terraform" / "aws").string();
  using V = std::vector<std::string>;
  REQUIRE(runner.commands().size() == 4);
  CHECK(runner.commands()[0].argv == V{"terraform", chdir, "init", "-input=false", "-no-color"});
  CHECK(runner.commands()[1].argv == V{"terraform", chdir, "plan", "-input=false", "-no-color", "-out=statectl.tfplan"});
  CHECK(runner.commands()[2].argv == V{"terraform", chdir, "apply", "-input=false", "-no-color", "statectl.tfplan"});
  CHECK(runner.commands()[2].mutating);
  CHECK(!runner.commands()[1].mutating);
  CHECK(runner.commands()[3].argv == V{"terraform", chdir, "output", "-json", "-no-color"});
  CHECK(doc["changes"]["add"] == 4);
  for (const auto& c : runner.commands()) {
    CHECK(c.env.count("TF_VAR_postgres_password") == 1);
    CHECK(c.env.at("TF_VAR_postgres_password").size() >= 16);
    for (const auto& a : c.argv) CHECK(a.find(c.env.at("TF_VAR_postgres_password")) == std::string::npos);
  }
  CHECK(err.str().find("plan: 4 to add, 0 to change, 0 to destroy") != std::string::npos);
  fs::remove_all(dir);
}

// Bad command-line input through the whole app (run_app, in-process): the documented exit
// code and a "statectl: error: ..." message that says what is wrong, before anything runs.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "commands/app.h"

using statectl::commands::run_app;

namespace {

struct Run {
  int code = 0;
  std::string out;
  std::string err;
};

Run run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}, bool tty = false)
{
  std::ostringstream out, err;
  Run r;
  r.code = run_app(args, out, err, env, tty);
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("bad input: an empty value for any option is a usage error, not 'unset'")
{
  using V = std::vector<std::string>;
  for (const auto& args : {V{"-c", "", "config", "show"}, V{"--dry-run", "put", "k", "v", "--ttl", ""},
                           V{"--dry-run", "put", "k", "v", "--metadata", ""}, V{"--dry-run", "lock", "n", "--wait", "", "--", "true"},
                           V{"render", "--target", "compose", "--out", ""}, V{"psql", "--host", ""},
                           V{"restore", "--to", "/tmp/statectl-unit-restore", "--target-name", ""}}) {
    CAPTURE(args);
    auto r = run(args);
    CHECK(r.code == 2);
    CHECK(has(r.err, "statectl: error: invalid usage: "));
    CHECK(has(r.err, "needs a non-empty value"));
  }
  auto r = run({"--dry-run", "put", "k", "v", "--ttl="});
  CHECK(r.code == 2);
  CHECK(has(r.err, "statectl: error: invalid usage: --ttl: "));
}

TEST_CASE("bad input: --ttl 1.2.3s is not read as 1.2s")
{
  auto r = run({"--dry-run", "put", "k", "v", "--ttl", "1.2.3s"});
  CHECK(r.code == 2);
  CHECK(has(r.err, "statectl: error: invalid --ttl: invalid duration '1.2.3s'"));
  CHECK(run({"--dry-run", "put", "k", "v", "--ttl", "1.5s"}).code == 0);
}

TEST_CASE("bad input: keys --limit must be a non-negative number that fits")
{
  for (const std::string limit : {"-1", "99999999999999999999999", "many"}) {
    CAPTURE(limit);
    auto r = run({"keys", "--limit", limit});
    CHECK(r.code == 2);
    CHECK(has(r.err, "statectl: error: invalid usage: "));
  }
}

TEST_CASE("bad input: capacity plan --growth needs its period")
{
  auto r = run({"capacity", "plan", "--ram", "16GB", "--cpus", "4", "--growth", "5GB"});
  CHECK(r.code == 2);
  CHECK(has(r.err, "statectl: error: invalid --growth: '5GB' has no period"));
  CHECK(has(r.err, "hint: give a rate per month, e.g. --growth 5GB/month"));
  CHECK(run({"capacity", "plan", "--ram", "16GB", "--cpus", "4", "--growth", "5GB/month"}).code == 0);
}

TEST_CASE("bad input: -c DIR says it is a directory")
{
  auto dir = std::filesystem::temp_directory_path();
  auto r = run({"-c", dir.string(), "config", "show"});
  CHECK(r.code == 2);
  CHECK(has(r.err, "statectl: error: cannot read config " + dir.string() + ": it is a directory"));
}

TEST_CASE("bad input: a missing upper-case argument keeps its name (NAME is required)")
{
  auto r = run({"wal", "fetch"});
  CHECK(r.code == 2);
  CHECK(has(r.err, "NAME is required"));
  CHECK_FALSE(has(r.err, "nAME"));
}

TEST_CASE("bad input: a stray word or option points at the --help of the whole command path")
{
  auto r = run({"secrets", "keygen", "extra"});
  CHECK(r.code == 2);
  CHECK(r.out == "");
  CHECK(r.err == "statectl: error: unexpected argument 'extra' for 'secrets keygen'\nhint: run 'statectl secrets keygen --help'\n");

  r = run({"backup", "list", "--no-such-flag"});
  CHECK(r.code == 2);
  CHECK(r.err == "statectl: error: unknown option '--no-such-flag'\nhint: run 'statectl backup list --help' for the options\n");

  r = run({"capacity", "chek"});
  CHECK(r.code == 2);
  CHECK(r.err == "statectl: error: unknown command 'chek' for 'capacity'\nhint: did you mean 'check'?\n");
}

TEST_CASE("NO_COLOR: an empty value does not turn colour off, any other value does")
{
  CHECK(has(run({"confg"}, {}, true).err, "\033[31m"));
  CHECK(has(run({"confg"}, {{"NO_COLOR", ""}}, true).err, "\033[31m"));
  CHECK_FALSE(has(run({"confg"}, {{"NO_COLOR", "1"}}, true).err, "\033["));
  CHECK_FALSE(has(run({"confg"}, {}, false).err, "\033["));
}

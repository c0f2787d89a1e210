// statectl run in-process through run_cli: exit code, stdout and stderr asserted exactly.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

using statectl::testing::CliResult;
using statectl::testing::run_cli;
using statectl::testing::TempDir;

namespace {

// Writes text to dir/name and returns the file's path.
std::string write_file(const std::filesystem::path& dir, const std::string& name, const std::string& text)
{
  auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

} // namespace

TEST_CASE("cli: --version prints the version on stdout and nothing else")
{
  CliResult r = run_cli({"--version"});
  CHECK(r.code == 0);
  CHECK(r.out == "statectl " STATECTL_VERSION "\n");
  CHECK(r.err == "");
}

TEST_CASE("cli: an unknown command is a usage error with a did-you-mean hint")
{
  CliResult r = run_cli({"deplyo"});
  CHECK(r.code == 2);
  CHECK(r.out == "");
  CHECK(r.err == "statectl: error: unknown command 'deplyo'\nhint: did you mean 'deploy'?\n");
}

TEST_CASE("cli: an unknown command under -o json also prints the error document on stdout")
{
  CliResult r = run_cli({"-o", "json", "sttaus"});
  CHECK(r.code == 2);
  CHECK(r.out == "{\n  \"error\": {\n    \"code\": 2,\n    \"hint\": \"did you mean 'status'?\",\n"
                 "    \"message\": \"unknown command 'sttaus'\"\n  }\n}\n");
  CHECK(r.err == "statectl: error: unknown command 'sttaus'\nhint: did you mean 'status'?\n");
}

TEST_CASE("cli: config validate names file:line:col of bad TOML and exits 2")
{
  TempDir t("statectl-unit-cli");
  std::string file = write_file(t.path(), "bad.toml", "[project]\nname = \"shop\"\ntarget = \n");
  CliResult r = run_cli({"-c", file, "config", "validate"});
  CHECK(r.code == 2);
  CHECK(r.out == "");
  CHECK(r.err == "statectl: error: " + file +
                   ":3:10: error while parsing key-value pair: expected value, saw '\\n'\n"
                   "hint: see https://toml.io for the syntax\n");
}

TEST_CASE("cli: config validate of a good file says valid, and STATECTL_CONFIG names the file")
{
  TempDir t("statectl-unit-cli");
  std::string file = write_file(t.path(), "statectl.toml", "[project]\nname = \"shop\"\n");
  CliResult r = run_cli({"config", "validate"}, {{"STATECTL_CONFIG", file}});
  CHECK(r.code == 0);
  CHECK(r.out == file + ": valid\n");
  CHECK(r.err == "");
}

TEST_CASE("cli: a value that is a command name is the value, never a second command")
{
  // CLI11 matches later words against the parents' subcommands: `put KEY status` used to write
  // an empty value and then run `status`.
  for (std::string word : {"failover", "status", "put", "deploy"}) {
    CAPTURE(word);
    CliResult r = run_cli({"--dry-run", "put", "some/key", word});
    CHECK(r.code == 0);
    CHECK(r.out == "# would put key 'some/key' (" + std::to_string(word.size()) + " bytes) on postgres\n");
    CHECK(r.err == "dry run: nothing was changed\n");
  }
}

TEST_CASE("cli: a command name after a command without arguments is an unexpected argument")
{
  CliResult r = run_cli({"version", "status"});
  CHECK(r.code == 2);
  CHECK(r.out == "");
  CHECK(r.err.starts_with("statectl: error: unexpected argument 'status' for 'version'\n"));
  r = run_cli({"backup", "list", "create"});
  CHECK(r.code == 2);
  CHECK(r.out == "");
  CHECK(r.err.starts_with("statectl: error: unexpected argument 'create' for 'backup list'\n"));
}

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "core/error.h"

using statectl::ExitCode;

namespace {
// The text between "<!-- BEGIN name -->" and "<!-- END name -->" of the README, without the markers.
std::string readme_block(const std::string& name)
{
  std::ifstream in(std::filesystem::path(STATECTL_TEST_SOURCE_DIR) / "README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  std::string begin = "<!-- BEGIN " + name + " -->\n";
  auto from = text.find(begin);
  auto to = text.find("<!-- END " + name + " -->");
  if (from == std::string::npos || to == std::string::npos || to < from) return "(no " + name + " block in README.md)";
  from += begin.size();
  return text.substr(from, to - from);
}
} // namespace

TEST_CASE("error: the exit-code table has every code once, in ascending order")
{
  std::set<int> codes;
  std::set<std::string> names;
  int previous = -1;
  for (const auto& row : statectl::exit_code_table()) {
    int code = static_cast<int>(row.code);
    CAPTURE(code);
    CHECK(code > previous);
    previous = code;
    codes.insert(code);
    names.insert(row.name);
    CHECK(std::string(row.meaning).size() > 5);
  }
  CHECK(codes == std::set<int>{0, 1, 2, 3, 4, 70, 75, 76, 130});
  CHECK(names.size() == codes.size());
  for (auto code : {ExitCode::ok, ExitCode::failed, ExitCode::usage, ExitCode::unavailable, ExitCode::external,
                    ExitCode::internal, ExitCode::lock_timeout, ExitCode::lock_lost, ExitCode::interrupted})
    CHECK(statectl::exit_code_info(code).code == code);
  CHECK(std::string(statectl::describe(ExitCode::internal)).find("a bug in statectl") != std::string::npos);
}

TEST_CASE("error: the README's exit-code table is generated from the table")
{
  // On failure, paste the "expected" text between the README's exit-codes markers.
  std::string expected = statectl::exit_codes_markdown();
  std::string actual = readme_block("exit-codes");
  CHECK_MESSAGE(actual == expected, "README.md's exit-codes block is stale; it must read:\n" << expected);
}

TEST_CASE("error: --help's exit codes list each code and the per-command exceptions")
{
  std::string help = statectl::exit_codes_help();
  CHECK(help.rfind("Exit codes:\n  0    success\n  1    the operation ran", 0) == 0);
  CHECK(help.find("\n  70   internal error: a bug in statectl") != std::string::npos);
  CHECK(help.find("\n  130  interrupted (SIGINT); cleanup ran\n") != std::string::npos);
  CHECK(help.find("Exception: 'capacity check' uses Nagios codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN") != std::string::npos);
  CHECK(help.find("Exception: 'lock -- CMD' returns CMD's exit code once the lock was held.\n") != std::string::npos);
  std::string md = statectl::exit_codes_markdown();
  CHECK(md.find("| 75 | lock not acquired within `--wait` (EX_TEMPFAIL) |\n") != std::string::npos);
  CHECK(md.find("- `capacity check` uses Nagios codes") != std::string::npos);
}

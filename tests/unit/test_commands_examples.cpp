// Every help text has examples and a usage line with the whole command path; the man page has
// the sections a man page is expected to have, all from the same command tree.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>
#include <sstream>

#include "commands/app.h"
#include "commands/completion.h"
#include "commands/examples.h"
#include "commands/table.h"
#include "core/util/strings.h"

using namespace statectl::commands;

namespace {

std::vector<std::vector<std::string>> command_paths()
{
  GlobalOptions g;
  std::ostringstream out, err;
  Context ctx(g, out, err, {}, false);
  CLI::App app("statectl", "statectl");
  build_app(app, ctx);
  std::vector<std::vector<std::string>> paths;
  for (const auto& n : completion_tree(app)) paths.emplace_back(n.path.begin() + 1, n.path.end());
  return paths;
}

} // namespace

TEST_CASE("help: every command's --help has examples and the full command path in its usage line")
{
  auto paths = command_paths();
  CHECK(paths.size() > 50);
  for (const auto& path : paths) {
    std::string joined = statectl::util::join(path, " ");
    CAPTURE(joined);
    CHECK(command_examples().count(joined) == 1);
    auto args = path;
    args.push_back("--help");
    std::ostringstream out, err;
    CHECK(run_app(args, out, err, {}, false) == 0);
    std::string help = out.str();
    CHECK(help.find("Usage: statectl" + (joined.empty() ? std::string() : " " + joined) + " ") != std::string::npos);
    CHECK(help.find("\nExamples:\n  statectl") != std::string::npos);
  }
}

TEST_CASE("help: backup create's usage line and example, exactly")
{
  std::ostringstream out, err;
  CHECK(run_app({"backup", "create", "--help"}, out, err, {}, false) == 0);
  CHECK(out.str().find("Usage: statectl backup create [OPTIONS]\n") != std::string::npos);
  CHECK(out.str().find("Examples:\n  statectl backup create\n  statectl backup create --type logical\n") != std::string::npos);
}

TEST_CASE("man page: EXAMPLES, FILES, ENVIRONMENT, EXIT STATUS and SEE ALSO")
{
  std::ostringstream out, err;
  CHECK(run_app({"completion", "man"}, out, err, {}, false) == 0);
  std::string man = out.str();
  for (const char* section : {".SH EXAMPLES\n", ".SH FILES\n", ".SH ENVIRONMENT\n", ".SH EXIT STATUS\n", ".SH SEE ALSO\n"}) {
    CAPTURE(section);
    CHECK(man.find(section) != std::string::npos);
  }
  CHECK(man.find(".SS backup create\n.nf\nstatectl backup create\nstatectl backup create \\-\\-type logical\n.fi\n") != std::string::npos);
  CHECK(man.find(".TP\n.B STATECTL_POSTGRES_REPLICAS\n") != std::string::npos);
  CHECK(man.find(".TP\n.B NO_COLOR\nany non\\-empty value turns ANSI colour off") != std::string::npos);
  CHECK(man.find("/usr/share/statectl/templates/") != std::string::npos);
}

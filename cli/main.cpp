// statectl's entry point: hands the process's arguments, environment and streams to the app.
#include <csignal>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include "commands/app.h"
#include "core/error.h"

extern char** environ;

int main(int argc, char** argv)
{
  std::signal(SIGPIPE, SIG_IGN); // a closed pipe is an error to report, not a silent death
  std::vector<std::string> args(argv + 1, argv + argc);
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  try {
    return statectl::commands::run_app(args, std::cout, std::cerr, env, ::isatty(2) == 1);
  } catch (const std::exception& e) {
    // Only a bug before the app could print (run_app reports the others): exit 70 of the table.
    std::cerr << "statectl: error: internal error: " << e.what() << "\nhint: please report this as a bug, with the command line\n";
    return static_cast<int>(statectl::ExitCode::internal);
  }
}

#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/support/fake_runner.h"

namespace statectl::testing {

// What one in-process statectl run produced.
struct CliResult {
  int code = -1;
  std::string out; // everything written to stdout
  std::string err; // everything written to stderr
};

// Runs statectl in-process with args (without the program name) and exactly the environment
// env (the test's own environment is not inherited; stderr is not a TTY, so there is no
// colour). With a runner, every external command goes to it: it records argv, answers from its
// queue and follows --dry-run, printing planned commands to stdout as the real runner does.
// Without one, external commands run for real.
CliResult run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                  exec::FakeRunner* runner = nullptr);

} // namespace statectl::testing

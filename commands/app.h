#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "commands/context.h"

namespace statectl::commands {

// Runs statectl with argv, the given environment and streams; returns the exit code. This is
// the whole program: cli/main.cpp only passes the process's real streams in. Errors are caught
// here, once, and printed as "statectl: error: ..." (plus JSON under -o json). make_runner, when
// given, makes the runner for external commands (in-process tests record argv with it).
int run_app(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const std::map<std::string, std::string>& environment, bool stderr_is_tty,
            const RunnerFactory& make_runner = {});

} // namespace statectl::commands

#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace statectl::commands {

// Runs statectl with argv, the given environment and streams; returns the exit code. This is
// the whole program: cli/main.cpp only passes the process's real streams in. Errors are caught
// here, once, and printed as "statectl: error: ..." (plus JSON under -o json).
int run_app(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const std::map<std::string, std::string>& environment, bool stderr_is_tty);

} // namespace statectl::commands

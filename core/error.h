#pragma once

#include <span>
#include <stdexcept>
#include <string>

namespace statectl {

// The exit codes of CLI.md; every failure that reaches the top carries one of these. What each
// means for users is in exit_code_table(), the one source of --help, the man page and README.
enum class ExitCode : int {
  ok = 0,
  failed = 1,       // the operation ran and its answer is "no" / it failed
  usage = 2,        // usage or configuration error; nothing was changed
  unavailable = 3,  // a server or tool statectl needs is unreachable or missing
  external = 4,     // an external command statectl ran failed
  internal = 70,    // a bug in statectl (EX_SOFTWARE): an exception that is not an Error
  lock_timeout = 75,
  lock_lost = 76,
  interrupted = 130,
};

// One row of the exit-code table: the code, its short name and one line saying what it means.
struct ExitCodeInfo {
  ExitCode code;
  const char* name;
  const char* meaning;
};

// A command whose exit status follows another convention than the table, and that convention.
struct ExitCodeException {
  const char* command;
  const char* rule;
};

// Every exit code statectl returns, in ascending order.
std::span<const ExitCodeInfo> exit_code_table();

// The commands with their own exit-status convention (capacity check's Nagios codes, lock -- CMD).
std::span<const ExitCodeException> exit_code_exceptions();

// The table's row for a code.
const ExitCodeInfo& exit_code_info(ExitCode code);

// One line describing an exit code (the table's meaning).
const char* describe(ExitCode code);

// The README's exit-code section: a Markdown table of every code, then the exceptions.
std::string exit_codes_markdown();

// The exit-code part of `statectl --help`'s footer: one line per code, then the exceptions.
std::string exit_codes_help();

// The one error type of statectl. Thrown by commands and core code, caught only in cli/main.cpp,
// printed as "statectl: error: <what>: <why>" plus an optional "hint: <hint>" line.
class Error : public std::runtime_error {
public:
  Error(ExitCode code, std::string what, std::string why = {}, std::string hint = {});

  ExitCode code() const { return m_code; }
  const std::string& what_failed() const { return m_what; }
  const std::string& why() const { return m_why; }
  const std::string& hint() const { return m_hint; }

  // The message without the "statectl: error: " prefix: "<what>: <why>" or "<what>".
  std::string message() const;

private:
  ExitCode m_code;
  std::string m_what;
  std::string m_why;
  std::string m_hint;
};

// Thrown when a command finishes with a non-zero code that is not an error to print
// (e.g. `get` of an absent key exits 1 silently). Carries only the code.
class Exit : public std::exception {
public:
  explicit Exit(int code) : m_code(code) {}
  int code() const { return m_code; }
  const char* what() const noexcept override { return "exit"; }

private:
  int m_code;
};

} // namespace statectl

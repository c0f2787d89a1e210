#pragma once

#include <stdexcept>
#include <string>

namespace statectl {

// The exit codes of CLI.md; every failure that reaches the top carries one of these.
enum class ExitCode : int {
  ok = 0,
  failed = 1,       // the operation ran and its answer is "no" / it failed
  usage = 2,        // usage or configuration error; nothing was changed
  unavailable = 3,  // a server or tool statectl needs is unreachable or missing
  external = 4,     // an external command statectl ran failed
  lock_timeout = 75,
  lock_lost = 76,
  interrupted = 130,
};

// One line describing an exit code, for --help and the README table.
const char* describe(ExitCode code);

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

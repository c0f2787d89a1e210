#include "core/error.h"

#include <fmt/format.h>

namespace statectl {

// The one exit-code table. Adding a code here adds it to --help, the man page and (through the
// README test) the README; CLI.md is the contract these rows must keep.
static constexpr ExitCodeInfo k_exit_codes[] = {
  {ExitCode::ok, "ok", "success"},
  {ExitCode::failed, "failed",
   "the operation ran and its answer is \"no\" / failed (key absent, verify found damage, failover test over its limits)"},
  {ExitCode::usage, "usage", "usage or configuration error (bad flag, bad TOML, invalid value) — nothing was changed"},
  {ExitCode::unavailable, "unavailable", "a server or tool statectl needs is unreachable or missing"},
  {ExitCode::external, "external", "an external command statectl ran failed (its stderr is shown)"},
  {ExitCode::internal, "internal", "internal error: a bug in statectl (EX_SOFTWARE) — please report it with the command line"},
  {ExitCode::lock_timeout, "lock_timeout", "lock not acquired within `--wait` (EX_TEMPFAIL)"},
  {ExitCode::lock_lost, "lock_lost", "lock lost while the command ran (the command was stopped)"},
  {ExitCode::interrupted, "interrupted", "interrupted (SIGINT); cleanup ran"},
};

static constexpr ExitCodeException k_exit_code_exceptions[] = {
  {"capacity check", "uses Nagios codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for a usage or configuration error)"},
  {"lock -- CMD", "returns CMD's exit code once the lock was held"},
};

std::span<const ExitCodeInfo> exit_code_table() { return k_exit_codes; }

std::span<const ExitCodeException> exit_code_exceptions() { return k_exit_code_exceptions; }

const ExitCodeInfo& exit_code_info(ExitCode code)
{
  for (const auto& row : k_exit_codes)
    if (row.code == code) return row;
  // Every enumerator has a row (a unit test walks them); a code cast from an int may not.
  static constexpr ExitCodeInfo k_unknown{ExitCode::internal, "unknown", "an exit code missing from the table (a bug)"};
  return k_unknown;
}

const char* describe(ExitCode code) { return exit_code_info(code).meaning; }

std::string exit_codes_markdown()
{
  std::string out = "| code | meaning |\n|---|---|\n";
  for (const auto& row : k_exit_codes) out += fmt::format("| {} | {} |\n", static_cast<int>(row.code), row.meaning);
  out += "\nExceptions:\n\n";
  for (const auto& e : k_exit_code_exceptions) out += fmt::format("- `{}` {}.\n", e.command, e.rule);
  return out;
}

std::string exit_codes_help()
{
  std::string out = "Exit codes:\n";
  for (const auto& row : k_exit_codes) out += fmt::format("  {:<5}{}\n", static_cast<int>(row.code), row.meaning);
  for (const auto& e : k_exit_code_exceptions) out += fmt::format("Exception: '{}' {}.\n", e.command, e.rule);
  return out;
}

static std::string join_message(const std::string& what, const std::string& why)
{
  return why.empty() ? what : what + ": " + why;
}

Error::Error(ExitCode code, std::string what, std::string why, std::string hint)
  : std::runtime_error(join_message(what, why)),
    m_code(code),
    m_what(std::move(what)),
    m_why(std::move(why)),
    m_hint(std::move(hint))
{
}

std::string Error::message() const
{
  return join_message(m_what, m_why);
}

} // namespace statectl

#include "core/error.h"

namespace statectl {

const char* describe(ExitCode code)
{
  switch (code) {
  case ExitCode::ok: return "success";
  case ExitCode::failed: return "the operation ran and its answer is \"no\" / failed";
  case ExitCode::usage: return "usage or configuration error; nothing was changed";
  case ExitCode::unavailable: return "a server or tool statectl needs is unreachable or missing";
  case ExitCode::external: return "an external command statectl ran failed";
  case ExitCode::lock_timeout: return "lock not acquired within --wait";
  case ExitCode::lock_lost: return "lock lost while the command ran";
  case ExitCode::interrupted: return "interrupted (SIGINT); cleanup ran";
  }
  return "unknown";
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

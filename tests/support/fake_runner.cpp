#include "tests/support/fake_runner.h"

#include <stdexcept>

namespace statectl::exec {

Result FakeRunner::run(const Command& cmd)
{
  if (cmd.mutating && m_mode == DryRun::undecided)
    throw std::logic_error("runner: mutating command '" + display(cmd.argv) + "' with undecided dry-run");
  m_commands.push_back(cmd);
  if (cmd.mutating && m_mode == DryRun::plan) {
    if (m_plan) *m_plan << plan_line(cmd) << "\n";
    Result r;
    r.exit_code = 0;
    r.planned = true;
    return r;
  }
  if (m_results.empty()) {
    Result r;
    r.exit_code = 0;
    return r;
  }
  Result r = m_results.front();
  m_results.erase(m_results.begin());
  return r;
}

std::vector<std::string> FakeRunner::command_lines() const
{
  std::vector<std::string> out;
  for (const auto& c : m_commands) out.push_back(display(c.argv));
  return out;
}

} // namespace statectl::exec

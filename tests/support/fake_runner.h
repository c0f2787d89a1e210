#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/exec/runner.h"

namespace statectl::exec {

// Records every Command and answers from a queue of canned results. Test support only: it lives
// in tests/support so the shipped binary carries no fake.
class FakeRunner : public Runner {
public:
  explicit FakeRunner(DryRun mode = DryRun::execute) : m_mode(mode) {}
  Result run(const Command& cmd) override;
  DryRun dry_run() const override { return m_mode; }
  // Changes the dry-run mode (run_cli sets it from --dry-run, as statectl does for its runner).
  void set_dry_run(DryRun mode) { m_mode = mode; }
  // Where planned commands are printed under DryRun::plan, one plan_line() each, as the real
  // runner prints them; nowhere when null.
  void set_plan_stream(std::ostream* plan) { m_plan = plan; }

  // Results handed out in order; when empty, commands succeed with empty output.
  void push_result(Result r) { m_results.push_back(std::move(r)); }
  // Every command run so far, in order.
  const std::vector<Command>& commands() const { return m_commands; }
  // The redacted display line of every command run so far.
  std::vector<std::string> command_lines() const;

private:
  DryRun m_mode;
  std::ostream* m_plan = nullptr;
  std::vector<Command> m_commands;
  std::vector<Result> m_results;
};

} // namespace statectl::exec

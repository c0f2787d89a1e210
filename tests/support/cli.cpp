#include "tests/support/cli.h"

#include <memory>
#include <sstream>

#include "commands/app.h"

namespace statectl::testing {

namespace {

// Hands the commands a runner that forwards to the test's FakeRunner, which the test keeps
// owning so it can read the recorded commands afterwards.
class BorrowedRunner : public exec::Runner {
public:
  explicit BorrowedRunner(exec::Runner& target) : m_target(target) {}
  exec::Result run(const exec::Command& cmd) override { return m_target.run(cmd); }
  exec::DryRun dry_run() const override { return m_target.dry_run(); }

private:
  exec::Runner& m_target;
};

} // namespace

CliResult run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                  exec::FakeRunner* runner)
{
  std::ostringstream out;
  std::ostringstream err;
  commands::RunnerFactory factory;
  if (runner) {
    factory = [runner](exec::DryRun mode, std::ostream& plan, const std::function<void(const std::string&)>&) {
      runner->set_dry_run(mode);
      runner->set_plan_stream(&plan);
      return std::make_unique<BorrowedRunner>(*runner);
    };
  }
  CliResult result;
  result.code = commands::run_app(args, out, err, env, false, factory);
  if (runner) runner->set_plan_stream(nullptr);
  result.out = out.str();
  result.err = err.str();
  return result;
}

} // namespace statectl::testing

#include "core/secrets/apply.h"

#include <fmt/format.h>

#include "core/error.h"

namespace statectl::secrets {

// Placeholder until the local stack lands: --apply is refused before anything changes.
ApplyFn local_stack_applier(const config::Config& cfg, const Store& store, exec::Runner& runner, output::Printer& printer,
                            const std::string& secret_name)
{
  (void)store;
  (void)runner;
  (void)printer;
  (void)secret_name;
  if (cfg.get_string("project.target") != "local")
    throw Error(ExitCode::usage, "--apply works on the local stack only", fmt::format("the target is '{}'", cfg.get_string("project.target")),
                "run 'statectl secrets push' and redeploy to roll the new value out");
  throw Error(ExitCode::usage, "--apply is not available in this build", "", "rotate without --apply and restart the stack");
}

} // namespace statectl::secrets

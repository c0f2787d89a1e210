#include "commands/lock.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/exec/runner.h"
#include "core/state/backend.h"
#include "core/state/batch.h"
#include "core/state/lock.h"
#include "core/state/results.h"
#include "core/util/strings.h"

namespace statectl::commands {

void setup_lock(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string name;
    std::string ttl = "30s";
    std::string wait;
    std::string grace = "5s";
    std::vector<std::string> argv;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("name", o->name, "Lock name")->required();
  sub.add_option("command", o->argv, "Command and arguments, after --");
  sub.add_option("--ttl", o->ttl, "Lease length; renewed every ttl/3 while CMD runs")->capture_default_str();
  sub.add_option("--wait", o->wait, "Give up after this long with exit 75 (default: wait forever)");
  sub.add_option("--grace", o->grace, "Time between TERM and KILL when the lease is lost")->capture_default_str();
  sub.footer("Runs CMD in its own process group with STATECTL_LOCK_NAME and STATECTL_LOCK_TOKEN (a fencing token,\n"
             "strictly greater than every token granted before for NAME). SIGINT/SIGTERM/SIGHUP are forwarded to\n"
             "CMD; the lease is released on every exit. Exit code: CMD's; 75 when not acquired within --wait;\n"
             "76 when the lease was lost while CMD ran (CMD is stopped: TERM, then KILL after --grace).");
  sub.callback([&ctx, o] {
    state::LockRun run;
    run.name = o->name;
    run.ttl = state::parse_ttl(o->ttl);
    if (run.ttl < state::Millis(300)) throw Error(ExitCode::usage, "invalid --ttl", "a lease must last at least 300ms");
    if (!o->wait.empty()) {
      auto w = util::parse_duration(o->wait);
      if (!w) throw Error(ExitCode::usage, "invalid --wait", w.error());
      run.wait = *w;
    }
    auto g = util::parse_duration(o->grace);
    if (!g) throw Error(ExitCode::usage, "invalid --grace", g.error());
    run.grace = *g;
    run.argv = o->argv;
    if (run.argv.empty())
      throw Error(ExitCode::usage, "lock needs a command", "", "usage: statectl lock NAME [--ttl D] [--wait D] -- CMD [ARG...]");
    if (ctx.globals().dry_run) {
      ctx.printer().plan(fmt::format("run `{}` holding lock '{}' (ttl {}) on {}", exec::display(run.argv), run.name,
                                     util::format_duration(run.ttl), ctx.backend()));
      return;
    }
    // A CMD that cannot run is reported before the lock is taken (and before any server is asked).
    exec::require_program(run.argv.front());
    auto backend = state::make_backend(ctx.config(), ctx.backend());
    int code = state::run_with_lock(*backend, run, ctx.printer());
    if (code != 0) throw Exit(code);
  });
}

void setup_locks(CLI::App& sub, Context& ctx)
{
  sub.callback([&ctx] {
    ctx.printer().result(state::LockList{state::make_backend(ctx.config(), ctx.backend())->locks()});
  });
}

} // namespace statectl::commands

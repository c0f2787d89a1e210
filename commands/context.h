#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "core/config/config_fwd.h"
#include "core/config/keys.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"

namespace CLI {
class App;
}

namespace statectl::targets {
class Target;
class Binding;
} // namespace statectl::targets

namespace statectl::commands {

// The options of CLI.md that every command accepts, before or after its name.
struct GlobalOptions {
  std::string config_file;
  std::string env;
  std::string output = "text";
  bool quiet = false;
  bool verbose = false;
  bool no_color = false;
  bool dry_run = false;
  std::string backend; // --backend, on commands whose table row says they need one
};

// Makes the runner the commands use. mode follows --dry-run; plan is the stream planned commands
// are printed to (stdout); log receives the "+ argv" lines shown with -v. statectl makes a
// ProcessRunner; in-process tests pass a factory that hands out a recording runner.
using RunnerFactory = std::function<std::unique_ptr<exec::Runner>(exec::DryRun mode, std::ostream& plan,
                                                                   std::function<void(const std::string&)> log)>;

// Everything a command needs after parsing: the effective config, the printer and the runner.
// I/O streams and the environment are passed in, never read from globals, so tests can drive
// commands in-process. Config and runner are built on first use (commands like `completion`
// must work even when the config file is broken).
class Context {
public:
  Context(GlobalOptions& globals, std::ostream& out, std::ostream& err, std::map<std::string, std::string> environment,
          bool stderr_is_tty);
  ~Context();

  GlobalOptions& globals() { return m_globals; }
  const std::map<std::string, std::string>& environment() const { return m_environment; }
  // The value of an environment variable, or fallback.
  std::string env(const std::string& name, const std::string& fallback = {}) const;

  config::Config& config();
  output::Printer& printer();
  exec::Runner& runner();
  bool stderr_is_tty() const { return m_stderr_tty; }

  // Config keys set by command flags (e.g. deploy --target) before the config is loaded.
  void set_flag(config::Key key, const std::string& value);

  // The state backend: --backend, else [state] backend.
  std::string backend();

  // The target the command acts on: [project] target, which --target sets (targets::make). While
  // the context lives, stack::resolve() of its config goes through this target.
  targets::Target& target();

  // Replaces the runner (tests use a FakeRunner).
  void set_runner(std::unique_ptr<exec::Runner> runner) { m_runner = std::move(runner); }
  // Makes runner() build its runner with factory instead of a ProcessRunner (an empty factory
  // keeps the ProcessRunner).
  void set_runner_factory(RunnerFactory factory) { m_runner_factory = std::move(factory); }

private:
  GlobalOptions& m_globals;
  std::ostream& m_out;
  std::ostream& m_err;
  std::map<std::string, std::string> m_environment;
  bool m_stderr_tty;
  std::map<std::string, std::string> m_flags;
  std::unique_ptr<config::Config> m_config;
  std::unique_ptr<output::Printer> m_printer;
  std::unique_ptr<exec::Runner> m_runner;
  RunnerFactory m_runner_factory;
  std::unique_ptr<targets::Target> m_target;   // uses the runner, printer and config above
  std::unique_ptr<targets::Binding> m_binding; // released first
};

// The value of a duration flag ("500ms", "5s", "2m"); Error(usage) naming flag when text is not
// one, is negative, or is zero without allow_zero.
std::chrono::milliseconds duration_flag(const std::string& flag, const std::string& text, bool allow_zero = false);

// Adds --target local|compose|k8s|terraform to a command that acts on a deployed stack: it sets
// [project] target for the run, so every endpoint the command reaches is that target's. An
// unknown value is a usage error (exit 2) that lists the valid ones.
void add_target_option(CLI::App& sub, Context& ctx, const std::string& help = {});

// Adds --cloud aws|gcp|azure (sets [terraform] cloud for the run).
void add_cloud_option(CLI::App& sub, Context& ctx);

} // namespace statectl::commands

#include "commands/context.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fmt/format.h>

#include "core/config/config.h"
#include "core/error.h"
#include "core/targets/target.h"
#include "core/util/strings.h"

namespace statectl::commands {

Context::Context(GlobalOptions& globals, std::ostream& out, std::ostream& err, std::map<std::string, std::string> environment,
                 bool stderr_is_tty)
  : m_globals(globals), m_out(out), m_err(err), m_environment(std::move(environment)), m_stderr_tty(stderr_is_tty)
{
}

Context::~Context() = default;

std::string Context::env(const std::string& name, const std::string& fallback) const
{
  auto it = m_environment.find(name);
  return it == m_environment.end() ? fallback : it->second;
}

void Context::set_flag(config::Key key, const std::string& value)
{
  m_flags[std::string(key.name())] = value;
  if (m_config) m_config->set_flag(key, value);
}

config::Config& Context::config()
{
  if (!m_config) {
    config::LoadOptions opts;
    std::string file = m_globals.config_file.empty() ? env("STATECTL_CONFIG") : m_globals.config_file;
    if (!file.empty()) opts.file = std::filesystem::path(file);
    opts.profile = m_globals.env.empty() ? env("STATECTL_ENV") : m_globals.env;
    for (const auto& [k, v] : m_environment)
      if (k.rfind("STATECTL_", 0) == 0) opts.environment[k] = v;
    opts.flags = m_flags;
    opts.cwd = std::filesystem::current_path();
    m_config = std::make_unique<config::Config>(config::Config::load(opts));
    m_binding = std::make_unique<targets::Binding>(*m_config, [this]() -> targets::Target& { return target(); });
  }
  return *m_config;
}

output::Printer& Context::printer()
{
  if (!m_printer) {
    auto format = m_globals.output == "json" ? output::Format::json : output::Format::text;
    auto verbosity = m_globals.quiet ? output::Verbosity::quiet
                     : m_globals.verbose ? output::Verbosity::verbose
                                         : output::Verbosity::normal;
    bool color = m_stderr_tty && !m_globals.no_color && env("NO_COLOR").empty(); // no-color.org: any non-empty value
    m_printer = std::make_unique<output::Printer>(m_out, m_err, format, verbosity, color);
    m_printer->set_dry_run(m_globals.dry_run);
  }
  return *m_printer;
}

exec::Runner& Context::runner()
{
  if (!m_runner) {
    auto& p = printer();
    auto mode = m_globals.dry_run ? exec::DryRun::plan : exec::DryRun::execute;
    auto log = [&p](const std::string& line) { p.detail(line); };
    // Planned commands go to the printer: lines on stdout, or the "plan" array under -o json.
    if (m_runner_factory)
      m_runner = m_runner_factory(mode, p.plan_stream(), log);
    else
      m_runner = std::make_unique<exec::ProcessRunner>(mode, &p.plan_stream(), log);
  }
  return *m_runner;
}

targets::Target& Context::target()
{
  if (!m_target) m_target = targets::make(config(), runner(), printer());
  return *m_target;
}

std::chrono::milliseconds duration_flag(const std::string& flag, const std::string& text, bool allow_zero)
{
  auto d = util::parse_duration(text);
  if (!d || d->count() < 0 || (!allow_zero && d->count() == 0))
    throw Error(ExitCode::usage, "invalid " + flag, fmt::format("expected a duration like 500ms, 5s or 2m, got '{}'", text));
  return *d;
}

void add_target_option(CLI::App& sub, Context& ctx, const std::string& help)
{
  std::string text = help.empty() ? "The stack to act on (default [project] target)" : help;
  sub.add_option_function<std::string>(
       "--target",
       [&ctx](const std::string& name) {
         targets::check_name(name);
         ctx.set_flag("project.target", name);
       },
       text)
    ->type_name("TEXT:{" + util::join(targets::names(), ",") + "}");
}

void add_cloud_option(CLI::App& sub, Context& ctx)
{
  sub.add_option_function<std::string>(
       "--cloud", [&ctx](const std::string& cloud) { ctx.set_flag("terraform.cloud", cloud); },
       "Cloud of the terraform target (default [terraform] cloud)")
    ->check(CLI::IsMember({"aws", "gcp", "azure"}));
}

std::string Context::backend()
{
  if (!m_globals.backend.empty()) return m_globals.backend;
  return config().get_string("state.backend");
}

} // namespace statectl::commands

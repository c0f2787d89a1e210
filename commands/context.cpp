#include "commands/context.h"

#include <filesystem>

#include "core/error.h"

namespace statectl::commands {

Context::Context(GlobalOptions& globals, std::ostream& out, std::ostream& err, std::map<std::string, std::string> environment,
                 bool stderr_is_tty)
  : m_globals(globals), m_out(out), m_err(err), m_environment(std::move(environment)), m_stderr_tty(stderr_is_tty)
{
}

std::string Context::env(const std::string& name, const std::string& fallback) const
{
  auto it = m_environment.find(name);
  return it == m_environment.end() ? fallback : it->second;
}

void Context::set_flag(const std::string& key, const std::string& value)
{
  m_flags[key] = value;
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
    m_config = config::Config::load(opts);
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
  }
  return *m_printer;
}

exec::Runner& Context::runner()
{
  if (!m_runner) {
    auto& p = printer();
    auto mode = m_globals.dry_run ? exec::DryRun::plan : exec::DryRun::execute;
    auto log = [&p](const std::string& line) { p.detail(line); };
    if (m_runner_factory)
      m_runner = m_runner_factory(mode, m_out, log);
    else
      m_runner = std::make_unique<exec::ProcessRunner>(mode, &m_out, log);
  }
  return *m_runner;
}

std::string Context::backend()
{
  if (!m_globals.backend.empty()) return m_globals.backend;
  return config().get_string("state.backend");
}

} // namespace statectl::commands

#include "commands/table.h"

#include "commands/capacity.h"
#include "commands/completion.h"
#include "commands/config_cmd.h"
#include "commands/render.h"
#include "commands/scale.h"
#include "commands/secrets.h"
#include "commands/version.h"

namespace statectl::commands {

const std::vector<CommandSpec>& command_table()
{
  // One row per command; later capabilities add their rows here.
  static const std::vector<CommandSpec> table = {
    {"init", "Write a commented statectl.toml for a target", "Configuration", false, setup_init},
    {"config", "Show or validate the effective configuration", "Configuration", false, setup_config},
    {"capacity", "Sizing plans, live checks with Nagios exit codes, load test of the state backend", "Operations", true, setup_capacity},
    {"secrets", "Generate, store, rotate and push passwords and TLS material", "Stack", false, setup_secrets},
    {"render", "Write (or print) the rendered Compose / Kubernetes / Terraform files", "Stack", false, setup_render},
    {"scale", "Change replica / pooler counts on the current target", "Stack", false, setup_scale},
    {"completion", "Print a shell completion script (bash, zsh, fish)", "Other", false, setup_completion},
    {"version", "Show version, build and linked library versions", "Other", false, setup_version},
  };
  return table;
}

std::vector<std::string> subcommand_names(const CLI::App& app)
{
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (!sub->get_name().empty() && sub->get_group() != "") names.push_back(sub->get_name());
  return names;
}

void build_app(CLI::App& app, Context& ctx)
{
  auto& g = ctx.globals();
  app.fallthrough();
  app.option_defaults()->group("Global options");
  app.set_help_flag("-h,--help", "Print this help message and exit");
  app.set_version_flag("--version", std::string("statectl ") + STATECTL_VERSION);
  app.add_option("-c,--config", g.config_file, "Config file (env STATECTL_CONFIG; default ./statectl.toml, else the built-in local stack)");
  app.add_option("-e,--env", g.env, "Environment profile from the config ([env.NAME]; env STATECTL_ENV)");
  app.add_option("-o,--output", g.output, "Result format")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("-q,--quiet", g.quiet, "Less output on stderr");
  app.add_flag("-v,--verbose", g.verbose, "More output on stderr (each command line, redacted)");
  app.add_flag("--no-color", g.no_color, "No ANSI colour (also NO_COLOR, and off when stderr is not a TTY)");
  app.add_flag("--dry-run", g.dry_run, "Print the plan of a mutating command (secrets as ****), change nothing");
  app.footer(
    "Exit codes: 0 success, 1 the answer is no / failed, 2 usage or configuration error, 3 server or tool\n"
    "unreachable or missing, 4 an external command failed, 75 lock not acquired within --wait, 76 lock lost\n"
    "while the command ran, 130 interrupted. `capacity check` uses Nagios codes (0 OK, 1 WARNING, 2 CRITICAL,\n"
    "3 UNKNOWN); `lock -- CMD` returns CMD's exit code once the lock was held.");

  // Subcommands inherit option defaults and the footer from the root at creation.
  app.option_defaults()->group("Options");
  const std::string root_footer = app.get_footer();
  app.footer("Global options (-c, -e, -o, -q, -v, --no-color, --dry-run) are accepted after a command too; "
             "see 'statectl --help'.");
  for (const auto& spec : command_table()) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.description);
    sub->group(spec.group);
    sub->fallthrough();
    if (spec.needs_backend)
      sub->add_option("--backend", g.backend, "State backend (default [state] backend)")->check(CLI::IsMember({"postgres", "redis"}));
    spec.setup(*sub, ctx);
  }
  app.footer(root_footer);
}

} // namespace statectl::commands

#include "commands/table.h"

#include <CLI/CLI.hpp>
#include <algorithm>

#include "commands/backup.h"
#include "commands/restore.h"
#include "commands/wal.h"
#include "commands/capacity.h"
#include "commands/completion.h"
#include "commands/examples.h"
#include "commands/config_cmd.h"
#include "commands/failover.h"
#include "commands/checkpoint.h"
#include "commands/lock.h"
#include "commands/state.h"
#include "commands/stack.h"
#include "commands/secrets.h"
#include "commands/render.h"
#include "commands/scale.h"
#include "commands/version.h"
#include "core/error.h"

namespace statectl::commands {

const std::vector<CommandSpec>& command_table()
{
  // One row per command; later capabilities add their rows here.
  static const std::vector<CommandSpec> table = {
    {"deploy", "Validate, start and verify the stack on a target (default: local processes)", "Stack", false, setup_deploy},
    {"destroy", "Tear down what deploy made on any target (--purge also deletes the data)", "Stack", false, setup_destroy},
    {"status", "Every component: role, address, health, replication lag, TLS, version", "Stack", false, setup_status},
    {"psql", "Run psql on the stack as its superuser (password never in argv)", "Stack", false, setup_psql},
    {"redis-cli", "Run redis-cli on the current Redis master (auth via REDISCLI_AUTH)", "Stack", false, setup_redis_cli},
    {"init", "Write a commented statectl.toml for a target", "Configuration", false, setup_init},
    {"config", "Show or validate the effective configuration", "Configuration", false, setup_config},
    {"capacity", "Sizing plans, live checks with Nagios exit codes, load test of the state backend", "Operations", true, setup_capacity},
    {"failover", "Inject a primary failure and measure RTO / lost writes; planned switchover; promote", "Operations", false, setup_failover},
    {"render", "Write (or print) the rendered Compose / Kubernetes / Terraform files", "Stack", false, setup_render},
    {"scale", "Change replica / pooler counts on the current target", "Stack", false, setup_scale},
    {"secrets", "Generate, store, rotate and push passwords and TLS material", "Stack", false, setup_secrets},
    {"backup", "Physical and logical backups with WAL archive, verification and retention", "Data protection", true, setup_backup},
    {"wal", "Archive and fetch WAL files (archive_command / restore_command)", "Data protection", false, setup_wal},
    {"restore", "Point-in-time restore into a new data directory (or a Redis snapshot)", "Data protection", true, setup_restore},
    {"get", "Print the value of a key (raw bytes); exit 1 when absent", "State", true, setup_get},
    {"put", "Store a value (stdin with -), with --ttl, --metadata, --if-absent; or many with --batch", "State", true, setup_put},
    {"del", "Delete keys", "State", true, setup_del},
    {"keys", "List live keys (--prefix, --limit); -o json adds size, ttl, updated_at", "State", true, setup_keys},
    {"ttl", "Remaining lifetime of a key; exit 1 when absent", "State", true, setup_ttl},
    {"gc", "Delete expired keys (PostgreSQL) and print how many", "State", true, setup_gc},
    {"lock", "Run a command while holding a fenced lease (exit 75 on --wait timeout, 76 when lost)", "State", true, setup_lock},
    {"locks", "Current lease holders: name, owner, token, expires", "State", true, setup_locks},
    {"checkpoint", "Create, list or restore snapshots of a backend's whole key space", "State", true, setup_checkpoint},
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

std::string command_word(const std::vector<std::string>& args)
{
  auto is_command = [](const std::string& word) {
    for (const auto& spec : command_table())
      if (spec.name == word) return true;
    return false;
  };
  std::string word;
  bool takes_value = false;
  for (const auto& a : args) {
    if (a == "-h" || a == "--help" || a == "--help-all") return {};
    if (!word.empty()) {
      if (is_command(a)) return {};
      continue;
    }
    if (takes_value) {
      takes_value = false;
      if (is_command(a)) return {};
      continue;
    }
    if (a == "--") return {};
    if (a == "-c" || a == "--config" || a == "-e" || a == "--env" || a == "-o" || a == "--output") {
      takes_value = true;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    if (!is_command(a) || a == "completion") return {};
    word = a;
  }
  return word;
}

namespace {

// An option given an empty value (`--ttl ''`, `-c ''`) is a mistake, never "unset": every
// option that takes a value refuses it, here once instead of in each command.
void reject_empty_values(CLI::App& app)
{
  CLI::Validator non_empty([](std::string& value) { return value.empty() ? std::string("needs a non-empty value") : std::string(); },
                           "", "non-empty");
  for (CLI::Option* opt : app.get_options([](CLI::Option* o) { return o->nonpositional() && o->get_items_expected_max() != 0; }))
    opt->check(non_empty);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) reject_empty_values(*sub);
}

// Appends the command's examples (commands/examples.cpp) to its --help footer.
void add_examples(CLI::App& app, const std::string& path)
{
  const auto& all = command_examples();
  if (auto it = all.find(path); it != all.end()) {
    std::string block = "Examples:\n";
    for (const auto& line : it->second) block += "  " + line + "\n";
    std::string footer = app.get_footer();
    // The root's footer (exit codes) ends the text; a command's own notes come first.
    app.footer(footer.empty() ? block.substr(0, block.size() - 1) : footer + "\n\n" + block.substr(0, block.size() - 1));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    add_examples(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name());
}

// One command per invocation: once a leaf command starts parsing, every other command of the
// tree is disabled, so a later word that happens to be a command name ("put KEY status",
// "lock NAME -- failover") is that command's argument (or an unexpected one), never a second
// command run after the first (CLI11 otherwise matches the names of the parents' subcommands).
void pin_leaf_commands(CLI::App& app)
{
  auto subs = app.get_subcommands([](CLI::App*) { return true; });
  if (subs.empty() && app.get_parent() != nullptr) {
    app.preparse_callback([&app](std::size_t) {
      std::vector<CLI::App*> chain;
      for (CLI::App* at = &app; at != nullptr; at = at->get_parent()) chain.push_back(at);
      auto on_chain = [&chain](CLI::App* a) { return std::find(chain.begin(), chain.end(), a) != chain.end(); };
      for (CLI::App* at : chain)
        for (CLI::App* other : at->get_subcommands([](CLI::App*) { return true; }))
          if (!on_chain(other)) other->disabled();
    });
    return;
  }
  for (CLI::App* sub : subs) pin_leaf_commands(*sub);
}

} // namespace

void build_app(CLI::App& app, Context& ctx, const std::string& only)
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
  // The exit codes come from the one table in core/error.cpp (also the man page's and README's).
  std::string codes = exit_codes_help();
  if (!codes.empty() && codes.back() == '\n') codes.pop_back();
  app.footer(codes);

  // Subcommands inherit option defaults and the footer from the root at creation.
  app.option_defaults()->group("Options");
  const std::string root_footer = app.get_footer();
  app.footer("Global options (-c, -e, -o, -q, -v, --no-color, --dry-run) are accepted after a command too; "
             "see 'statectl --help'.");
  for (const auto& spec : command_table()) {
    if (!only.empty() && spec.name != only) continue;
    CLI::App* sub = app.add_subcommand(spec.name, spec.description);
    sub->group(spec.group);
    sub->fallthrough();
    if (spec.needs_backend)
      sub->add_option("--backend", g.backend, "State backend (default [state] backend)")->check(CLI::IsMember({"postgres", "redis"}));
    spec.setup(*sub, ctx);
    // Every command that acts on a deployed stack reaches the target --target names (CLI.md).
    static const std::vector<std::string> on_stack = {"status", "psql",  "redis-cli", "scale", "failover", "backup", "restore",
                                                      "capacity", "get", "put", "del", "keys", "ttl", "gc", "lock", "locks",
                                                      "checkpoint"};
    if (std::find(on_stack.begin(), on_stack.end(), spec.name) != on_stack.end() && !sub->get_option_no_throw("--target"))
      add_target_option(*sub, ctx);
  }
  app.footer(root_footer);
  reject_empty_values(app);
  pin_leaf_commands(app);
  add_examples(app, "");
}

} // namespace statectl::commands

#include "commands/app.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/format.h>
#include <mutex>

#include "commands/context.h"
#include "commands/table.h"
#include "core/clients/endpoint.h"
#include "core/error.h"
#include "core/output/printer.h"
#include "core/targets/target.h"
#include "core/util/strings.h"

namespace statectl::commands {

namespace {

// The output format is needed to print a parse error, which happens before CLI11 stores it.
std::string prescan_output(const std::vector<std::string>& args)
{
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") break;
    if ((a == "-o" || a == "--output") && i + 1 < args.size()) return args[i + 1];
    if (a == "--output=json" || a == "-ojson") return "json";
  }
  return "text";
}

// Turns a CLI11 parse error into statectl's error, with "did you mean" for unknown commands.
// "capacity check" for the App of `statectl capacity check`; empty for the root.
std::string command_path(const CLI::App* at)
{
  std::string path;
  for (; at && at->get_parent(); at = at->get_parent()) path = at->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

// The --help to read for the command at.
std::string help_hint(const CLI::App* at, const std::string& what)
{
  std::string path = command_path(at);
  return "run 'statectl " + (path.empty() ? std::string() : path + " ") + "--help'" + what;
}

Error translate(const CLI::ParseError& e, CLI::App& app)
{
  std::string msg = e.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&e) || dynamic_cast<const CLI::RequiredError*>(&e)) {
    // Find the deepest subcommand that was parsed, and the first stray word.
    CLI::App* at = &app;
    while (true) {
      auto subs = at->get_subcommands();
      if (subs.empty()) break;
      at = subs.front();
    }
    auto rest = at->remaining();
    if (rest.empty()) rest = app.remaining();
    if (!rest.empty() && !rest.front().empty() && rest.front()[0] != '-') {
      auto names = subcommand_names(*at);
      std::string where = at == &app ? "" : " for '" + command_path(at) + "'";
      if (!names.empty()) {
        auto guess = util::closest_match(rest.front(), names);
        return Error(ExitCode::usage, fmt::format("unknown command '{}'{}", rest.front(), where), "",
                     guess ? fmt::format("did you mean '{}'?", *guess) : "run 'statectl --help' for the list of commands");
      }
      return Error(ExitCode::usage, fmt::format("unexpected argument '{}'{}", rest.front(), where), "",
                   help_hint(at, ""));
    }
    if (!rest.empty() && dynamic_cast<const CLI::ExtrasError*>(&e))
      return Error(ExitCode::usage, fmt::format("unknown option '{}'", rest.front()), "", help_hint(at, " for the options"));
  }
  // CLI11's messages start with a capital and sometimes end with a period; statectl's don't.
  // A message that starts with an upper-case name ("NAME is required") keeps it.
  bool starts_with_name = msg.size() > 1 && std::isupper(static_cast<unsigned char>(msg[1]));
  if (!msg.empty() && !starts_with_name) msg[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(msg[0])));
  while (!msg.empty() && (msg.back() == '.' || msg.back() == '\n')) msg.pop_back();
  return Error(ExitCode::usage, "invalid usage", msg, "run 'statectl --help'");
}

// `--backend` belongs to the commands that use a state backend, but operators also write it
// before the command, like the global options (`statectl --backend redis get KEY`): such an
// occurrence is moved to just after the command name, where that command's option takes it (a
// command without --backend then reports it as an unknown option).
std::vector<std::string> move_leading_backend(const std::vector<std::string>& args)
{
  static const std::vector<std::string> with_value = {"-c", "--config", "-e", "--env", "-o", "--output"};
  std::vector<std::string> before;
  std::vector<std::string> moved;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") break;
    if (a == "--backend" && i + 1 < args.size()) {
      moved.insert(moved.end(), {a, args[i + 1]});
      ++i;
      continue;
    }
    if (a.rfind("--backend=", 0) == 0) {
      moved.push_back(a);
      continue;
    }
    if (std::find(with_value.begin(), with_value.end(), a) != with_value.end() && i + 1 < args.size()) {
      before.insert(before.end(), {a, args[i + 1]});
      ++i;
      continue;
    }
    if (!a.empty() && a[0] != '-') break; // the command name
    before.push_back(a);
  }
  if (moved.empty() || i >= args.size() || args[i] == "--") return args;
  std::vector<std::string> out = before;
  out.push_back(args[i]);
  out.insert(out.end(), moved.begin(), moved.end());
  out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  return out;
}

// Whether the parsed command line selects `capacity check`, whose exit codes are Nagios's.
bool is_nagios_plugin(CLI::App& app)
{
  auto subs = app.get_subcommands();
  if (subs.empty() || subs.front()->get_name() != "capacity") return false;
  auto inner = subs.front()->get_subcommands();
  return !inner.empty() && inner.front()->get_name() == "check";
}

} // namespace

int run_app(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const std::map<std::string, std::string>& environment, bool stderr_is_tty,
            const RunnerFactory& make_runner)
{
  // The operations in core/ reach the stack's addresses through the targets, which sit above
  // them; one installation serves every run of the process.
  static std::once_flag endpoint_source_installed;
  std::call_once(endpoint_source_installed, [] { clients::set_endpoint_source(targets::endpoints_of); });

  GlobalOptions globals;
  globals.output = prescan_output(args);
  Context ctx(globals, out, err, environment, stderr_is_tty);
  ctx.set_runner_factory(make_runner);
  CLI::App app("statectl deploys, backs up, fails over and uses Redis and PostgreSQL state backends.", "statectl");
  std::vector<std::string> arranged = move_leading_backend(args);
  build_app(app, ctx, command_word(arranged));

  std::vector<std::string> reversed(arranged.rbegin(), arranged.rend());
  try {
    try {
      app.parse(reversed);
      if (app.get_subcommands().empty()) {
        err << app.help();
        return static_cast<int>(ExitCode::usage);
      }
    } catch (const CLI::CallForHelp&) {
      // Help of the subcommand that asked for it; from the root, so that its usage line shows
      // the whole path ("Usage: statectl backup create ...").
      out << app.help();
      return 0;
    } catch (const CLI::CallForAllHelp&) {
      out << app.help("", CLI::AppFormatMode::All);
      return 0;
    } catch (const CLI::CallForVersion&) {
      out << "statectl " << STATECTL_VERSION << "\n";
      return 0;
    } catch (const CLI::ParseError& e) {
      if (globals.output != "json" && globals.output != "text") globals.output = "text";
      Error translated = translate(e, app);
      // `capacity check` is a Nagios plugin: a usage error is UNKNOWN (3), not CRITICAL (2).
      if (is_nagios_plugin(app)) throw Error(ExitCode::unavailable, translated.what_failed(), translated.why(), translated.hint());
      throw translated;
    }
    ctx.printer().set_dry_run(globals.dry_run);
    ctx.printer().finish();
  } catch (const Error& e) {
    ctx.printer().error(e);
    // Nagios shows a plugin's first stdout line: an UNKNOWN needs one there too.
    if (is_nagios_plugin(app) && !ctx.printer().json()) out << "CAPACITY UNKNOWN: " << e.message() << "\n";
    return static_cast<int>(e.code());
  } catch (const Exit& e) {
    return e.code();
  } catch (const std::exception& e) {
    // Only a bug reaches here (exit 70 of the exit-code table): said plainly, in the -o format.
    ctx.printer().error(Error(ExitCode::internal, "internal error", e.what(), "please report this as a bug, with the command line"));
    return static_cast<int>(ExitCode::internal);
  }
  return 0;
}

} // namespace statectl::commands

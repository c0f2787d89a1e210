#include "commands/completion.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>

#include "commands/examples.h"
#include "core/config/keys.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::commands {

namespace {

// CLI11 puts an IsMember set into the type name: "TEXT:{text,json}"; the first set counts.
std::vector<std::string> choices_of(const CLI::Option* opt)
{
  std::string t = opt->get_type_name();
  auto b = t.find('{');
  auto e = b == std::string::npos ? b : t.find('}', b);
  if (b == std::string::npos || e == std::string::npos || e < b) return {};
  std::vector<std::string> out;
  for (auto& c : util::split(t.substr(b + 1, e - b - 1), ',')) out.push_back(util::trim(c));
  return out;
}

void collect(const CLI::App& app, std::vector<std::string> path, const std::vector<CompletionNode::Flag>& inherited,
             std::vector<CompletionNode>& out)
{
  CompletionNode node;
  node.path = path;
  node.description = app.get_description();
  node.flags = inherited;
  std::vector<CompletionNode::Flag> own;
  for (const CLI::Option* opt : app.get_options([](const CLI::Option* o) { return o->nonpositional(); })) {
    CompletionNode::Flag f;
    for (const auto& l : opt->get_lnames()) f.names.push_back("--" + l);
    for (const auto& s : opt->get_snames()) f.names.push_back("-" + s);
    if (f.names.empty()) continue;
    f.description = opt->get_description();
    f.takes_value = opt->get_items_expected_max() != 0;
    f.choices = choices_of(opt);
    own.push_back(f);
  }
  node.flags.insert(node.flags.end(), own.begin(), own.end());
  for (const CLI::Option* opt : app.get_options([](const CLI::Option* o) { return o->get_positional(); })) {
    node.arguments = choices_of(opt);
    if (!node.arguments.empty()) break;
  }
  std::vector<const CLI::App*> children;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
    node.subcommands.emplace_back(sub->get_name(), sub->get_description());
    children.push_back(sub);
  }
  // Only the global options (of the root) are inherited: they are accepted after any command.
  auto pass_down = path.size() == 1 ? own : inherited;
  out.push_back(node);
  for (const CLI::App* sub : children) {
    auto p = path;
    p.push_back(sub->get_name());
    collect(*sub, p, pass_down, out);
  }
}

std::string words_of(const CompletionNode& n)
{
  std::vector<std::string> w;
  for (const auto& [name, desc] : n.subcommands) w.push_back(name);
  w.insert(w.end(), n.arguments.begin(), n.arguments.end());
  for (const auto& f : n.flags)
    for (const auto& name : f.names)
      if (std::find(w.begin(), w.end(), name) == w.end()) w.push_back(name);
  for (const auto& f : n.leading)
    for (const auto& name : f.names) w.push_back(name);
  return util::join(w, " ");
}

// The names of a node's flags, each once (a command's own --help repeats the global one).
std::vector<std::string> flag_names(const CompletionNode& n)
{
  std::vector<std::string> w;
  for (const auto& f : n.flags)
    for (const auto& name : f.names)
      if (std::find(w.begin(), w.end(), name) == w.end()) w.push_back(name);
  for (const auto& f : n.leading)
    for (const auto& name : f.names) w.push_back(name);
  return w;
}

// A zsh single-quoted word: ' becomes '\''.
std::string zsh_quote(std::string_view s)
{
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string fish_quote(std::string_view s)
{
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string roff_escape(std::string_view s)
{
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

} // namespace

std::vector<CompletionNode> completion_tree(const CLI::App& app)
{
  std::vector<CompletionNode> out;
  collect(app, {app.get_name().empty() ? "statectl" : app.get_name()}, {}, out);
  // `statectl --backend redis get KEY`: --backend may come before the command (see app.cpp).
  for (const auto& n : out) {
    if (n.path.size() != 2) continue;
    for (const auto& f : n.flags)
      if (f.names.front() == "--backend" && out.front().leading.empty()) out.front().leading.push_back(f);
  }
  return out;
}

std::string generate_bash(const CLI::App& app)
{
  auto tree = completion_tree(app);
  std::string path_cases, value_cases, word_cases, flag_cases;
  for (const auto& n : tree) {
    std::string key = util::join(n.path, "_");
    for (const auto& [name, desc] : n.subcommands)
      path_cases += fmt::format("      {}/{}) path={}_{} ;;\n", key, name, key, name);
    std::vector<std::string> value_flags;
    auto all_flags = n.flags;
    all_flags.insert(all_flags.end(), n.leading.begin(), n.leading.end());
    for (const auto& f : all_flags) {
      if (!f.takes_value) continue;
      for (const auto& name : f.names) {
        value_flags.push_back(name);
        if (!f.choices.empty())
          value_cases += fmt::format("    {}:{}) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); return ;;\n", key, name,
                                     util::join(f.choices, " "));
      }
    }
    if (!value_flags.empty()) flag_cases += fmt::format("      {}) case \"$w\" in {}) skip=1 ;; esac ;;\n", key, util::join(value_flags, "|"));
    word_cases += fmt::format("    {}) words=\"{}\" ;;\n", key, words_of(n));
  }
  return fmt::format(R"(# bash completion for statectl; generated by `statectl completion bash`.
_statectl() {{
  local cur prev path w i skip words
  cur="${{COMP_WORDS[COMP_CWORD]}}"
  prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  path=statectl
  skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${{COMP_WORDS[i]}}"
    if [[ $skip == 1 ]]; then skip=0; continue; fi
    [[ $w == -- ]] && return 0
    case "$path/$w" in
{}    *)
      case "$path" in
{}      esac ;;
    esac
  done
  case "$path:$prev" in
{}  esac
  case "$prev" in
    -c|--config|--file|--out|--to|--templates|--batch) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  case "$path" in
{}  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -F _statectl statectl
)",
                     path_cases, flag_cases, value_cases, word_cases);
}

std::string generate_zsh(const CLI::App& app)
{
  auto tree = completion_tree(app);
  std::string path_cases, value_cases, word_cases, flag_cases;
  for (const auto& n : tree) {
    std::string key = util::join(n.path, "_");
    for (const auto& [name, desc] : n.subcommands)
      path_cases += fmt::format("      ({}/{}) cmdpath={}_{} ;;\n", key, name, key, name);
    std::vector<std::string> value_flags;
    auto all_flags = n.flags;
    all_flags.insert(all_flags.end(), n.leading.begin(), n.leading.end());
    for (const auto& f : all_flags)
      for (const auto& name : f.names) {
        if (f.takes_value) value_flags.push_back(name);
        if (!f.choices.empty())
          value_cases += fmt::format("    ({}:{}) compadd -- {}; return ;;\n", key, name, util::join(f.choices, " "));
      }
    if (!value_flags.empty()) flag_cases += fmt::format("      ({}) case \"$w\" in ({}) skip=1 ;; esac ;;\n", key, util::join(value_flags, "|"));
    // _describe splits NAME:DESCRIPTION at the first colon: the description keeps its own.
    std::vector<std::string> described;
    for (const auto& [name, desc] : n.subcommands) described.push_back(zsh_quote(name + ":" + desc));
    for (const auto& a : n.arguments) described.push_back(zsh_quote(a));
    word_cases += fmt::format("    ({}) cmds=({}); flags=({}) ;;\n", key, util::join(described, " "), util::join(flag_names(n), " "));
  }
  return fmt::format(R"(#compdef statectl
# zsh completion for statectl; generated by `statectl completion zsh`.
_statectl() {{
  # Not `path`: zsh ties that name to PATH.
  local cmdpath=statectl w i skip=0
  local -a cmds flags
  for ((i = 2; i < CURRENT; i++)); do
    w=${{words[i]}}
    if [[ $skip == 1 ]]; then skip=0; continue; fi
    [[ $w == -- ]] && return 0
    case "$cmdpath/$w" in
{}      (*)
        case "$cmdpath" in
{}        esac ;;
    esac
  done
  case "$cmdpath:${{words[CURRENT-1]}}" in
{}  esac
  case "${{words[CURRENT-1]}}" in
    (-c|--config|--file|--out|--to|--templates|--batch) _files; return ;;
  esac
  case "$cmdpath" in
{}  esac
  if [[ ${{words[CURRENT]}} == -* ]]; then
    compadd -- $flags
  else
    _describe -t commands 'statectl command' cmds
  fi
}}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _statectl "$@"
else
  compdef _statectl statectl
fi
)",
                     path_cases, flag_cases, value_cases, word_cases);
}

std::string generate_fish(const CLI::App& app)
{
  auto tree = completion_tree(app);
  std::string out = "# fish completion for statectl; generated by `statectl completion fish`.\n"
                    "complete -c statectl -f\n";
  auto condition = [](const CompletionNode& n) {
    if (n.path.size() == 1) return std::string("__fish_use_subcommand");
    std::string c = "__fish_seen_subcommand_from " + n.path[1];
    for (std::size_t i = 2; i < n.path.size(); ++i) c += "; and __fish_seen_subcommand_from " + n.path[i];
    return c;
  };
  auto flag_line = [](const CompletionNode::Flag& f) {
    std::string line;
    for (const auto& name : f.names) line += name.size() > 2 ? " -l " + name.substr(2) : " -s " + name.substr(1);
    if (f.takes_value) line += f.choices.empty() ? " -r" : " -x -a " + fish_quote(util::join(f.choices, " "));
    return line + " -d " + fish_quote(f.description) + "\n";
  };
  for (const auto& n : tree) {
    std::string cond = condition(n);
    for (const auto& [name, desc] : n.subcommands)
      out += fmt::format("complete -c statectl -n {} -a {} -d {}\n", fish_quote(cond), name, fish_quote(desc));
    if (!n.arguments.empty())
      out += fmt::format("complete -c statectl -n {} -a {}\n", fish_quote(cond), fish_quote(util::join(n.arguments, " ")));
    for (const auto& f : n.leading) out += "complete -c statectl -n " + fish_quote(cond) + flag_line(f);
    if (n.path.size() == 1) {
      // Global options: offered everywhere.
      for (const auto& f : n.flags) out += "complete -c statectl" + flag_line(f);
      continue;
    }
    // The whole path, not only the last word: `backup create` and `checkpoint create` differ.
    std::size_t global_count = tree.front().flags.size();
    for (std::size_t i = global_count; i < n.flags.size(); ++i) {
      const auto& f = n.flags[i];
      if (f.names.front() == "--help") continue; // offered globally already
      out += "complete -c statectl -n " + fish_quote(cond) + flag_line(f);
    }
  }
  return out;
}

std::string generate_man(const CLI::App& app)
{
  auto tree = completion_tree(app);
  std::string out = fmt::format(".TH STATECTL 1 \"\" \"statectl {}\" \"User Commands\"\n", STATECTL_VERSION);
  out += ".SH NAME\nstatectl \\- deploy, back up, fail over and use Redis and PostgreSQL state backends\n";
  out += ".SH SYNOPSIS\n.B statectl\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]\n";
  out += ".SH DESCRIPTION\n" + roff_escape(app.get_description()) + "\n";
  auto flag_lines = [](const std::vector<CompletionNode::Flag>& flags, std::size_t from) {
    std::string s;
    for (std::size_t i = from; i < flags.size(); ++i) {
      const auto& f = flags[i];
      std::string names = util::join(f.names, ", ");
      if (f.takes_value) names += f.choices.empty() ? " VALUE" : " {" + util::join(f.choices, "|") + "}";
      s += ".TP\n.B " + roff_escape(names) + "\n" + roff_escape(f.description) + "\n";
    }
    return s;
  };
  out += ".SH GLOBAL OPTIONS\n" + flag_lines(tree.front().flags, 0);
  out += ".SH COMMANDS\n";
  std::size_t globals = tree.front().flags.size();
  for (std::size_t i = 1; i < tree.size(); ++i) {
    const auto& n = tree[i];
    std::vector<std::string> rest(n.path.begin() + 1, n.path.end());
    out += ".SS " + roff_escape(util::join(rest, " ")) + "\n" + roff_escape(n.description) + "\n";
    out += flag_lines(n.flags, globals);
  }
  out += ".SH EXIT STATUS\n";
  // The table's `code` spans (Markdown, for README) become bold in roff.
  auto roff_text = [](std::string_view text) {
    std::string escaped = roff_escape(text);
    std::string result;
    bool bold = false;
    for (char c : escaped) {
      if (c != '`') {
        result += c;
        continue;
      }
      bold = !bold;
      result += bold ? "\\fB" : "\\fR";
    }
    return result;
  };
  for (const auto& row : exit_code_table())
    out += fmt::format(".TP\n.B {}\n{}\n", static_cast<int>(row.code), roff_text(row.meaning));
  for (const auto& e : exit_code_exceptions())
    out += fmt::format(".PP\n\\fB{}\\fR {}.\n", roff_escape(e.command), roff_text(e.rule));
  out += generate_man_tail();
  return out;
}

std::string generate_man_tail()
{
  std::string out = ".SH ENVIRONMENT\n";
  auto item = [&out](const std::string& name, const std::string& text) {
    out += ".TP\n.B " + roff_escape(name) + "\n" + roff_escape(text) + "\n";
  };
  item("STATECTL_CONFIG", "config file, as -c (default ./statectl.toml if present, else the built-in local stack)");
  item("STATECTL_ENV", "environment profile, as -e ([env.NAME] tables of the config)");
  item("STATECTL_MASTER_KEY", "master key of the encrypted secret store (instead of [secrets] key_file)");
  item("NO_COLOR", "any non-empty value turns ANSI colour off, as --no-color");
  item("REDISCLI_AUTH", "Redis password for the state commands when the secret store has none");
  out += ".PP\nEvery config key is also read from STATECTL_<SECTION>_<KEY> (above the file and profile, below flags):\n";
  for (const auto& k : config::key_table()) item(k.env_var(), k.name + ": " + k.help);
  out += ".SH FILES\n";
  item("./statectl.toml", "the config, written by statectl init; relative paths in it resolve against its folder");
  item(".statectl/", "beside the config: the state directory of the local stack ([local] dir), with stack.json, the servers' data and logs");
  item("<state dir>/secrets/", "the secret store: one 0600 file per secret, AES-256-GCM encrypted when a master key is configured");
  item("<state dir>/backups/", "the backup repository ([backup] repo): backups/, wal/ and a lock file");
  item("/var/lib/statectl", "the state directory when root runs statectl without a config file");
  item("/usr/share/statectl/templates/", "the built-in Compose, Kubernetes and Terraform templates ([templates] dir overrides them by relative path)");
  out += ".SH EXAMPLES\n";
  for (const auto& [path, lines] : command_examples()) {
    out += (path.empty() ? std::string(".PP\n") : ".SS " + roff_escape(path) + "\n") + ".nf\n";
    for (const auto& line : lines) out += roff_escape(line) + "\n";
    out += ".fi\n";
  }
  out += ".SH SEE ALSO\n.BR psql (1),\n.BR pg_basebackup (1),\n.BR pg_ctl (1),\n.BR pgbouncer (1),\n.BR redis\\-cli (1),\n"
         ".BR redis\\-sentinel (1),\n.BR patronictl (1),\n.BR etcdctl (1),\n.BR docker\\-compose (1),\n.BR kubectl (1),\n"
         ".BR terraform (1)\n";
  return out;
}

void setup_completion(CLI::App& sub, Context& ctx)
{
  auto shell = std::make_shared<std::string>();
  // "man" (the build's statectl.1) is accepted but not offered: the set in the description is
  // what --help and the completions show.
  CLI::Validator shells(
    [](std::string& v) { return v == "bash" || v == "zsh" || v == "fish" || v == "man" ? std::string() : "must be bash, zsh or fish, got '" + v + "'"; },
    "{bash,zsh,fish}", "shell");
  sub.add_option("shell", *shell, "Shell to generate for")->required()->check(shells);
  sub.callback([&ctx, &sub, shell] {
    const CLI::App* root = &sub;
    while (root->get_parent()) root = root->get_parent();
    std::string text = *shell == "bash"  ? generate_bash(*root)
                       : *shell == "zsh" ? generate_zsh(*root)
                       : *shell == "fish" ? generate_fish(*root)
                                          : generate_man(*root);
    ctx.printer().out(text);
  });
}

} // namespace statectl::commands

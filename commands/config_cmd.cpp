#include "commands/config_cmd.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/config/config.h"
#include "core/error.h"
#include "core/output/printer.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::commands {

namespace fs = std::filesystem;

namespace {

// `config show`: the effective config (JSON: {section: {key: value}}; text: TOML).
struct EffectiveConfig {
  const config::Config& cfg;
  bool with_origin = false;
};

void to_json(nlohmann::json& j, const EffectiveConfig& r) { j = r.cfg.to_json(); }
std::string to_text(const EffectiveConfig& r) { return r.cfg.to_toml(r.with_origin); }

// `config validate`: which file (and profile) was found valid.
struct Validation {
  std::optional<fs::path> file;
  std::string profile;
};

void to_json(nlohmann::json& j, const Validation& r)
{
  j = {{"valid", true}, {"file", r.file ? r.file->string() : ""}, {"profile", r.profile}};
}

std::string to_text(const Validation& r)
{
  return fmt::format("{}{}: valid\n", r.file ? r.file->string() : "built-in defaults", r.profile.empty() ? "" : " [env." + r.profile + "]");
}

// `config keys`: the key reference (JSON: one object per key; text: a table).
struct KeyReference {
  const std::vector<config::KeySpec>& keys;
};

void to_json(nlohmann::json& j, const KeyReference& r)
{
  j = nlohmann::json::array();
  for (const auto& k : r.keys)
    j.push_back({{"key", k.name}, {"type", config::type_name(k.type)}, {"default", k.default_value},
                 {"allowed", k.allowed}, {"env", k.env_var()}, {"help", k.help}});
}

std::string to_text(const KeyReference& r)
{
  output::Table table{{"KEY", "TYPE", "DEFAULT", "ENV", "DESCRIPTION"}, {}};
  for (const auto& k : r.keys) table.rows.push_back({k.name, config::type_name(k.type), k.default_value, k.env_var(), k.help});
  return table.render();
}

// The README's config reference: a Markdown table of every key.
std::string keys_markdown(const std::vector<config::KeySpec>& keys)
{
  std::string md = "| key | type | default | env | description |\n|---|---|---|---|---|\n";
  for (const auto& k : keys) {
    std::string type = config::type_name(k.type);
    if (!k.allowed.empty()) type = util::join(k.allowed, " \\| ");
    else if (k.min < k.max) type += fmt::format(" {}..{}", k.min, k.max);
    md += fmt::format("| `{}` | {} | {} | `{}` | {} |\n", k.name, type, k.default_value.empty() ? "" : "`" + k.default_value + "`",
                      k.env_var(), k.help);
  }
  return md;
}

void setup_config_keys(CLI::App& sub, Context& ctx);

} // namespace

void setup_config(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  auto show = sub.add_subcommand("show", "Print the effective config (file, profile, env, flags); secrets as ****");
  auto with_origin = std::make_shared<bool>(false);
  show->add_flag("--origin", *with_origin, "Annotate each value that is not a default with where it came from");
  show->callback([&ctx, with_origin] { ctx.printer().result(EffectiveConfig{ctx.config(), *with_origin}); });

  setup_config_keys(sub, ctx);

  auto validate = sub.add_subcommand("validate", "Validate the config file and profile; change nothing");
  validate->callback([&ctx] {
    auto& cfg = ctx.config();
    ctx.printer().result(Validation{cfg.file(), cfg.profile()});
  });
}

namespace {

// The key reference: one row per key with type, default, allowed values, env var and help.
void setup_config_keys(CLI::App& sub, Context& ctx)
{
  auto keys = sub.add_subcommand("keys", "List every config key with its type, default, environment variable and help");
  auto markdown = std::make_shared<bool>(false);
  keys->add_flag("--markdown", *markdown, "Print a Markdown table (the README's config reference)");
  keys->callback([&ctx, markdown] {
    if (*markdown) ctx.printer().out(keys_markdown(config::key_table()));
    else ctx.printer().result(KeyReference{config::key_table()});
  });
}

} // namespace

void setup_init(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string target = "local";
    std::string file = "statectl.toml";
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--target", o->target, "Target the file is written for")->check(CLI::IsMember({"local", "compose", "k8s", "terraform"}));
  sub.add_option("--file", o->file, "Where to write");
  sub.add_flag("--force", o->force, "Overwrite an existing file");
  sub.callback([&ctx, o] {
    fs::path path = util::resolve_path(o->file, fs::current_path());
    if (fs::exists(path) && !o->force)
      throw Error(ExitCode::usage, fmt::format("{} already exists", path.string()), "", "use --force to overwrite it");
    std::string text = config::init_template(o->target);
    // The template must itself be a valid config; a failure here is a bug, not a user error.
    config::Config::from_string(text, path.string());
    if (ctx.globals().dry_run) {
      ctx.printer().out(text);
      return;
    }
    if (auto r = util::write_file_atomic(path, text, 0644); !r) throw Error(ExitCode::failed, "cannot write config", r.error());
    ctx.printer().info(fmt::format("wrote {} for target {}", path.string(), o->target));
    ctx.printer().result({{"file", path.string()}, {"target", o->target}}, [] { return std::string(); });
  });
}

} // namespace statectl::commands

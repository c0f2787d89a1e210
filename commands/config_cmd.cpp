#include "commands/config_cmd.h"

#include <filesystem>
#include <fmt/format.h>
#include <memory>

#include "core/config/config.h"
#include "core/error.h"
#include "core/util/fs.h"

namespace statectl::commands {

namespace fs = std::filesystem;

void setup_config(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  auto show = sub.add_subcommand("show", "Print the effective config (file, profile, env, flags); secrets as ****");
  auto with_origin = std::make_shared<bool>(false);
  show->add_flag("--origin", *with_origin, "Annotate each value that is not a default with where it came from");
  show->callback([&ctx, with_origin] {
    auto& cfg = ctx.config();
    nlohmann::json doc = cfg.to_json();
    ctx.printer().result(doc, [&] { return cfg.to_toml(*with_origin); });
  });

  auto validate = sub.add_subcommand("validate", "Validate the config file and profile; change nothing");
  validate->callback([&ctx] {
    auto& cfg = ctx.config();
    std::string source = cfg.file() ? cfg.file()->string() : "built-in defaults";
    nlohmann::json doc = {{"valid", true}, {"file", cfg.file() ? cfg.file()->string() : ""}, {"profile", cfg.profile()}};
    ctx.printer().result(doc, [&] {
      return fmt::format("{}{}: valid\n", source, cfg.profile().empty() ? "" : " [env." + cfg.profile() + "]");
    });
  });
}

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
  });
}

} // namespace statectl::commands

#include "commands/render.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/error.h"
#include "core/render/render.h"
#include "core/util/fs.h"

namespace statectl::commands {

namespace fs = std::filesystem;

void setup_render(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string target;
    std::string cloud;
    std::string out;
    std::string templates;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--target", o->target, "What to render (default [project] target)")->check(CLI::IsMember({"compose", "k8s", "terraform"}));
  sub.add_option("--cloud", o->cloud, "Cloud of the terraform target (default [terraform] cloud)")->check(CLI::IsMember({"aws", "gcp", "azure"}));
  sub.add_option("--out", o->out, "Write the files into DIR (replaced atomically) instead of printing them");
  sub.add_option("--templates", o->templates, "Directory whose files override the built-in templates by relative path ([templates] dir)");
  sub.footer("Without --out, k8s prints one multi-document YAML stream; compose and terraform print each file\n"
             "after a '# ==> PATH <==' line. Rendering is deterministic. A template that uses a name the config\n"
             "does not provide fails with exit 2 and names the template and the missing name.");
  sub.callback([&ctx, o] {
    if (!o->templates.empty()) ctx.set_flag("templates.dir", util::resolve_path(o->templates, fs::current_path()).string());
    if (!o->cloud.empty()) ctx.set_flag("terraform.cloud", o->cloud);
    auto& cfg = ctx.config();
    std::string target = o->target.empty() ? cfg.get_string("project.target") : o->target;
    if (target == "local")
      throw Error(ExitCode::usage, "nothing to render for the local target", "the local stack runs processes, not files",
                  "pass --target compose, k8s or terraform");
    render::Request req = render::request_for(cfg, render::parse_target(target));
    if (req.target != render::Target::terraform && !o->cloud.empty())
      throw Error(ExitCode::usage, "--cloud applies only to --target terraform");
    auto files = render::render(cfg, req);

    render::RenderResult result{req, target, std::move(files), std::nullopt};
    if (o->out.empty()) {
      ctx.printer().result(result);
      return;
    }
    fs::path out = util::resolve_path(o->out, fs::current_path());
    result.out = out;
    if (ctx.globals().dry_run) {
      ctx.printer().plan(fmt::format("write {} files into {}", result.files.size(), out.string()));
    } else {
      render::write_tree(out, result.files);
    }
    ctx.printer().result(result);
  });
}

} // namespace statectl::commands

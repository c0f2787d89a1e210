#include "commands/scale.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/deploy/scale.h"
#include "core/error.h"
#include "core/local/stack.h"
#include "core/util/strings.h"

namespace statectl::commands {

void setup_scale(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string component;
    std::int64_t replicas = -1;
    std::string target;
    std::string cloud;
    std::string timeout = "5m";
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("component", o->component, "What to scale: postgres (standbys), redis (replicas) or pooler (PgBouncer)")
    ->required()
    ->check(CLI::IsMember({"postgres", "redis", "pooler"}));
  sub.add_option("--replicas", o->replicas, "The new count (bounds as in the config: postgres 0-15, redis 0-15, pooler 1-100)")->required();
  sub.add_option("--target", o->target, "Target to scale (default [project] target)")->check(CLI::IsMember({"local", "compose", "k8s", "terraform"}));
  sub.add_option("--cloud", o->cloud, "Cloud of the terraform target (default [terraform] cloud)")->check(CLI::IsMember({"aws", "gcp", "azure"}));
  sub.add_option("--timeout", o->timeout, "How long to wait for the new members to be ready");
  sub.footer("local: adds or removes standbys / Redis replicas as processes. compose: `up -d --scale SERVICE=N\n"
             "--no-recreate`. k8s: `kubectl scale` + `rollout status`. terraform: re-plan and apply with the new count.\n"
             "The count is validated before anything runs (exit 2) and recorded so `render` and `deploy` reproduce it.");
  sub.callback([&ctx, o] {
    auto& cfg = ctx.config();
    deploy::ScaleRequest req;
    req.component = o->component;
    req.replicas = o->replicas;
    req.target = o->target.empty() ? cfg.get_string("project.target") : o->target;
    req.cloud = o->cloud;
    auto timeout = util::parse_duration(o->timeout);
    if (!timeout) throw Error(ExitCode::usage, fmt::format("invalid --timeout '{}'", o->timeout), timeout.error());
    req.timeout = *timeout;
    deploy::validate_scale(cfg, req);

    nlohmann::json doc;
    if (req.target == "local") {
      local::Stack stack(cfg, ctx.runner(), ctx.printer());
      if (!stack.deployed())
        throw Error(ExitCode::usage, "nothing deployed on the local target", "", "run `statectl deploy` first");
      auto r = stack.scale(req.component, static_cast<int>(req.replicas));
      doc = {{"component", req.component}, {"replicas", req.replicas}, {"target", "local"}, {"dry_run", ctx.globals().dry_run},
             {"created", r.created}, {"removed", r.removed}, {"recorded", !ctx.globals().dry_run}};
    } else {
      doc = deploy::scale(cfg, ctx.runner(), ctx.printer(), req);
    }
    ctx.printer().result(doc, [&] {
      if (doc["dry_run"].get<bool>()) return std::string();
      return fmt::format("{} scaled to {} on {}\n", req.component, req.replicas, req.target);
    });
  });
}

} // namespace statectl::commands

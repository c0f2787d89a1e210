#include "commands/deploy_targets.h"

#include <fmt/format.h>

#include "core/deploy/deploy.h"
#include "core/render/render.h"

namespace statectl::commands {

bool deploy_to_target(Context& ctx, const std::string& target, const std::string& cloud, std::chrono::milliseconds timeout,
                      bool rollback)
{
  if (target == "local") return false;
  auto& cfg = ctx.config();
  deploy::Options opts;
  opts.request = {render::parse_target(target), cloud.empty() && target == "terraform" ? cfg.get_string("terraform.cloud") : cloud};
  opts.timeout = timeout;
  opts.rollback = rollback;
  nlohmann::json doc = deploy::run(cfg, ctx.runner(), ctx.printer(), opts);
  if (ctx.globals().dry_run) {
    ctx.printer().info("dry run: nothing was changed");
    if (ctx.printer().json()) ctx.printer().result(doc, [] { return std::string(); });
    return true;
  }
  ctx.printer().result(doc, [&] {
    std::string out;
    if (doc.contains("plan"))
      out += fmt::format("applied: {} added, {} changed, {} destroyed\n", doc["plan"]["add"].get<int>(), doc["plan"]["change"].get<int>(),
                         doc["plan"]["destroy"].get<int>());
    if (doc.contains("checks"))
      for (const auto& [k, v] : doc["checks"].items()) out += fmt::format("verified {}: {}\n", k, v.get<std::string>());
    if (doc.contains("outputs"))
      for (const auto& [k, v] : doc["outputs"].items()) out += fmt::format("{} = {}\n", k, v.is_string() ? v.get<std::string>() : v.dump());
    out += fmt::format("{} deploy of {} is up; the applied render is in {}\n", target, doc["project"].get<std::string>(),
                       doc["dir"].get<std::string>());
    return out;
  });
  return true;
}

} // namespace statectl::commands

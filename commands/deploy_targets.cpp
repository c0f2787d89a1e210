#include "commands/deploy_targets.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/deploy/deploy.h"
#include "core/deploy/destroy.h"
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

bool destroy_target(Context& ctx, const std::string& target, const std::string& cloud, bool purge, std::chrono::milliseconds timeout)
{
  if (target == "local") return false;
  auto& cfg = ctx.config();
  deploy::DestroyOptions opts;
  opts.request = {render::parse_target(target), cloud.empty() && target == "terraform" ? cfg.get_string("terraform.cloud") : cloud};
  opts.purge = purge;
  opts.timeout = timeout;
  nlohmann::json doc = deploy::destroy(cfg, ctx.runner(), ctx.printer(), opts);
  if (ctx.globals().dry_run) {
    ctx.printer().info("dry run: nothing was changed");
    if (ctx.printer().json()) ctx.printer().result(doc, [] { return std::string(); });
    return true;
  }
  ctx.printer().result(doc, [&] {
    if (!doc["destroyed"].get<bool>()) return std::string("nothing to destroy\n");
    std::string out;
    if (doc.contains("plan")) out += fmt::format("destroyed: {} resources\n", doc["plan"]["destroy"].get<int>());
    std::vector<std::string> deleted;
    for (const auto& d : doc["deleted"]) deleted.push_back(d.get<std::string>());
    if (!deleted.empty()) out += fmt::format("deleted: {}\n", fmt::join(deleted, ", "));
    if (target != "terraform")
      out += purge ? fmt::format("{} deploy of {} is gone, data included\n", target, doc["project"].get<std::string>())
                   : fmt::format("{} deploy of {} is down; its data is kept (destroy --purge deletes it)\n", target,
                                 doc["project"].get<std::string>());
    return out;
  });
  return true;
}

} // namespace statectl::commands

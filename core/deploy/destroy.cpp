#include "core/deploy/destroy.h"

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/deploy/deploy.h"
#include "core/deploy/tools.h"
#include "core/error.h"
#include "core/render/recorded.h"
#include "core/secrets/push.h"
#include "core/util/strings.h"

namespace statectl::deploy {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Teardown : TargetRun {
  const DestroyOptions& opts;

  Teardown(const config::Config& c, exec::Runner& r, output::Printer& p, const DestroyOptions& o) : TargetRun(c, r, p, o.request), opts(o)
  {
    doc.update({{"purged", false}, {"destroyed", false}, {"deleted", json::array()}});
  }

  std::chrono::milliseconds tool_timeout() const { return opts.timeout + std::chrono::minutes(2); }

  std::string seconds_flag() const { return fmt::format("--timeout={}s", std::max<long long>(1, opts.timeout.count() / 1000)); }

  // The teardown of compose or k8s finished: the result, after forget_render().
  json done()
  {
    doc["destroyed"] = true;
    doc["purged"] = opts.purge;
    forget_render();
    return doc;
  }

  // After the teardown: the render stays (a later `destroy --purge` still needs it) but is no
  // longer the applied one, so a new deploy has nothing to roll back to; --purge removes it, the
  // previous render and the counts `scale` recorded.
  void forget_render()
  {
    if (planning) return;
    std::error_code ec;
    if (opts.purge) {
      fs::remove_all(dir, ec);
      if (ec) printer.warn(fmt::format("cannot remove {}: {}", dir.string(), ec.message()));
      fs::remove_all(previous_dir(cfg, req), ec);
      render::forget_counts(cfg, render::target_name(req.target));
    } else {
      fs::remove(dir / ".applied", ec);
    }
  }
};

json nothing_to_destroy(Teardown& t, const std::string& what)
{
  t.printer.info(fmt::format("nothing to destroy: no {} in {} (destroy tears down what `statectl deploy` applied from this state "
                             "directory)",
                             what, t.dir.string()));
  return t.doc;
}

json destroy_compose(Teardown& t)
{
  fs::path file = t.dir / "docker-compose.yml";
  std::error_code ec;
  if (!fs::exists(file, ec)) return nothing_to_destroy(t, "compose render");
  Compose compose = Compose::detect(t.cfg, t.runner, file);
  t.doc["compose"] = util::join(compose.base, " ");
  std::string seconds = std::to_string(std::max<long long>(1, t.opts.timeout.count() / 1000));
  if (t.opts.purge) {
    t.step("stop and remove the containers, networks and every volume (the data)");
  } else {
    // `down` alone would leave the anonymous volumes (the standbys' full copies) behind, and
    // `down --volumes` would take the named ones (the data) too: remove the containers with
    // their anonymous volumes first.
    t.step("stop and remove the containers with their anonymous volumes, and the networks; the named volumes (the data) are kept");
    run_checked(t.runner, command(compose.argv({"stop", "--timeout", seconds}), true, t.tool_timeout()), "docker compose stop failed");
    run_checked(t.runner, command(compose.argv({"rm", "--force", "-v"}), true, t.tool_timeout()), "docker compose rm failed");
  }
  std::vector<std::string> args = {"down", "--remove-orphans", "--timeout", seconds};
  if (t.opts.purge) args.push_back("--volumes");
  run_checked(t.runner, command(compose.argv(args), true, t.tool_timeout()), "docker compose down failed");
  if (t.planning) {
    if (t.opts.purge) t.step(fmt::format("remove the render {}", t.dir.string()));
    return t.doc;
  }
  t.doc["deleted"] = json::array({"containers", "networks", "anonymous volumes"});
  if (t.opts.purge) t.doc["deleted"].push_back("volumes");
  return t.done();
}

json destroy_k8s(Teardown& t)
{
  std::error_code ec;
  std::vector<std::string> manifests;
  for (const auto& entry : fs::directory_iterator(t.dir, ec))
    if (entry.path().extension() == ".yaml" && entry.path().filename() != "00-namespace.yaml") manifests.push_back(entry.path().string());
  if (manifests.empty()) return nothing_to_destroy(t, "kubernetes render");
  // Reverse file order: budgets and policies first, the ConfigMaps the pods mount last.
  std::sort(manifests.rbegin(), manifests.rend());
  Kubectl kubectl = Kubectl::detect(t.cfg);

  std::vector<std::string> args = {"delete", "--ignore-not-found", "--cascade=foreground", "--wait", t.seconds_flag()};
  for (const auto& m : manifests) args.insert(args.end(), {"-f", m});
  t.step(t.opts.purge ? "delete the workloads, services, ConfigMaps, policies and budgets"
                      : "delete the workloads, services, ConfigMaps, policies and budgets; the volume claims (the data) and the "
                        "Secret are kept");
  run_checked(t.runner, command(kubectl.argv(args), true, t.tool_timeout()), "kubectl delete failed");
  if (!t.planning) t.doc["deleted"] = json::array({"workloads", "services", "configmaps", "networkpolicies", "poddisruptionbudgets"});
  if (t.opts.purge) {
    std::string selector = fmt::format("app.kubernetes.io/instance={},app.kubernetes.io/managed-by=statectl", t.cfg.get_string("project.name"));
    run_checked(t.runner, command(kubectl.argv({"delete", "pvc", "-l", selector, "--ignore-not-found", "--wait", t.seconds_flag()}), true,
                                  t.tool_timeout()),
                "kubectl delete of the volume claims failed (the workloads are already deleted)");
    if (!t.planning) t.doc["deleted"].push_back("persistentvolumeclaims");
    run_checked(t.runner,
                command(kubectl.argv({"delete", "secret", secrets::k8s_secret_name(t.cfg), "--ignore-not-found"}), true, t.tool_timeout()),
                "kubectl delete of the Secret failed (the workloads and volume claims are already deleted)");
    if (!t.planning) t.doc["deleted"].push_back("secret");
  }
  t.step(fmt::format("the namespace {} is kept (it may hold other work); `kubectl delete namespace {}` removes it",
                     t.cfg.get_string("k8s.namespace"), t.cfg.get_string("k8s.namespace")));
  if (t.planning) return t.doc;
  return t.done();
}

json destroy_terraform(Teardown& t)
{
  std::error_code ec;
  bool any_tf = false;
  for (const auto& entry : fs::directory_iterator(t.dir, ec)) any_tf = any_tf || entry.path().extension() == ".tf";
  if (!any_tf) return nothing_to_destroy(t, "terraform render");
  if (!t.opts.purge)
    throw Error(ExitCode::usage, fmt::format("destroy --target terraform deletes the managed databases of {} and their data", t.req.cloud),
                "there is no way to tear a managed database down and keep its data",
                "take a backup first, then run `statectl destroy --purge --target terraform`");
  require_terraform();
  auto env = terraform_env(t.cfg, t.req.cloud, t.planning);
  std::string chdir = "-chdir=" + t.dir.string();
  auto tf = [&](std::vector<std::string> args, bool mutating, const std::string& what) {
    exec::Command c = command({"terraform", chdir}, mutating, std::chrono::hours(2));
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.env = env;
    return run_checked(t.runner, c, what);
  };
  tf({"init", "-input=false", "-no-color"}, false, "terraform init failed");
  exec::Result plan = tf({"plan", "-destroy", "-input=false", "-no-color", "-out=statectl-destroy.tfplan"}, false, "terraform plan -destroy failed");
  PlanSummary s = parse_plan_summary(plan.out);
  t.doc["plan"] = {{"add", s.add}, {"change", s.change}, {"destroy", s.destroy}};
  std::string summary = s.parsed ? fmt::format("plan: {} to destroy", s.destroy) : std::string("plan: summary not found in terraform's output");
  if (t.planning) {
    t.printer.out_stream() << "# " << summary << "\n";
    t.runner.run(command({"terraform", chdir, "apply", "-input=false", "-no-color", "statectl-destroy.tfplan"}, true));
    return t.doc;
  }
  t.printer.info(summary);
  try {
    tf({"apply", "-input=false", "-no-color", "statectl-destroy.tfplan"}, true, "terraform destroy failed");
  } catch (const Error& e) {
    bool protection = e.why().find("deletion_protection") != std::string::npos || e.why().find("eletion protection") != std::string::npos;
    throw Error(e.code(), e.what_failed(), e.why(),
                protection ? "set [terraform] deletion_protection = false, run `statectl deploy --target terraform` to apply it, then destroy again"
                           : fmt::format("terraform's state is in {}; fix the cause and run destroy again", t.dir.string()));
  }
  fs::remove(t.dir / "statectl-destroy.tfplan", ec);
  fs::remove(t.dir / "statectl.tfplan", ec);
  fs::remove(t.dir / ".applied", ec);
  render::forget_counts(t.cfg, "terraform");
  // The directory keeps terraform's (now empty) state and its history; it is not deleted.
  t.doc["deleted"] = json::array({"managed databases"});
  t.doc["destroyed"] = true;
  t.doc["purged"] = true;
  return t.doc;
}

} // namespace

json destroy(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const DestroyOptions& opts)
{
  Teardown t(cfg, runner, printer, opts);
  switch (t.req.target) {
  case render::Target::compose: return destroy_compose(t);
  case render::Target::k8s: return destroy_k8s(t);
  case render::Target::terraform: return destroy_terraform(t);
  }
  return t.doc;
}

} // namespace statectl::deploy

#include "core/deploy/deploy.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <system_error>
#include <thread>

#include "core/deploy/compose_init.h"
#include "core/deploy/tools.h"
#include "core/deploy/verify.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/push.h"
#include "core/secrets/store.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::deploy {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path applied_dir(const config::Config& cfg, const render::Request& req)
{
  if (req.target == render::Target::terraform) return cfg.state_dir() / "terraform" / req.cloud;
  return cfg.state_dir() / render::target_name(req.target);
}

fs::path previous_dir(const config::Config& cfg, const render::Request& req)
{
  fs::path d = applied_dir(cfg, req);
  return d.parent_path() / (d.filename().string() + ".previous");
}

Compose deployed_compose(const config::Config& cfg, exec::Runner& runner)
{
  fs::path file = applied_dir(cfg, {render::Target::compose, ""}) / "docker-compose.yml";
  std::error_code ec;
  if (!fs::exists(file, ec))
    throw Error(ExitCode::failed, fmt::format("no compose deploy in {}", file.parent_path().string()), "",
                "run `statectl deploy --target compose` first");
  return Compose::detect(cfg, runner, file);
}

TargetRun::TargetRun(const config::Config& c, exec::Runner& r, output::Printer& p, const render::Request& request)
  : cfg(c), runner(r), printer(p), req(request)
{
  if (req.target == render::Target::terraform && req.cloud.empty()) req.cloud = cfg.get_string("terraform.cloud");
  planning = runner.dry_run() == exec::DryRun::plan;
  dir = applied_dir(cfg, req);
  doc = {{"target", render::target_name(req.target)}, {"project", cfg.get_string("project.name")}, {"dir", dir.string()}, {"dry_run", planning}};
  if (req.target == render::Target::terraform) doc["cloud"] = req.cloud;
}

void TargetRun::step(const std::string& line)
{
  if (planning)
    printer.out_stream() << "# " << line << "\n";
  else
    printer.info(line);
}

namespace {

// Renders (in memory) and remembers what the run did, for the result document.
struct Run : TargetRun {
  const Options& opts;
  std::vector<render::File> files;
  fs::path prev;

  Run(const config::Config& c, exec::Runner& r, output::Printer& p, const Options& o) : TargetRun(c, r, p, o.request), opts(o)
  {
    prev = previous_dir(cfg, req);
    doc.update({{"applied", false}, {"verified", false}, {"rolled_back", false}});
  }

  // Keeps the applied render as the previous one and puts the new render in place, keeping
  // the compose secret files.
  void install_render()
  {
    std::error_code ec;
    if (fs::exists(dir / ".applied", ec)) {
      fs::remove_all(prev, ec);
      fs::copy(dir, prev, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
      if (ec) throw Error(ExitCode::failed, fmt::format("cannot keep the previous render in {}", prev.string()), ec.message());
    }
    auto files_with_marker = files;
    render::write_tree(dir, files_with_marker, {"secrets"});
  }

  void mark_applied()
  {
    if (auto r = util::write_file_atomic(dir / ".applied", "", 0644); !r) printer.warn(r.error());
  }

  bool has_previous() const
  {
    std::error_code ec;
    return fs::exists(prev / ".applied", ec);
  }

  // Puts the previous render back as the applied one (the failed one is discarded).
  void restore_previous()
  {
    std::error_code ec;
    fs::path failed = dir.parent_path() / (dir.filename().string() + ".failed");
    fs::remove_all(failed, ec);
    fs::rename(dir, failed, ec);
    if (ec) throw Error(ExitCode::failed, "cannot restore the previous render", ec.message());
    fs::rename(prev, dir, ec);
    if (ec) throw Error(ExitCode::failed, "cannot restore the previous render", ec.message());
    // Keep the secret files of the failed tree: they are the current passwords, owned by the
    // containers' uid (the previous tree's are a copy from before this deploy).
    if (fs::exists(failed / "secrets", ec)) {
      fs::remove_all(dir / "secrets", ec);
      fs::rename(failed / "secrets", dir / "secrets", ec);
    }
    fs::remove_all(failed, ec);
  }
};

// Shared failure handling: roll back (apply_previous) unless disabled, then rethrow as one
// error that says what happened.
template <typename ApplyPrevious>
[[noreturn]] void fail_with_rollback(Run& run, const Error& e, ApplyPrevious apply_previous)
{
  if (!run.opts.rollback)
    throw Error(e.code(), e.what_failed(), e.why(),
                fmt::format("the new render was left applied (--no-rollback); it is in {}", run.dir.string()));
  if (!run.has_previous())
    throw Error(e.code(), e.what_failed(), e.why(),
                "there is no previous render to roll back to; inspect the stack, fix the config and deploy again, or destroy it");
  run.printer.warn(fmt::format("{}: {}; rolling back to the previous render", e.what_failed(), e.why()));
  run.restore_previous();
  try {
    apply_previous();
  } catch (const Error& again) {
    throw Error(again.code(), fmt::format("{}, and the rollback failed too", e.what_failed()), again.why(),
                fmt::format("the previous render is in {}; apply it by hand", run.dir.string()));
  }
  run.doc["rolled_back"] = true;
  throw Error(e.code(), e.what_failed(), fmt::format("{}; rolled back to the previous render", e.why()),
              fmt::format("the stack runs the previous render ({}) again; fix the config and deploy again", run.dir.string()));
}

// The files the rendered compose file references as ./secrets/<name>, readable by the containers'
// user, in a 0700 directory; values from the secret store (generated there on first use).
void write_compose_secrets(const config::Config& cfg, const fs::path& dir)
{
  secrets::Store store(cfg);
  fs::path sdir = dir / "secrets";
  if (auto r = util::make_dirs(sdir, 0700); !r) throw Error(ExitCode::failed, "cannot create the compose secrets directory", r.error());
  ::chmod(sdir.c_str(), 0700);
  for (const auto& name : secrets::stack_secret_names()) {
    std::string value = store.ensure(name);
    exec::register_secret(value);
    secrets::write_compose_secret(sdir / name, value);
  }
}

// The Secret the manifests reference: an existing one is kept (its values are `secrets push`'s
// and `secrets rotate`'s job); a missing one is created from the secret store, generating the
// passwords the store does not have yet, as a compose deploy does for its secret files.
void ensure_k8s_secret(Run& run, const Kubectl& kubectl)
{
  std::string name = secrets::k8s_secret_name(run.cfg);
  exec::Result r = run.runner.run(command(kubectl.argv({"get", "secret", name, "-o", "name"}), false, std::chrono::seconds(60)));
  if (r.ok()) {
    run.doc["secret"] = "kept";
    return;
  }
  if (r.err.find("NotFound") == std::string::npos && r.err.find("not found") == std::string::npos)
    throw Error(ExitCode::external, fmt::format("cannot tell whether the Secret {} exists", name), tool_error(r),
                "check the kubectl context and your permissions on secrets in the namespace");
  secrets::Store store(run.cfg);
  for (const auto& secret : secrets::stack_secret_names()) exec::register_secret(store.ensure(secret));
  secrets::push_k8s(run.cfg, store, run.runner);
  run.doc["secret"] = "created";
  run.step(fmt::format("created the Secret {} from the secret store", name));
}

json deploy_compose(Run& run)
{
  fs::path file = run.dir / "docker-compose.yml";
  Compose compose = Compose::detect(run.cfg, run.runner, file);
  run.doc["compose"] = util::join(compose.base, " ");
  if (run.planning) {
    run.step(fmt::format("render {} files into {} (the applied render is kept as {})", run.files.size(), run.dir.string(),
                         run.prev.string()));
    run.step(fmt::format("write the secret files {}", (run.dir / "secrets").string()));
    run.runner.run(command(compose.argv({"config", "-q"}), true));
    run.runner.run(command(compose.argv({"up", "-d", "--remove-orphans"}), true));
    run.step("once postgres-primary is healthy, set up its roles, passwords (SCRAM verifiers) and synchronous_standby_names");
    run.runner.run(command(compose.argv({"exec", "-T", "postgres-primary", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U",
                                         run.cfg.get_string("postgres.superuser"), "-d", "postgres"}),
                           true));
    run.step(fmt::format("wait up to {} for every container to be healthy, then verify", util::format_duration(run.opts.timeout)));
    return run.doc;
  }

  run.install_render();
  write_compose_secrets(run.cfg, run.dir);
  run.step(fmt::format("rendered {} files into {}", run.files.size(), run.dir.string()));
  try {
    run_checked(run.runner, command(compose.argv({"config", "-q"}), false, std::chrono::seconds(60)), "the rendered compose file is invalid");
  } catch (const Error& e) {
    // Nothing was applied yet: put the previous render back without touching the stack.
    if (run.has_previous()) run.restore_previous();
    throw;
  }
  auto up = [&](const Compose& c) {
    run_checked(run.runner, command(c.argv({"up", "-d", "--remove-orphans"}), true, run.opts.timeout + std::chrono::minutes(5)),
                "docker compose up failed");
  };
  try {
    up(compose);
    run.doc["applied"] = true;
    run.mark_applied();
    run.step("setting up the roles on postgres-primary");
    init_compose_primary(run.cfg, run.runner, compose, run.req, run.opts.timeout);
    run.step("waiting for the containers to become healthy");
    wait_compose_healthy(run.runner, compose, run.opts.timeout);
    run.step("verifying the stack");
    run.doc["checks"] = verify_compose(run.cfg, run.runner, compose, run.req);
    run.doc["verified"] = true;
  } catch (const Error& e) {
    fail_with_rollback(run, e, [&] {
      up(compose);
      init_compose_primary(run.cfg, run.runner, compose, run.req, run.opts.timeout);
      wait_compose_healthy(run.runner, compose, run.opts.timeout);
    });
  }
  return run.doc;
}

json deploy_k8s(Run& run)
{
  Kubectl kubectl = Kubectl::detect(run.cfg);
  auto apply = [&](const fs::path& target) {
    run_checked(run.runner, command(kubectl.argv({"apply", "-f", target.string()}), true), "kubectl apply failed");
  };
  std::vector<std::pair<std::string, std::string>> manifests;
  for (const auto& f : run.files) manifests.emplace_back(f.path, f.content);
  auto names = workloads(manifests);
  auto rollout = [&] {
    for (const auto& w : names) {
      run.step(fmt::format("waiting for {}", w));
      run_checked(run.runner,
                  command(kubectl.argv({"rollout", "status", w, fmt::format("--timeout={}s", run.opts.timeout.count() / 1000)}), false,
                          run.opts.timeout + std::chrono::seconds(30)),
                  fmt::format("{} did not become ready within {}", w, util::format_duration(run.opts.timeout)));
    }
  };
  if (run.planning) {
    run.step(fmt::format("render {} manifests into {} (the applied render is kept as {})", run.files.size(), run.dir.string(),
                         run.prev.string()));
    apply(run.dir / "00-namespace.yaml");
    run.step(fmt::format("create the Secret {} from the secret store unless it exists (an existing one is kept)",
                         secrets::k8s_secret_name(run.cfg)));
    apply(run.dir);
    run.step(fmt::format("wait for {} with rollout status, then verify", util::join(names, ", ")));
    return run.doc;
  }
  run.install_render();
  run.step(fmt::format("rendered {} manifests into {}", run.files.size(), run.dir.string()));
  apply(run.dir / "00-namespace.yaml");
  ensure_k8s_secret(run, kubectl);
  try {
    apply(run.dir);
    run.doc["applied"] = true;
    run.mark_applied();
    rollout();
    run.step("verifying the stack");
    run.doc["checks"] = verify_k8s(run.cfg, run.runner, kubectl, run.req);
    run.doc["verified"] = true;
  } catch (const Error& e) {
    fail_with_rollback(run, e, [&] {
      apply(run.dir);
      rollout();
    });
  }
  return run.doc;
}

json deploy_terraform(Run& run)
{
  require_terraform();
  // Terraform keeps its state and providers in the directory: files are replaced one by one,
  // never the directory; stale .tf files from an older render are removed.
  std::error_code ec;
  if (auto r = util::make_dirs(run.dir, 0700); !r) throw Error(ExitCode::failed, "cannot create the terraform directory", r.error());
  for (const auto& f : run.files)
    if (auto r = util::write_file_atomic(run.dir / f.path, f.content, 0644); !r) throw Error(ExitCode::failed, "cannot write the render", r.error());
  for (const auto& entry : fs::directory_iterator(run.dir, ec)) {
    if (entry.path().extension() != ".tf") continue;
    bool rendered = false;
    for (const auto& f : run.files) rendered = rendered || f.path == entry.path().filename().string();
    if (!rendered) fs::remove(entry.path(), ec);
  }
  run.step(fmt::format("rendered {} files into {}", run.files.size(), run.dir.string()));

  std::map<std::string, std::string> env = terraform_env(run.cfg, run.req.cloud, run.planning);
  std::string chdir = "-chdir=" + run.dir.string();
  auto tf = [&](std::vector<std::string> args, bool mutating, const std::string& what) {
    exec::Command c = command({"terraform", chdir}, mutating, std::chrono::hours(2));
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.env = env;
    return run_checked(run.runner, c, what);
  };
  tf({"init", "-input=false", "-no-color"}, false, "terraform init failed");
  exec::Result plan = tf({"plan", "-input=false", "-no-color", "-out=statectl.tfplan"}, false, "terraform plan failed");
  PlanSummary s = parse_plan_summary(plan.out);
  run.doc["plan"] = {{"add", s.add}, {"change", s.change}, {"destroy", s.destroy}};
  std::string summary = s.parsed ? fmt::format("plan: {} to add, {} to change, {} to destroy", s.add, s.change, s.destroy)
                                 : std::string("plan: summary not found in terraform's output");
  if (run.planning) {
    run.printer.out_stream() << "# " << summary << "\n";
    run.runner.run(command({"terraform", chdir, "apply", "-input=false", "-no-color", "statectl.tfplan"}, true));
    return run.doc;
  }
  run.printer.info(summary);
  tf({"apply", "-input=false", "-no-color", "statectl.tfplan"}, true, "terraform apply failed");
  run.doc["applied"] = true;
  exec::Result out = tf({"output", "-json", "-no-color"}, false, "terraform output failed");
  auto outputs = json::parse(out.out, nullptr, false);
  if (!outputs.is_discarded() && outputs.is_object()) {
    json shown = json::object();
    for (const auto& [k, v] : outputs.items())
      if (!v.value("sensitive", false) && v.contains("value")) shown[k] = v["value"];
    run.doc["outputs"] = shown;
  }
  run.doc["verified"] = true; // the cloud's own health checks gate `apply`; nothing more to probe from here
  return run.doc;
}

} // namespace

json run(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const Options& opts)
{
  Run r(cfg, runner, printer, opts);
  r.files = render::render(cfg, r.req); // validates the config before anything runs
  switch (r.req.target) {
  case render::Target::compose: return deploy_compose(r);
  case render::Target::k8s: return deploy_k8s(r);
  case render::Target::terraform: return deploy_terraform(r);
  }
  return r.doc;
}

} // namespace statectl::deploy

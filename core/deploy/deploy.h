#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/config/config.h"
#include "core/deploy/tools.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/render/render.h"

namespace statectl::deploy {

struct Options {
  render::Request request;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)}; // health wait / rollout status
  bool rollback = true;                                        // --no-rollback turns it off
};

// Where deploy keeps renders: <state dir>/compose, <state dir>/k8s, <state dir>/terraform/<cloud>.
// The render applied before the current one is kept beside it as "<dir>.previous" (compose, k8s).
std::filesystem::path applied_dir(const config::Config& cfg, const render::Request& req);
std::filesystem::path previous_dir(const config::Config& cfg, const render::Request& req);

// The compose client for the applied render (<state dir>/compose/docker-compose.yml). Throws
// Error(failed) naming the directory when nothing was deployed there, and what Compose::detect
// throws.
Compose deployed_compose(const config::Config& cfg, exec::Runner& runner);

// What deploy and destroy share for one target: the request (terraform's cloud defaulted from
// the config), the render directory, plan mode (--dry-run), the result document and steps.
struct TargetRun {
  const config::Config& cfg;
  exec::Runner& runner;
  output::Printer& printer;
  render::Request req;
  std::filesystem::path dir;
  bool planning = false;
  nlohmann::json doc; // target, project, dir, dry_run (and cloud)

  TargetRun(const config::Config& c, exec::Runner& r, output::Printer& p, const render::Request& request);
  // One step: a "# ..." line of the plan on stdout under --dry-run, else progress on stderr.
  void step(const std::string& line);
};

// Deploys to compose, k8s or terraform: render → validate → apply → wait → verify, rolling back
// to the previous applied render when a step after the apply fails (compose, k8s; unless
// !opts.rollback). Under --dry-run (runner in plan mode) prints the plan and changes nothing
// (terraform: runs init and plan, stops before apply). Returns the result document; throws
// Error: unavailable (tool missing), external (a tool failed), failed (verify failed; the
// message says whether it rolled back).
nlohmann::json run(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const Options& opts);

} // namespace statectl::deploy

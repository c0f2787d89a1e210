#pragma once

#include <chrono>
#include <nlohmann/json_fwd.hpp>

#include "core/config/config.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/render/render.h"

namespace statectl::deploy {

struct DestroyOptions {
  render::Request request;
  bool purge = false;                                       // also delete the data
  std::chrono::milliseconds timeout{std::chrono::seconds(30)}; // per tool call that waits
};

// Tears down what `deploy` applied from this state directory, using the render it applied
// (applied_dir()):
//   compose    `down --remove-orphans`; --purge adds `--volumes` and deletes the render.
//   k8s        `delete --ignore-not-found --cascade=foreground --wait` of every rendered
//              manifest but the Namespace; the PersistentVolumeClaims and the Secret are kept.
//              --purge also deletes the claims (by the labels the render gives them) and the
//              Secret, then the render. The Namespace is never deleted: it may hold other work.
//   terraform  needs purge (a managed database is its data): init, `plan -destroy`, summary,
//              apply of that plan. Dry-run stops after the plan.
// --purge also forgets the replica counts `scale` recorded for the target.
// With no render in the state directory there is nothing to destroy: the result says so
// ("destroyed": false) and nothing runs. Under --dry-run prints the plan and changes nothing.
// Throws Error: usage (terraform without purge), unavailable (tool missing), external (a tool
// failed; what was already deleted is named).
nlohmann::json destroy(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const DestroyOptions& opts);

} // namespace statectl::deploy

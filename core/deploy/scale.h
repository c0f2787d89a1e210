#pragma once

#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/config/config.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"

namespace statectl::deploy {

// What `scale` changes: postgres (standbys), redis (replicas of the master) or pooler (PgBouncer
// instances), on a target (local, compose, k8s, terraform).
struct ScaleRequest {
  std::string component;
  std::int64_t replicas = 0;
  std::string target;
  std::string cloud; // terraform
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// The config key a component's count lives in ("postgres" -> "postgres.replicas",
// "pooler" -> "pgbouncer.replicas"); throws Error(usage) for an unknown component.
std::string scale_key(const std::string& component);

// Checks the component, the count (against the key's bounds) and the target's support for it;
// throws Error(usage) before anything runs.
void validate_scale(const config::Config& cfg, const ScaleRequest& req);

// Scales a deployed compose, k8s or terraform stack and records the new count so that `render`
// reproduces it (render/recorded.h). compose: re-render, `up -d --scale SERVICE=N
// --no-recreate`, wait healthy; k8s: `kubectl scale`, `rollout status`; terraform: re-render,
// plan and apply (plan only under --dry-run). The local target is scaled by local::Stack.
nlohmann::json scale(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const ScaleRequest& req);

} // namespace statectl::deploy

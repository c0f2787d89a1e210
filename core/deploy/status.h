#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/config/config.h"
#include "core/exec/runner.h"
#include "core/render/render.h"

namespace statectl::deploy {

// `status` of a compose, k8s or terraform deploy, asked of the tools (read-only commands only):
//   compose    every container of the project (`ps -q` + `docker inspect`): service, role,
//              state/health, image; then, through `exec -T`, pg_stat_replication on the primary
//              (standbys streaming, bytes behind) and Sentinel's master.
//   k8s        every StatefulSet/Deployment labelled app.kubernetes.io/instance=<project>: ready
//              / desired replicas and image; then the same two probes through `kubectl exec`.
//   terraform  the resources in terraform's state (`state list`) and the non-sensitive outputs;
//              the managed services' health is the cloud's to report.
// The document has "healthy" (every component up, every configured standby streaming, the
// Sentinel knows a master) and "text" (the table the text output prints). Probe failures are
// reported per component, not thrown. Throws Error: failed (nothing deployed from this state
// directory), unavailable (tool missing), external (the tool's listing failed).
nlohmann::json remote_status(const config::Config& cfg, exec::Runner& runner, const render::Request& request);

} // namespace statectl::deploy

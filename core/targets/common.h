#pragma once

// What the container and cloud targets share (not a public API): the applied-render directory
// with its previous copy and rollback, the status probes, and the factories of each target.

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/deploy/tools.h"
#include "core/deploy/verify.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/render/render.h"
#include "core/targets/target.h"

namespace statectl::targets::detail {

std::unique_ptr<Target> make_local(const config::Config& cfg, exec::Runner& runner, output::Printer& printer);
std::unique_ptr<Target> make_compose(const config::Config& cfg, exec::Runner& runner, output::Printer& printer);
std::unique_ptr<Target> make_k8s(const config::Config& cfg, exec::Runner& runner, output::Printer& printer);
std::unique_ptr<Target> make_terraform(const config::Config& cfg, exec::Runner& runner, output::Printer& printer);

// Where deploy keeps renders: <state dir>/compose, <state dir>/k8s, <state dir>/terraform/<cloud>.
std::filesystem::path applied_dir(const config::Config& cfg, const render::Request& req);
// The render applied before the current one, kept beside it as "<dir>.previous".
std::filesystem::path previous_dir(const config::Config& cfg, const render::Request& req);
// Whether dir holds a render that deploy applied (and destroy has not taken down).
bool applied(const std::filesystem::path& dir);

// A standby further behind than this is reported as lagging (unhealthy), as on the local target.
inline constexpr std::int64_t k_max_lag_bytes = 16 * 1024 * 1024;

// The state of a container or cloud target that its operations share.
struct Remote {
  const config::Config& cfg;
  exec::Runner& runner;
  output::Printer& printer;
  render::Request req;       // terraform's cloud filled in from [terraform] cloud
  std::filesystem::path dir; // applied_dir(req)

  Remote(const config::Config& c, exec::Runner& r, output::Printer& p, render::Target t);
  bool planning() const { return runner.dry_run() == exec::DryRun::plan; }
  DeployResult deploy_result() const;
  DestroyResult destroy_result() const;
  StatusResult status_result() const;

private:
  template <class R>
  R headed() const;
};

// One deploy of a render directory with a previous copy to roll back to (compose, k8s).
struct RenderRun {
  Remote& t;
  const DeployOptions& opts;
  std::vector<render::File> files;
  std::filesystem::path prev;
  DeployResult result;

  RenderRun(Remote& target, const DeployOptions& o);
  // Keeps the applied render as the previous one and puts the new render in place (the
  // compose secret files are kept).
  void install_render();
  void mark_applied();
  bool has_previous() const;
  // Puts the previous render back as the applied one (the failed one is discarded).
  void restore_previous();
  // After a failure past the apply: rolls back with apply_previous unless disabled, then throws
  // one error that says what happened.
  [[noreturn]] void fail_with_rollback(const Error& e, const std::function<void()>& apply_previous);
};

// The status of a compose or k8s stack from its components and, when the primary runs, the
// replication and Sentinel probes run with prefix(where) + command. primary / sentinel: where to
// exec, empty when none of them is ready.
StatusResult container_status(Remote& t, std::vector<ComponentRow> components,
                              const std::function<std::vector<std::string>(const std::string&)>& prefix, const std::string& primary,
                              const std::string& sentinel);

// After a teardown: the render stays (a later `destroy --purge` still needs it) but is no longer
// the applied one, so a new deploy has nothing to roll back to; purge removes it, the previous
// render and the counts `scale` recorded.
void forget_applied_render(Remote& t, bool purge);

// The service -> first loopback host port that a rendered docker-compose.yml publishes
// ("127.0.0.1:16432-16433:6432" -> 16432).
std::map<std::string, int> published_ports(const std::string& compose_file);

// Endpoints without addresses: users, database, secret names and the Sentinel master name of the
// config; each target fills in the hosts and ports.
stack::Endpoints base_endpoints(const config::Config& cfg);

// A client (psql, redis-cli) command with inherited stdio; marked mutating (the client may
// change anything, so --dry-run shows it instead).
exec::Command client_command(std::vector<std::string> argv);

// redis-cli inside a compose service / k8s workload: the current master (sentinel mode: the
// address the Sentinel reports now, asked inside its container), a replica with o.replica, or a
// cluster node with -c. The password is read from secrets_dir/redis inside the container.
exec::Command redis_cli_in(const config::Config& cfg, const render::Request& req, const ClientOptions& o,
                           const std::function<std::vector<std::string>(const std::string&)>& prefix, const std::string& secrets_dir);

// "redis:7" -> "redis:7"; "redis" -> "redis:latest".
std::string image_tag(const std::string& image);

// The checks of scale that hold on every target: a known component and a count within the
// key's bounds; Redis in standalone mode has nothing to scale. Returns the config key.
std::string check_scale_common(const config::Config& cfg, const ScaleOptions& opts);

// Refuses `scale redis` in cluster mode on `target` (compose, k8s), whose node counts come from
// [redis] cluster_masters and cluster_replicas there; the local target resizes a running cluster.
void refuse_cluster_redis_scale(const config::Config& cfg, const ScaleOptions& opts, const std::string& target);

// The config key a component's count lives in ("pooler" -> "pgbouncer.replicas").
std::string scale_key(const std::string& component);

} // namespace statectl::targets::detail

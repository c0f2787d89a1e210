#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/secrets/manage.h"
#include "core/stack/endpoints.h"
#include "core/targets/results.h"

namespace statectl::targets {

// What deploy is asked to do on any target.
struct DeployOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(2)}; // for the stack to become healthy
  bool rollback = true;                                        // --no-rollback turns it off
};

// What destroy is asked to do on any target.
struct DestroyOptions {
  bool purge = false;                                          // also delete the data
  std::chrono::milliseconds timeout{std::chrono::seconds(30)}; // per step that waits
};

// What scale changes: postgres (standbys), redis (replicas of the master) or pooler (PgBouncer
// instances), to replicas.
struct ScaleOptions {
  std::string component;
  std::int64_t replicas = 0;                 // -1: not given (a Redis Cluster resized by --masters only)
  std::optional<std::int64_t> masters;       // a Redis Cluster's masters (--masters)
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// `statectl psql` / `statectl redis-cli`: which server, and the client's own arguments.
struct ClientOptions {
  bool direct = false;  // psql: the primary itself instead of the pooler
  bool replica = false; // a standby / Redis replica
  std::string host;     // psql: another server of the cluster (e.g. a restored copy)
  int port = 0;         // psql: its port
  bool tty = false;     // give the client a terminal (stdin and stdout are one)
  std::vector<std::string> args;
};

// The failure `failover test` injects: who holds the writable role and how to kill it.
struct Fault {
  std::string victim;              // member, container or pod
  std::string server;              // "127.0.0.1:PORT" as the probe sees it; empty when unknown
  int port = 0;                    // local: the victim's port
  std::vector<int> pids;           // local: SIGKILL these, in order
  std::vector<std::string> argv;   // containers: the command that kills it
  std::string description;         // what is done, for the report
};

// A planned change of the writable role done by the platform's failover manager.
struct Switched {
  std::string old_primary; // member, pod, container
  std::string new_primary;
  std::int64_t pause_ms = -1; // writes held by statectl (PgBouncer PAUSE -> RESUME); -1: none held
  std::string rejoin;         // how the old primary came back; empty: the platform's manager rejoins it
};

// One deploy target (local processes, Docker Compose, Kubernetes, Terraform-managed cloud
// databases). Everything that differs per target lives behind this interface; commands and the
// rest of core never branch on the target's name. Made by make() below; owns the resources it
// opens for the command's duration (kubectl port-forward children of the k8s target).
class Target {
public:
  virtual ~Target() = default;

  // "local", "compose", "k8s" or "terraform".
  virtual std::string name() const = 0;

  // Validates, renders, applies and verifies the stack (rolling back on a failed verify where
  // the target can). Under --dry-run plans only (Printer::plan) and creates nothing. Throws
  // Error: usage, unavailable (tool missing), external (a tool failed), failed.
  virtual DeployResult deploy(const DeployOptions& opts) = 0;
  // Tears down what deploy made; purge also deletes the data. Nothing deployed is not an error.
  virtual DestroyResult destroy(const DestroyOptions& opts) = 0;
  // Every component with its role and health; probe failures are reported, not thrown.
  virtual StatusResult status() = 0;
  // Changes a count (checked first with check_scale) and records it for render and deploy.
  virtual ScaleResult scale(const ScaleOptions& opts) = 0;
  // Throws Error(usage) before anything runs when the target cannot scale opts.component to
  // opts.replicas.
  virtual void check_scale(const ScaleOptions& opts) const = 0;

  // How statectl reaches the stack from this machine: the pooler, the primary, the standbys, the
  // Redis master and the Sentinels. local: the [local] ports and the recorded state; compose: the
  // loopback ports the applied render publishes; k8s: kubectl port-forward children owned by this
  // object; terraform: `terraform output -json`. Throws Error(usage) when the target has nothing
  // deployed to reach; never returns another target's addresses.
  virtual stack::Endpoints endpoints() = 0;

  // The psql / redis-cli command for the stack (stdio inherited; the password never in argv):
  // local runs the client here against endpoints(); compose and k8s run it inside the stack's
  // containers (`docker compose exec`, `kubectl exec`). Throws Error(usage) when the target has
  // no way to run one.
  virtual exec::Command psql(const ClientOptions& opts) = 0;
  virtual exec::Command redis_cli(const ClientOptions& opts) = 0;

  // The fault for `failover test --backend BACKEND`: who holds the writable role now and how to
  // kill it (nothing is done yet). Throws Error(usage) when the target cannot inject one.
  virtual Fault find_fault(const std::string& backend) = 0;
  // Injects the fault find_fault returned. Under --dry-run only plans it.
  virtual void inject(const Fault& fault) = 0;
  // Whether the target's own failover test heals and measures promotion itself (local), or the
  // platform does (containers: recovery and healing are the orchestrator's).
  virtual bool statectl_heals() const = 0;
  // Whether the platform brings a killed member back by itself, whatever statectl does (k8s: the
  // StatefulSet recreates a deleted pod), which `failover test --no-heal` cannot prevent. false:
  // a killed process or container stays down until healed (local; compose, where restart:
  // unless-stopped does not start a killed container).
  virtual bool platform_restarts_killed() const { return true; }
  // Bare-mode PostgreSQL recovery right after inject(fault) where statectl is the failover
  // manager of a platform that does not recover by itself (compose): promotes the standby that
  // received the most WAL and repoints the poolers; returns its name. nullopt (the default): the
  // platform or the local runbook recovers. Throws Error(failed) when no standby can be promoted.
  virtual std::optional<std::string> promote_after(const Fault& fault)
  {
    (void)fault;
    return std::nullopt;
  }
  // After the measurement: brings the deployed roles back within timeout and returns what was
  // done. Bare compose (after promote_after): the killed primary's container is the primary again,
  // the promoted one its standby. Patroni on compose: the killed member's container is started
  // again and rejoins as a replica. "platform" (the default): the platform heals by itself.
  // Throws Error(failed) naming the step that failed.
  virtual std::string restore_after(const Fault& fault, std::chrono::milliseconds timeout)
  {
    (void)fault;
    (void)timeout;
    return "platform";
  }

  // The ApplyFn of `secrets rotate NAME --apply` on this target's running stack (compose: into
  // the running containers). An empty function (the default) when the target has none of its
  // own: the local stack's applier is used, which refuses the other targets. Throws
  // Error(usage) for a secret the stack does not use.
  virtual secrets::ApplyFn secrets_applier(const secrets::Store& store, const std::string& secret_name)
  {
    (void)store;
    (void)secret_name;
    return {};
  }

  // `secrets tls --apply`, once the new certificate is in the secret store: makes the running
  // stack's servers present it without a restart and verifies that they do; returns the steps
  // done. nullopt (the default): the target has no way of its own, and the local stack's is used
  // (stack::apply_tls_rotation). Throws Error(usage) where the target cannot take a certificate
  // (terraform: the cloud's), Error(failed) when a server does not take it.
  virtual std::optional<std::vector<std::string>> apply_tls_rotation(std::chrono::milliseconds timeout)
  {
    (void)timeout;
    return std::nullopt;
  }

  // `failover switchover` where the platform runs the failover manager (k8s with Patroni: POST
  // /switchover to the leader's REST API through kubectl exec): hands the writable role of
  // backend to `to` (empty: the manager's choice) and waits, up to timeout, until another member
  // holds it. Under --dry-run only plans it. Throws Error(usage) where the target has no such
  // manager (the default; the local target's switchover is statectl's own runbook), Error(failed)
  // when the manager refuses or no new holder appears in time.
  virtual Switched switchover(const std::string& backend, const std::string& to, std::chrono::milliseconds timeout);
  // Asked before a switchover changes anything: throws Error(usage) when switchover() (or, for
  // Redis with Sentinel, redis_servers()) cannot hand over backend's role here, or `to` names no
  // member that could take it. The default refuses every backend (the local target's switchover
  // is statectl's own runbook and does not come here).
  virtual void check_switchover(const std::string& backend, const std::string& to);

  // The Redis servers of the deployed stack by name, each with the loopback port this machine
  // reaches it on (compose: the containers and their published ports). Empty (the default) where
  // the target has none of its own (the local target's members come from its state).
  virtual std::vector<std::pair<std::string, int>> redis_servers() { return {}; }

  // The name a report gives the server a probe write reached ("127.0.0.1:PORT"): compose names a
  // published Redis port's container. The address itself by default.
  virtual std::string server_name(const std::string& server) { return server; }

  // Where a physical backup is taken from (pg_basebackup / BASE_BACKUP): the primary as this
  // machine reaches it. Throws Error(usage) on targets whose databases are backed up by their
  // platform (terraform).
  virtual stack::PgEndpoint backup_source() = 0;
};

// The targets statectl knows, in the order help lists them.
const std::vector<std::string>& names();

// Throws Error(usage) naming the valid targets unless name is one of names().
void check_name(const std::string& name);

// The one factory: the target named by [project] target (which --target sets), for terraform
// with the cloud of [terraform] cloud (which --cloud sets). The objects it uses must outlive it.
std::unique_ptr<Target> make(const config::Config& cfg, exec::Runner& runner, output::Printer& printer);

// Makes stack::resolve(cfg) use the target of the running command (its runner, printer and
// port-forwards) while the binding lives; get() makes or returns that target.
class Binding {
public:
  Binding(const config::Config& cfg, std::function<Target&()> get);
  ~Binding();
  Binding(const Binding&) = delete;
  Binding& operator=(const Binding&) = delete;

private:
  const config::Config* m_cfg;
};

// The endpoints of the target bound to cfg, or of a target made for cfg with a runner of its own
// (kept until the process ends, so k8s port-forwards stay up while the addresses are used).
stack::Endpoints endpoints_of(const config::Config& cfg);

} // namespace statectl::targets

#pragma once

// The k8s target with [postgres] ha = "patroni" (not a public API): the member pods of the
// Patroni StatefulSet (templates/k8s/21-patroni.yaml), the role labels Patroni maintains on them,
// and its REST API reached through `kubectl exec`.

#include <chrono>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/deploy/tools.h"
#include "core/targets/common.h"

namespace statectl::targets::detail::k8s_patroni {

// Whether the k8s render runs PostgreSQL under Patroni ([postgres] ha = "patroni").
bool enabled(const config::Config& cfg);

// The label selector of every member pod of the project.
std::string members_selector(const config::Config& cfg);

// The selector of the leader: the member Patroni labelled role=master.
std::string leader_selector(const config::Config& cfg);

// "statefulset/PROJECT-postgres": the members' workload (what scale changes).
std::string workload(const config::Config& cfg);

// Where `kubectl exec` reaches the read-write member (replica = false) or a read-only one: the
// Services selecting Patroni's role labels.
std::string exec_resource(const config::Config& cfg, bool replica);

// One member pod as Kubernetes and Patroni see it.
struct Member {
  std::string pod;
  std::string role;   // the role label Patroni keeps: "master", "replica" or "" (none yet)
  bool ready = false; // the container's readiness (Patroni's /readiness)
  std::string state;  // Patroni's state from its "status" annotation ("running", "starting", ...)
  std::int64_t timeline = 0;
  std::string image;
};

// The member pods, sorted by name (`kubectl get pods -l members -o json`). Throws
// Error(external) when kubectl fails or prints something else than a pod list.
std::vector<Member> members(Remote& t, const deploy::Kubectl& kubectl);

// The pod names of the current leader (`get pods -l leader -o jsonpath`); empty when none.
// Throws Error(external) when kubectl fails.
std::vector<std::string> leaders(Remote& t, const deploy::Kubectl& kubectl);

// A planned switchover: POST /switchover {"leader": L[, "candidate": to]} to the leader's REST
// API (`kubectl exec L -- curl ...`), asked again while Patroni answers 412 or 503 (no synchronous
// standby named yet), then waits until another pod carries role=master. Under --dry-run plans the
// POST only. Throws Error(usage) for an unknown or leading `to`, Error(failed) when there is not
// exactly one leader, Patroni refuses, or no new leader appears within timeout.
Switched switchover(Remote& t, const deploy::Kubectl& kubectl, const std::string& to, std::chrono::milliseconds timeout);

} // namespace statectl::targets::detail::k8s_patroni

#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/local/stack.h"

namespace statectl::targets {

// The results of deploy, destroy, status and scale on every target. Each is built by the target
// and rendered by the printer: to_json() under -o json (stable snake_case keys), to_text()
// otherwise. Under --dry-run the printer adds "dry_run" and the "plan" steps to the document.

// Terraform's plan summary ("Plan: 3 to add, 1 to change, 0 to destroy.").
struct Changes {
  int add = 0;
  int change = 0;
  int destroy = 0;
};

struct DeployResult {
  std::string target;
  std::string project;
  std::string dir;   // the applied render (compose, k8s, terraform) or the state directory (local)
  std::string cloud; // terraform
  bool dry_run = false;
  bool applied = false;
  bool verified = false;
  bool rolled_back = false;
  std::string compose;                                      // the Compose command used
  std::string secret;                                       // k8s: "kept" or "created"
  std::vector<std::pair<std::string, std::string>> checks;  // verify: check, detail
  std::optional<Changes> changes;                           // terraform
  nlohmann::json outputs = nlohmann::json::object();        // terraform: non-sensitive outputs
  local::DeployResult local;                                // local: what changed, by member
  double seconds = 0;                                       // local
  nlohmann::json to_json() const;
  std::string to_text() const;
};

struct DestroyResult {
  std::string target;
  std::string project;
  std::string dir;
  std::string cloud;
  bool dry_run = false;
  bool destroyed = false; // false: nothing was deployed
  bool purged = false;
  std::string compose;
  std::vector<std::string> deleted; // kinds of things deleted
  std::optional<Changes> changes;   // terraform
  std::vector<std::string> stopped; // local: the members that were running
  nlohmann::json to_json() const;
  std::string to_text() const;
};

// One row of a container / cloud target's status.
struct ComponentRow {
  std::string name;
  std::string kind;
  std::string role;
  std::string ready; // "1/1" (k8s), the container state (compose), "in state" (terraform)
  bool healthy = false;
  std::string version; // the image
  std::string error;
};

struct Standby {
  std::string name;
  std::string state;
  std::int64_t lag_bytes = 0;
};

struct Replication {
  std::int64_t expected = 0;
  std::int64_t streaming = 0;
  std::vector<Standby> standbys;
};

struct StatusResult {
  std::string target;
  std::string project;
  std::string dir;
  std::string cloud;
  bool healthy = false;
  std::vector<ComponentRow> components;
  std::optional<Replication> replication;
  bool has_sentinel = false;                 // sentinel_master is reported
  std::optional<std::string> sentinel_master; // null: Sentinel does not know one
  std::vector<std::string> problems;
  std::optional<nlohmann::json> outputs;      // terraform
  std::optional<local::StackStatus> local;    // the local target's own report
  nlohmann::json to_json() const;
  std::string to_text() const;
};

struct ScaleResult {
  std::string component;
  std::int64_t replicas = 0;             // a Redis Cluster: replicas per master, -1 when kept
  std::optional<std::int64_t> masters; // a Redis Cluster resized with --masters
  std::string target;
  bool dry_run = false;
  bool recorded = false;
  std::string service;  // compose
  std::string workload; // k8s
  std::vector<std::string> created; // local
  std::vector<std::string> removed; // local
  std::optional<DeployResult> apply; // terraform: the re-plan and apply
  nlohmann::json to_json() const;
  std::string to_text() const;
};

} // namespace statectl::targets

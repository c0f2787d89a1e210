#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"

namespace statectl::deploy {

// The drivers of docker compose, kubectl and terraform: they build argv vectors and parse
// output; the Runner executes them (a FakeRunner or the recording fakes of tests/fakes in tests).

// The Compose client: `docker compose` (v2 plugin) or `docker-compose` (v1). With [compose]
// command = "auto", v2 is preferred when `docker compose version` succeeds. Throws
// Error(unavailable) with an install hint when neither is present.
struct Compose {
  std::vector<std::string> base; // {"docker", "compose"} or {"docker-compose"}
  std::string project;
  std::filesystem::path file;

  static Compose detect(const config::Config& cfg, exec::Runner& runner, const std::filesystem::path& file);
  // base + -p PROJECT -f FILE + args.
  std::vector<std::string> argv(const std::vector<std::string>& args) const;
};

// The container ids of the compose project, or of one of its services (`ps -q [SERVICE]`).
// Throws Error(external) when ps fails.
std::vector<std::string> compose_containers(exec::Runner& runner, const Compose& compose, const std::string& service = "");

// The services of the compose file (`config --services`), in its order. Throws Error(external)
// when the command fails.
std::vector<std::string> compose_services(exec::Runner& runner, const Compose& compose);

// `docker inspect --format FORMAT IDS...`: one trimmed, non-empty line per container. Throws
// Error(external) when it fails.
std::vector<std::string> docker_inspect(exec::Runner& runner, const std::vector<std::string>& ids, const std::string& format);

// kubectl [--context C] --namespace N ARGS...; throws Error(unavailable) when kubectl is missing.
struct Kubectl {
  std::vector<std::string> base;
  static Kubectl detect(const config::Config& cfg);
  std::vector<std::string> argv(const std::vector<std::string>& args) const;
};

// Throws Error(unavailable) when terraform is missing.
void require_terraform();

// The environment of every terraform call: TF_IN_AUTOMATION, CHECKPOINT_DISABLE and the
// passwords as TF_VAR_ variables from the secret store (never argv or files), each registered
// for redaction. Missing passwords are generated, except when planning (--dry-run generates
// nothing and plans with a placeholder).
std::map<std::string, std::string> terraform_env(const config::Config& cfg, const std::string& cloud, bool planning);

// Runs cmd; throws Error(external) with `what` and the command's stderr when it fails (a command
// that was only planned under --dry-run counts as success).
exec::Result run_checked(exec::Runner& runner, const exec::Command& cmd, const std::string& what);

// A command with a timeout, optionally mutating.
exec::Command command(std::vector<std::string> argv, bool mutating, std::chrono::milliseconds timeout = std::chrono::minutes(5));

// The last non-empty stderr lines of a failed command, for error messages.
std::string tool_error(const exec::Result& r);

// "Plan: 3 to add, 1 to change, 0 to destroy." -> {3, 1, 0}; "No changes." -> {0, 0, 0}.
struct PlanSummary {
  int add = 0;
  int change = 0;
  int destroy = 0;
  bool parsed = false;
};
PlanSummary parse_plan_summary(const std::string& plan_output);

// Names of the StatefulSets and Deployments in rendered manifests, as "statefulset/NAME" /
// "deployment/NAME", in file order.
std::vector<std::string> workloads(const std::vector<std::pair<std::string, std::string>>& files);

// The fault-injection commands of `failover test` on the container targets: docker kill of a
// container (the engine, not Compose, kills it) / a forced kubectl delete of a pod.
std::vector<std::string> compose_kill_argv(const std::vector<std::string>& compose_base, const std::string& container);
std::vector<std::string> k8s_delete_argv(const std::vector<std::string>& kubectl_base, const std::string& pod);
// The label selector of the pod holding the writable role of a backend in the k8s manifests.
std::string k8s_primary_selector(const std::string& backend);
// The Compose service holding the writable role of a backend.
std::string compose_primary_service(const std::string& backend);

} // namespace statectl::deploy

#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/secrets/store.h"

namespace statectl::secrets {

// The name of the one Kubernetes Secret statectl manages: "<project.name>-secrets". The
// rendered manifests reference exactly this name.
std::string k8s_secret_name(const config::Config& cfg);

// The secrets a push sends: every stack password (all required) and tls.crt, tls.key and
// ca.crt when TLS material exists. ca.key never leaves the store. Throws Error(usage) naming
// `statectl secrets generate` when a stack password is missing.
std::map<std::string, std::string> push_values(const Store& store);

// The Secret manifest, built in memory: one stringData key per secret name (data, base64, for
// a value that is not UTF-8 text), in [k8s] namespace, labelled with the project.
nlohmann::json k8s_secret_manifest(const config::Config& cfg, const std::map<std::string, std::string>& values);

// The kubectl argv of a push: [--context C] --namespace NS apply --server-side ... -f -.
// Server-side apply keeps the values out of the last-applied-configuration annotation.
std::vector<std::string> kubectl_apply_argv(const config::Config& cfg);

// Where `push --target compose` writes the files the rendered compose file references as
// ./secrets/<name>: <state dir>/compose/secrets.
std::filesystem::path compose_secrets_dir(const config::Config& cfg);

// The uid and gid every container of the compose render runs as: the official postgres and
// redis images' users, and the PgBouncer image compose builds from the render.
inline constexpr unsigned k_compose_container_uid = 999;

// Writes one compose secret file atomically. As root: mode 0400 owned by
// k_compose_container_uid, so the containers read it through the bind mount; otherwise 0644
// (the containers' user is not ours). Either way only inside a 0700 directory, which keeps the
// host's other users out.
void write_compose_secret(const std::filesystem::path& path, const std::string& value);

// What a push did (or, under --dry-run, would do).
struct PushResult {
  std::string target;      // k8s, compose, swarm
  std::string destination; // "namespace/name", a directory, or "docker swarm"
  std::vector<std::string> names;
  bool planned = false;
};

// Sends the Secret to the cluster with `kubectl apply -f -`, the manifest on stdin.
PushResult push_k8s(const config::Config& cfg, const Store& store, exec::Runner& runner);

// Writes 0600 files into compose_secrets_dir(), or, when the Docker engine is a Swarm manager,
// creates `<project>_<name>` Docker secrets with `docker secret create NAME -` on stdin
// (replacing existing ones).
PushResult push_compose(const config::Config& cfg, const Store& store, exec::Runner& runner);

} // namespace statectl::secrets

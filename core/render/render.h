#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"

namespace statectl::render {

// The targets render and deploy know besides the local stack.
enum class Target { compose, k8s, terraform };

// "compose" -> Target::compose; throws Error(usage) on anything else.
Target parse_target(const std::string& name);
const char* target_name(Target t);

// The clouds of the terraform target.
const std::vector<std::string>& cloud_names();

// What to render: the target, and for terraform the cloud ([terraform] cloud unless given).
struct Request {
  Target target = Target::compose;
  std::string cloud; // terraform only; empty = [terraform] cloud
};

// The request for target t with terraform's cloud filled in from [terraform] cloud (which
// --cloud sets): the one place the default cloud is chosen. Throws Error(usage) on an unknown cloud.
Request request_for(const config::Config& cfg, Target t);

// One rendered file: its path relative to the output directory and its content.
struct File {
  std::string path;
  std::string content;
  bool executable = false; // shell scripts mounted into containers
};

// The values templates see: every config key as {{section.key}} (URL-type keys, which can hold
// passwords, are left out), plus derived names documented in the README (pg_replicas,
// redis_cluster, secret_name, ...). Throws Error(usage) when a value cannot be used on the target
// (e.g. a project name that is not a DNS label on k8s).
nlohmann::json values(const config::Config& cfg, const Request& req);

// Whether the render of req speaks TLS only: [tls] enabled on k8s (every mode; certificates
// from the Secret's keys ca.crt, tls.crt and tls.key, mounted at /tls) and on compose in bare
// PostgreSQL mode with Sentinel or standalone Redis (the compose secrets of the same names, at
// /run/secrets). Patroni and Redis Cluster on compose, and terraform (which enforces TLS on the
// managed services itself), render no TLS of their own.
bool tls_rendered(const config::Config& cfg, const Request& req);

// Whether the render of req gives Redis the ACL users of the local stack (core/local/redis_acl.h)
// with the default user off: [redis] acl on compose in bare PostgreSQL mode, except with [redis]
// mode = "cluster". Compose with [postgres] ha = "patroni" and the k8s render keep requirepass.
bool acl_rendered(const config::Config& cfg, const Request& req);

// The template directory of a request, relative to a templates root: "compose", "k8s",
// "terraform/aws".
std::string template_dir(const Request& req);

// Renders every template of the request, sorted by path. Deterministic: the same config and
// templates give byte-identical files. Files whose rendering is blank (a template wrapped in a
// section that is off, e.g. the Redis Cluster manifests in sentinel mode) are left out.
std::vector<File> render(const config::Config& cfg, const Request& req);

// The files as one text for stdout: k8s as a multi-document YAML stream (files that are not
// manifests, such as patroni/Dockerfile, as comment lines), other targets as each
// file preceded by a "# ==> PATH <==" marker line.
std::string to_stream(const Request& req, const std::vector<File>& files);

// Writes files into dir atomically: everything goes to a sibling temporary directory which then
// replaces dir in one rename (exchange), so readers see the old tree or the new one. Files that
// are not in `files` but are in keep (relative names such as "secrets") are carried over from
// the old tree. Throws Error(failed) on an I/O error, leaving dir as it was.
void write_tree(const std::filesystem::path& dir, const std::vector<File>& files, const std::vector<std::string>& keep = {});

// `render`: the files rendered for a target, printed (no out) or written into out. JSON holds
// each file's content when printed and its size when written; text is the stream of to_stream,
// or the written paths.
struct RenderResult {
  Request request;
  std::string target; // as named on the command line ("compose", "k8s", "terraform")
  std::vector<File> files;
  std::optional<std::filesystem::path> out;
};

void to_json(nlohmann::json& j, const RenderResult& r);
std::string to_text(const RenderResult& r);

} // namespace statectl::render

#include "core/secrets/push.h"

#include <fmt/format.h>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config/config.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::secrets {

namespace fs = std::filesystem;

std::string k8s_secret_name(const config::Config& cfg) { return cfg.get_string("project.name") + "-secrets"; }

std::map<std::string, std::string> push_values(const Store& store)
{
  std::map<std::string, std::string> values;
  std::vector<std::string> missing;
  for (const auto& name : stack_secret_names()) {
    if (auto v = store.get(name)) values[name] = *v;
    else missing.push_back(name);
  }
  if (!missing.empty())
    throw Error(ExitCode::usage, "cannot push secrets", fmt::format("missing in {}: {}", store.dir().string(), util::join(missing, ", ")),
                "run 'statectl secrets generate' first");
  for (const char* name : {k_tls_cert, k_tls_key, k_ca_cert})
    if (auto v = store.get(name)) values[name] = *v;
  if (values.count(k_tls_cert) != values.count(k_tls_key))
    throw Error(ExitCode::usage, "cannot push secrets", "the store has only one of tls.crt and tls.key", "run 'statectl secrets tls' to issue both");
  return values;
}

static bool valid_utf8(const std::string& s)
{
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

nlohmann::json k8s_secret_manifest(const config::Config& cfg, const std::map<std::string, std::string>& values)
{
  nlohmann::json string_data = nlohmann::json::object();
  nlohmann::json data = nlohmann::json::object();
  for (const auto& [name, value] : values) {
    if (valid_utf8(value)) string_data[name] = value;
    else data[name] = base64_encode(value);
  }
  nlohmann::json doc = {
    {"apiVersion", "v1"},
    {"kind", "Secret"},
    {"type", "Opaque"},
    {"metadata",
     {{"name", k8s_secret_name(cfg)},
      {"namespace", cfg.get_string("k8s.namespace")},
      {"labels", {{"app.kubernetes.io/part-of", cfg.get_string("project.name")}, {"app.kubernetes.io/managed-by", "statectl"}}}}},
  };
  if (!string_data.empty()) doc["stringData"] = string_data;
  if (!data.empty()) doc["data"] = data;
  return doc;
}

std::vector<std::string> kubectl_apply_argv(const config::Config& cfg)
{
  std::vector<std::string> argv = {"kubectl"};
  if (!cfg.get_string("k8s.context").empty()) {
    argv.push_back("--context");
    argv.push_back(cfg.get_string("k8s.context"));
  }
  std::vector<std::string> rest = {"--namespace", cfg.get_string("k8s.namespace"), "apply", "--server-side", "--field-manager=statectl",
                                   "--force-conflicts", "-f", "-"};
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

fs::path compose_secrets_dir(const config::Config& cfg) { return cfg.state_dir() / "compose" / "secrets"; }

void write_compose_secret(const fs::path& path, const std::string& value)
{
  bool root = ::geteuid() == 0;
  if (auto r = util::write_file_atomic(path, value, root ? 0400 : 0644); !r)
    throw Error(ExitCode::failed, fmt::format("cannot write the compose secret file {}", path.string()), r.error());
  if (root && ::chown(path.c_str(), k_compose_container_uid, k_compose_container_uid) != 0)
    throw Error(ExitCode::failed, fmt::format("cannot hand the compose secret file {} to uid {}", path.string(), k_compose_container_uid),
                std::strerror(errno));
}

static std::vector<std::string> keys_of(const std::map<std::string, std::string>& values)
{
  std::vector<std::string> out;
  for (const auto& kv : values) out.push_back(kv.first);
  return out;
}

static std::string tool_error(const exec::Result& r)
{
  if (r.timed_out) return "timed out";
  std::string err = util::trim(exec::redact(r.err));
  return err.empty() ? fmt::format("exit code {}", r.exit_code) : err;
}

PushResult push_k8s(const config::Config& cfg, const Store& store, exec::Runner& runner)
{
  auto values = push_values(store);
  PushResult result{"k8s", cfg.get_string("k8s.namespace") + "/" + k8s_secret_name(cfg), keys_of(values), false};
  exec::Command cmd;
  cmd.argv = kubectl_apply_argv(cfg);
  cmd.stdin_data = k8s_secret_manifest(cfg, values).dump(2) + "\n";
  cmd.mutating = true;
  cmd.timeout = std::chrono::seconds(60);
  exec::Result r = runner.run(cmd);
  if (r.planned) {
    result.planned = true;
    return result;
  }
  if (!r.ok())
    throw Error(ExitCode::external, fmt::format("kubectl apply of secret {} failed", result.destination), tool_error(r),
                fmt::format("check the context and that namespace '{}' exists (kubectl create namespace {})", cfg.get_string("k8s.namespace"),
                            cfg.get_string("k8s.namespace")));
  return result;
}

// Whether the local Docker engine is a Swarm manager; false when docker is absent or fails.
static bool swarm_manager(exec::Runner& runner)
{
  if (!exec::find_program("docker")) return false;
  exec::Command cmd;
  cmd.argv = {"docker", "info", "--format", "{{.Swarm.ControlAvailable}}"};
  cmd.timeout = std::chrono::seconds(15);
  exec::Result r = runner.run(cmd);
  return r.ok() && util::trim(r.out) == "true";
}

PushResult push_compose(const config::Config& cfg, const Store& store, exec::Runner& runner)
{
  auto values = push_values(store);
  bool planning = runner.dry_run() == exec::DryRun::plan;
  if (swarm_manager(runner)) {
    PushResult result{"swarm", "docker swarm", keys_of(values), planning};
    std::string project = cfg.get_string("project.name");
    for (const auto& [name, value] : values) {
      std::string secret = fmt::format("{}_{}", project, name);
      // Docker secrets are immutable: an existing one is removed first (refused while in use).
      exec::Command inspect;
      inspect.argv = {"docker", "secret", "inspect", "--format", "{{.ID}}", secret};
      inspect.timeout = std::chrono::seconds(15);
      if (runner.run(inspect).ok()) {
        exec::Command rm;
        rm.argv = {"docker", "secret", "rm", secret};
        rm.mutating = true;
        rm.timeout = std::chrono::seconds(30);
        exec::Result r = runner.run(rm);
        if (!r.planned && !r.ok())
          throw Error(ExitCode::external, fmt::format("cannot replace docker secret {}", secret), tool_error(r),
                      "docker secrets are immutable; remove the stack's services that use it (docker stack rm) and push again");
      }
      exec::Command create;
      create.argv = {"docker", "secret", "create", "--label", "com.docker.stack.namespace=" + project, secret, "-"};
      create.stdin_data = value;
      create.mutating = true;
      create.timeout = std::chrono::seconds(30);
      exec::Result r = runner.run(create);
      if (!r.planned && !r.ok()) throw Error(ExitCode::external, fmt::format("docker secret create {} failed", secret), tool_error(r));
    }
    return result;
  }

  fs::path dir = compose_secrets_dir(cfg);
  PushResult result{"compose", dir.string(), keys_of(values), planning};
  if (planning) return result;
  for (const auto& [d, mode] : {std::pair{dir.parent_path(), 0755}, std::pair{dir, 0700}}) {
    if (auto r = util::make_dirs(d, static_cast<mode_t>(mode)); !r)
      throw Error(ExitCode::failed, "cannot create the compose secrets directory", r.error());
  }
  ::chmod(dir.c_str(), 0700);
  for (const auto& [name, value] : values) write_compose_secret(dir / name, value);
  return result;
}

} // namespace statectl::secrets

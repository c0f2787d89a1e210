#include "core/deploy/tools.h"

#include <fmt/format.h>
#include <regex>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/store.h"
#include "core/util/strings.h"

namespace statectl::deploy {

namespace fs = std::filesystem;

exec::Command command(std::vector<std::string> argv, bool mutating, std::chrono::milliseconds timeout)
{
  exec::Command c;
  c.argv = std::move(argv);
  c.mutating = mutating;
  c.timeout = timeout;
  return c;
}

std::string tool_error(const exec::Result& r)
{
  if (r.timed_out) return "timed out";
  std::string text = util::trim(r.err.empty() ? r.out : r.err);
  auto lines = util::split(text, '\n');
  if (lines.size() > 8) lines.erase(lines.begin(), lines.end() - 8);
  text = util::join(lines, "\n");
  if (text.empty()) return fmt::format("exit code {}", r.exit_code);
  return fmt::format("exit code {}: {}", r.exit_code, text);
}

exec::Result run_checked(exec::Runner& runner, const exec::Command& cmd, const std::string& what)
{
  exec::Result r = runner.run(cmd);
  if (!r.planned && !r.ok())
    throw Error(ExitCode::external, what, tool_error(r), fmt::format("the command was: {}", exec::display(cmd.argv)));
  return r;
}

Compose Compose::detect(const config::Config& cfg, exec::Runner& runner, const fs::path& file)
{
  Compose c;
  c.project = config::settings(cfg).project.name;
  c.file = file;
  std::string want = config::settings(cfg).compose.command;
  if (want == "auto" || want == "docker compose") {
    if (exec::find_program("docker")) {
      exec::Result r = runner.run(command({"docker", "compose", "version"}, false, std::chrono::seconds(20)));
      if (r.ok()) {
        c.base = {"docker", "compose"};
        return c;
      }
    }
    if (want == "docker compose")
      throw Error(ExitCode::unavailable, "docker compose (v2) is not available", "`docker compose version` failed",
                  "install the docker-compose-plugin package, or set [compose] command = \"auto\"");
  }
  if (exec::find_program("docker-compose")) {
    c.base = {"docker-compose"};
    return c;
  }
  throw Error(ExitCode::unavailable, "no compose client found", "neither `docker compose` (v2) nor `docker-compose` (v1) is on PATH",
              "install Docker with the compose plugin (or the docker-compose package)");
}

std::vector<std::string> Compose::argv(const std::vector<std::string>& args) const
{
  std::vector<std::string> out = base;
  out.insert(out.end(), {"-p", project, "-f", file.string()});
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

Kubectl Kubectl::detect(const config::Config& cfg)
{
  if (!exec::find_program("kubectl"))
    throw Error(ExitCode::unavailable, "kubectl not found on PATH", "",
                "install kubectl (https://kubernetes.io/docs/tasks/tools/) and point it at the cluster, or use --target compose");
  Kubectl k;
  k.base = {"kubectl"};
  if (auto ctx = config::settings(cfg).k8s.context; !ctx.empty()) k.base.insert(k.base.end(), {"--context", ctx});
  k.base.insert(k.base.end(), {"--namespace", config::settings(cfg).k8s.namespace_});
  return k;
}

std::vector<std::string> Kubectl::argv(const std::vector<std::string>& args) const
{
  std::vector<std::string> out = base;
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

std::vector<std::string> compose_containers(exec::Runner& runner, const Compose& compose, const std::string& service)
{
  std::vector<std::string> args = {"ps", "-q"};
  if (!service.empty()) args.push_back(service);
  exec::Result ps = runner.run(command(compose.argv(args), false, std::chrono::seconds(30)));
  if (!ps.ok()) throw Error(ExitCode::external, "docker compose ps failed", tool_error(ps));
  std::vector<std::string> ids;
  for (const auto& line : util::split(ps.out, '\n'))
    if (!util::trim(line).empty()) ids.push_back(util::trim(line));
  return ids;
}

std::vector<std::string> compose_services(exec::Runner& runner, const Compose& compose)
{
  exec::Result r = runner.run(command(compose.argv({"config", "--services"}), false, std::chrono::seconds(30)));
  if (!r.ok()) throw Error(ExitCode::external, "docker compose config --services failed", tool_error(r));
  std::vector<std::string> services;
  for (const auto& line : util::split(r.out, '\n'))
    if (!util::trim(line).empty()) services.push_back(util::trim(line));
  return services;
}

std::vector<std::string> docker_inspect(exec::Runner& runner, const std::vector<std::string>& ids, const std::string& format)
{
  std::vector<std::string> argv = {"docker", "inspect", "--format", format};
  argv.insert(argv.end(), ids.begin(), ids.end());
  exec::Result in = runner.run(command(argv, false, std::chrono::seconds(30)));
  if (!in.ok()) throw Error(ExitCode::external, "docker inspect failed", tool_error(in));
  std::vector<std::string> lines;
  for (const auto& line : util::split(in.out, '\n'))
    if (!util::trim(line).empty()) lines.push_back(util::trim(line));
  return lines;
}

void require_terraform()
{
  if (!exec::find_program("terraform"))
    throw Error(ExitCode::unavailable, "terraform not found on PATH", "",
                "install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)");
}

std::map<std::string, std::string> terraform_env(const config::Config& cfg, const std::string& cloud, bool planning)
{
  std::map<std::string, std::string> env = {{"TF_IN_AUTOMATION", "1"}, {"CHECKPOINT_DISABLE", "1"}};
  secrets::Store store(cfg);
  auto secret = [&](const std::string& name) {
    std::string v = planning ? store.get(name).value_or("dry-run-placeholder-password") : store.ensure(name);
    exec::register_secret(v);
    return v;
  };
  env["TF_VAR_postgres_password"] = secret("postgres");
  if (cloud == "aws") env["TF_VAR_redis_password"] = secret("redis");
  return env;
}

PlanSummary parse_plan_summary(const std::string& out)
{
  PlanSummary s;
  static const std::regex plan_re(R"(Plan: (\d+) to add, (\d+) to change, (\d+) to destroy)");
  std::smatch m;
  if (std::regex_search(out, m, plan_re)) {
    s.add = std::stoi(m[1]);
    s.change = std::stoi(m[2]);
    s.destroy = std::stoi(m[3]);
    s.parsed = true;
  } else if (out.find("No changes.") != std::string::npos) {
    s.parsed = true;
  }
  return s;
}

std::vector<std::string> workloads(const std::vector<std::pair<std::string, std::string>>& files)
{
  std::vector<std::string> out;
  for (const auto& [path, content] : files) {
    std::string kind;
    bool in_metadata = false;
    std::string name;
    auto flush = [&] {
      if ((kind == "StatefulSet" || kind == "Deployment") && !name.empty()) out.push_back(util::to_lower(kind) + "/" + name);
      kind.clear();
      name.clear();
      in_metadata = false;
    };
    for (const auto& line : util::split(content, '\n')) {
      if (line == "---") {
        flush();
        continue;
      }
      if (util::starts_with(line, "kind: ")) kind = util::trim(line.substr(6));
      else if (line == "metadata:") in_metadata = true;
      else if (in_metadata && util::starts_with(line, "  name: ") && name.empty()) name = util::trim(line.substr(8));
      else if (!line.empty() && line[0] != ' ' && line[0] != '#') in_metadata = false;
    }
    flush();
  }
  return out;
}

std::vector<std::string> compose_kill_argv(const std::vector<std::string>& compose_base, const std::string& container)
{
  (void)compose_base; // the kill goes to the engine, not to Compose
  return {"docker", "kill", "--signal", "KILL", container};
}

std::vector<std::string> k8s_delete_argv(const std::vector<std::string>& kubectl_base, const std::string& pod)
{
  std::vector<std::string> argv = kubectl_base;
  argv.insert(argv.end(), {"delete", "pod", pod, "--grace-period=0", "--force", "--wait=false"});
  return argv;
}

std::string k8s_primary_selector(const std::string& backend)
{
  return backend == "redis" ? "app.kubernetes.io/name=redis,app.kubernetes.io/component=master"
                            : "app.kubernetes.io/name=postgres,app.kubernetes.io/component=primary";
}

std::string compose_primary_service(const std::string& backend) { return backend == "redis" ? "redis-master" : "postgres-primary"; }

} // namespace statectl::deploy

#include "core/deploy/clients.h"

#include <fmt/format.h>
#include <system_error>

#include "core/deploy/deploy.h"
#include "core/deploy/tools.h"
#include "core/deploy/verify.h"
#include "core/error.h"

namespace statectl::deploy {

namespace fs = std::filesystem;

namespace {

// Where the command runs: a compose service or a k8s workload, and the secrets folder there.
struct Place {
  std::vector<std::string> prefix; // everything up to the command in the container
  std::string secrets_dir;
};

render::Request request_of(const config::Config& cfg, const std::string& command)
{
  std::string target = cfg.get_string("project.target");
  if (target == "terraform")
    throw Error(ExitCode::usage, fmt::format("statectl {} cannot enter a managed database", command),
                "the terraform target has no container to run the client in",
                "run the client against the endpoint that `statectl status --target terraform` prints");
  return {render::parse_target(target), ""};
}

Place place(const config::Config& cfg, exec::Runner& runner, const render::Request& req, const std::string& service, bool tty)
{
  if (req.target == render::Target::compose) {
    Compose compose = deployed_compose(cfg, runner);
    std::vector<std::string> args = {"exec"};
    if (!tty) args.push_back("-T");
    args.push_back(service);
    return {compose.argv(args), "/run/secrets"};
  }
  Kubectl kubectl = Kubectl::detect(cfg);
  std::vector<std::string> args = {"exec", tty ? "-it" : "-i", fmt::format("statefulset/{}-{}", cfg.get_string("project.name"), service), "--"};
  return {kubectl.argv(args), "/secrets"};
}

exec::Command client(std::vector<std::string> argv)
{
  exec::Command c;
  c.argv = std::move(argv);
  c.io = exec::Io::inherit;
  c.mutating = true; // the client may change anything: --dry-run shows it instead
  return c;
}

} // namespace

exec::Command psql_exec(const config::Config& cfg, exec::Runner& runner, bool replica, const std::vector<std::string>& args, bool tty)
{
  render::Request req = request_of(cfg, "psql");
  Place p = place(cfg, runner, req, replica ? "postgres-replica" : "postgres-primary", tty);
  std::vector<std::string> argv = p.prefix;
  argv.insert(argv.end(), {"psql", "-U", cfg.get_string("postgres.superuser"), "-d", cfg.get_string("postgres.database")});
  argv.insert(argv.end(), args.begin(), args.end());
  return client(argv);
}

exec::Command redis_cli_exec(const config::Config& cfg, exec::Runner& runner, bool replica, const std::vector<std::string>& args, bool tty)
{
  render::Request req = request_of(cfg, "redis-cli");
  std::string mode = expectations(cfg, req).redis_mode;
  std::string service = mode == "cluster" ? "redis-cluster" : replica && mode == "sentinel" ? "redis-replica" : mode == "sentinel" ? "redis-sentinel" : "redis-master";
  if (replica && mode == "standalone") throw Error(ExitCode::usage, "redis.mode 'standalone' has no replica");
  Place p = place(cfg, runner, req, service, tty);
  std::string auth = fmt::format("REDISCLI_AUTH=\"$(cat {}/redis)\"", p.secrets_dir);
  // The script gets the master name (or a placeholder) as $0 and the user's arguments as "$@".
  std::string script, zero = "redis-cli";
  if (service == "redis-sentinel") {
    script = "m=$(redis-cli -p 26379 sentinel get-master-addr-by-name \"$0\" | head -n 1) && [ -n \"$m\" ] && " + auth + " exec redis-cli -h \"$m\" \"$@\"";
    zero = cfg.get_string("redis.master_name");
  } else {
    script = auth + std::string(" exec redis-cli ") + (mode == "cluster" ? "-c " : "") + "\"$@\"";
  }
  std::vector<std::string> argv = p.prefix;
  argv.insert(argv.end(), {"sh", "-c", script, zero});
  argv.insert(argv.end(), args.begin(), args.end());
  return client(argv);
}

} // namespace statectl::deploy

#include "core/deploy/verify.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::deploy {

using nlohmann::json;

namespace {

// The write every verify makes: a row in a small table the state backend never reads.
const char* k_write_check =
  "CREATE TABLE IF NOT EXISTS statectl_deploy_check (id int PRIMARY KEY, at timestamptz NOT NULL); "
  "INSERT INTO statectl_deploy_check VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at";
const char* k_streaming_query = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'";

// Runs the checks with `exec_prefix(container) + command`.
template <typename Prefix>
json verify(const config::Config& cfg, exec::Runner& runner, const Expect& e, Prefix prefix, const std::string& primary,
            const std::string& sentinel, const std::string& cluster_node, const std::string& secrets_dir,
            std::chrono::milliseconds streaming_wait = std::chrono::milliseconds(0))
{
  json checks = json::object();
  auto exec_in = [&](const std::string& where, std::vector<std::string> cmd, bool mutating, const std::string& what) {
    std::vector<std::string> argv = prefix(where);
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    exec::Result r = runner.run(command(argv, mutating, std::chrono::seconds(60)));
    if (!r.ok()) throw Error(ExitCode::failed, fmt::format("verify failed: {}", what), tool_error(r));
    return util::trim(r.out);
  };
  std::string su = config::settings(cfg).postgres.superuser;
  std::string db = config::settings(cfg).postgres.database;
  exec_in(primary, {"psql", "-U", su, "-d", db, "-v", "ON_ERROR_STOP=1", "-qc", k_write_check}, true,
          "the PostgreSQL primary does not accept a write");
  checks["postgres_write"] = "ok";

  std::string streaming = exec_in(primary, {"psql", "-U", su, "-d", db, "-tAc", k_streaming_query}, false,
                                  "cannot read pg_stat_replication on the primary");
  // Patroni's members are ready once PostgreSQL runs, a moment before a new replica streams.
  auto streaming_deadline = std::chrono::steady_clock::now() + streaming_wait;
  while (streaming != std::to_string(e.pg_replicas) && std::chrono::steady_clock::now() < streaming_deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    streaming = exec_in(primary, {"psql", "-U", su, "-d", db, "-tAc", k_streaming_query}, false, "cannot read pg_stat_replication on the primary");
  }
  if (streaming != std::to_string(e.pg_replicas))
    throw Error(ExitCode::failed, "verify failed: replication is not streaming",
                fmt::format("{} of {} standbys stream from the primary", streaming.empty() ? "0" : streaming, e.pg_replicas));
  checks["postgres_streaming"] = fmt::format("{}/{}", streaming, e.pg_replicas);

  if (e.redis_mode == "sentinel") {
    std::vector<std::string> ask = e.redis_cli;
    ask.insert(ask.end(), {"-p", "26379", "sentinel", "get-master-addr-by-name", e.master_name});
    std::string addr = exec_in(sentinel, ask, false, "cannot ask Sentinel for the master");
    if (addr.empty() || addr.find("nil") != std::string::npos)
      throw Error(ExitCode::failed, "verify failed: Sentinel does not know the master",
                  fmt::format("sentinel get-master-addr-by-name {} returned nothing", e.master_name));
    checks["sentinel_master"] = util::join(util::split(addr, '\n'), ":");
  } else if (e.redis_mode == "cluster") {
    std::string info = exec_in(cluster_node, {"sh", "-c", fmt::format("REDISCLI_AUTH=\"$(cat {}/redis)\" redis-cli cluster info", secrets_dir)}, false,
                               "cannot read cluster info");
    if (info.find("cluster_state:ok") == std::string::npos)
      throw Error(ExitCode::failed, "verify failed: the Redis Cluster is not formed", "cluster_state is not ok");
    checks["redis_cluster"] = "ok";
  }
  return checks;
}

} // namespace

Expect expectations(const config::Config& cfg, const render::Request& req)
{
  json v = render::values(cfg, req);
  Expect e;
  e.pg_replicas = std::stoll(v["pg_replicas"].get<std::string>());
  e.redis_mode = v["redis_cluster"].get<bool>() ? "cluster" : v["redis_sentinel"].get<bool>() ? "sentinel" : "standalone";
  e.master_name = config::settings(cfg).redis.master_name;
  e.redis_cli = util::split(v["redis_cli"].get<std::string>(), ' ');
  return e;
}

void wait_compose_healthy(exec::Runner& runner, const Compose& compose, std::chrono::milliseconds timeout, const std::string& service)
{
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (true) {
    std::vector<std::string> ids = compose_containers(runner, compose, service);
    std::vector<std::string> waiting;
    if (ids.empty()) {
      waiting.push_back("no containers");
    } else {
      for (const auto& line : docker_inspect(runner, ids, "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}")) {
        auto fields = util::split(line, ' ');
        if (fields.size() < 2) continue;
        std::string name = fields[0].substr(fields[0].rfind('/') == std::string::npos ? 0 : fields[0].rfind('/') + 1);
        const std::string& state = fields[1];
        if (state == "exited" || state == "dead")
          throw Error(ExitCode::failed, fmt::format("container {} {}", name, state), "it stopped during the deploy",
                      fmt::format("see its log with: docker logs {}", name));
        if (state != "healthy" && state != "running") waiting.push_back(name + " " + state);
      }
    }
    if (waiting.empty()) return;
    last = util::join(waiting, ", ");
    if (std::chrono::steady_clock::now() >= deadline)
      throw Error(ExitCode::failed, fmt::format("the stack was not healthy within {}", util::format_duration(timeout)), last,
                  "raise --timeout, or look at `docker compose ps` and the containers' logs");
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
}

json verify_compose(const config::Config& cfg, exec::Runner& runner, const Compose& compose, const render::Request& req,
                    const std::string& primary)
{
  auto prefix = [&](const std::string& service) { return compose.argv({"exec", "-T", service}); };
  const bool patroni = config::settings(cfg).postgres.ha == "patroni";
  return verify(cfg, runner, expectations(cfg, req), prefix, primary, "redis-sentinel", "redis-node-0", "/run/secrets",
                patroni ? std::chrono::seconds(60) : std::chrono::seconds(0));
}

json verify_k8s(const config::Config& cfg, exec::Runner& runner, const Kubectl& kubectl, const render::Request& req)
{
  std::string name = config::settings(cfg).project.name;
  auto prefix = [&](const std::string& workload) { return kubectl.argv({"exec", workload, "--"}); };
  // Patroni: the read-write Service selects the leader (kubectl exec takes its first pod).
  const bool patroni = config::settings(cfg).postgres.ha == "patroni";
  std::string primary = patroni ? fmt::format("svc/{}-postgres-primary", name) : fmt::format("statefulset/{}-postgres-primary", name);
  return verify(cfg, runner, expectations(cfg, req), prefix, primary, fmt::format("statefulset/{}-redis-sentinel", name),
                fmt::format("statefulset/{}-redis-cluster", name), "/secrets", patroni ? std::chrono::seconds(60) : std::chrono::seconds(0));
}

} // namespace statectl::deploy

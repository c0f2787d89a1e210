// The compose target: a Docker Compose project from the rendered docker-compose.yml.
#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>
#include <system_error>

#include <set>

#include "core/deploy/compose_init.h"
#include "core/config/config.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/local/redis_acl.h"
#include "core/secrets/push.h"
#include "core/render/recorded.h"
#include "core/secrets/store.h"
#include "core/stack/clients.h"
#include "core/targets/common.h"
#include "core/targets/compose_endpoints.h"
#include "core/targets/compose_failover.h"
#include "core/targets/compose_cluster.h"
#include "core/targets/compose_patroni.h"
#include "core/targets/compose_redis.h"
#include "core/targets/compose_roles.h"
#include "core/targets/compose_secrets.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

// The WAL spool the containers' archive_command writes into: <state dir>/wal-spool, the path of
// backup::wal_spool_dir() (which every backup command imports from; not included here, targets
// sit below backup) and of the render's {{wal_spool}}. The containers' uid owns it, 0700. It
// must exist before `up`, or the engine would create it as root and archiving would fail.
void make_wal_spool(const config::Config& cfg)
{
  fs::path spool = cfg.state_dir() / "wal-spool";
  if (auto r = util::make_dirs(spool, 0700); !r) throw Error(ExitCode::failed, "cannot create the WAL spool directory", r.error());
  ::chmod(spool.c_str(), 0700);
  if (::geteuid() == 0 && ::chown(spool.c_str(), secrets::k_compose_container_uid, secrets::k_compose_container_uid) != 0)
    throw Error(ExitCode::failed, fmt::format("cannot hand the WAL spool {} to uid {}", spool.string(), secrets::k_compose_container_uid),
                std::strerror(errno));
}

class ComposeTarget final : public Target, private Remote {
public:
  ComposeTarget(const config::Config& c, exec::Runner& r, output::Printer& p) : Remote(c, r, p, render::Target::compose) {}

  std::string name() const override { return "compose"; }

  // The compose client for the applied render; throws Error(failed) when nothing was deployed.
  deploy::Compose deployed() const
  {
    fs::path file = dir / "docker-compose.yml";
    std::error_code ec;
    if (!fs::exists(file, ec))
      throw Error(ExitCode::failed, fmt::format("no compose deploy in {}", dir.string()), "", "run `statectl deploy --target compose` first");
    compose_client_tls(cfg, dir); // the stack runs the config's TLS and ACL modes, or the error says how to go on
    compose_redis_acl(cfg, dir);
    return deploy::Compose::detect(cfg, runner, file);
  }

  DeployResult deploy(const DeployOptions& opts) override
  {
    compose_roles::refuse_while_switched(cfg, "deploy", "it sets up the roles and passwords on postgres-primary, which is a standby now");
    RenderRun run(*this, opts);
    run.files = render::render(cfg, req); // validates the config before anything runs
    // The secret files are handed to uid 999 only when statectl runs as root (secrets push);
    // otherwise tls.key would be the caller's and world-readable, and PostgreSQL refuses such a
    // key: fail before anything runs rather than deploy a primary that cannot start.
    if (render::tls_rendered(cfg, req) && ::geteuid() != 0)
      throw Error(ExitCode::usage, "the compose render speaks TLS only, which needs deploy to run as root",
                  "PostgreSQL reads /run/secrets/tls.key only when it is 0400 and owned by the server's uid 999, which only root can arrange",
                  "run `statectl deploy --target compose` as root, or set [tls] enabled = false for compose");
    fs::path file = dir / "docker-compose.yml";
    deploy::Compose compose = deploy::Compose::detect(cfg, runner, file);
    run.result.compose = util::join(compose.base, " ");
    auto up = [&] {
      deploy::run_checked(runner, deploy::command(compose.argv({"up", "-d", "--remove-orphans"}), true, opts.timeout + minutes(5)),
                          "docker compose up failed");
    };
    if (planning()) {
      printer.plan(fmt::format("render {} files into {} (the applied render is kept as {})", run.files.size(), dir.string(), run.prev.string()));
      printer.plan(fmt::format("write the secret files {}{}", (dir / "secrets").string(),
                               render::tls_rendered(cfg, req) ? " (with ca.crt, tls.crt and tls.key, issued into the secret store when it has none)" : ""));
      runner.run(deploy::command(compose.argv({"config", "-q"}), true));
      up();
      printer.plan(patroni() ? "once a Patroni member leads, set up its roles and passwords (SCRAM verifiers)"
                             : "once postgres-primary is healthy, set up its roles, passwords (SCRAM verifiers) and synchronous_standby_names");
      runner.run(deploy::command(compose.argv({"exec", "-T", patroni() ? "<patroni leader>" : "postgres-primary", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U",
                                               cfg.get_string("postgres.superuser"), "-d", "postgres"}),
                                 true));
      printer.plan(fmt::format("wait up to {} for every container to be healthy, then verify", util::format_duration(opts.timeout)));
      if (compose_cluster::enabled(cfg)) compose_cluster::form(*this, compose, opts.timeout);
      return run.result;
    }
    run.install_render();
    write_compose_secrets(cfg, req, dir, printer);
    make_wal_spool(cfg);
    printer.info(fmt::format("rendered {} files into {}", run.files.size(), dir.string()));
    try {
      deploy::run_checked(runner, deploy::command(compose.argv({"config", "-q"}), false, seconds(60)), "the rendered compose file is invalid");
    } catch (const Error&) {
      // Nothing was applied yet: put the previous render back without touching the stack.
      if (run.has_previous()) run.restore_previous();
      throw;
    }
    try {
      up();
      run.result.applied = true;
      run.mark_applied();
      std::string primary = init_primary(compose, opts.timeout);
      printer.info("waiting for the containers to become healthy");
      deploy::wait_compose_healthy(runner, compose, opts.timeout);
      if (compose_cluster::enabled(cfg)) compose_cluster::form(*this, compose, opts.timeout);
      printer.info("verifying the stack");
      nlohmann::json checks = deploy::verify_compose(cfg, runner, compose, req, primary);
      for (const auto& [k, v] : checks.items()) run.result.checks.emplace_back(k, v.get<std::string>());
      run.result.verified = true;
    } catch (const Error& e) {
      run.fail_with_rollback(e, [&] {
        up();
        init_primary(compose, opts.timeout);
        deploy::wait_compose_healthy(runner, compose, opts.timeout);
        if (compose_cluster::enabled(cfg)) compose_cluster::form(*this, compose, opts.timeout);
      });
    }
    return run.result;
  }

  DestroyResult destroy(const DestroyOptions& opts) override
  {
    DestroyResult res = destroy_result();
    fs::path file = dir / "docker-compose.yml";
    std::error_code ec;
    if (!fs::exists(file, ec)) return nothing_to_destroy(res, "compose render");
    // The primary's data lives in a postgres-replica container's anonymous volume, which only
    // --purge may take; postgres-primary's kept volume would come back as a standby of nothing.
    if (!opts.purge)
      compose_roles::refuse_while_switched(cfg, "destroy without --purge",
                                           "the primary's data is in a postgres-replica container's volume, which destroy removes");
    deploy::Compose compose = deploy::Compose::detect(cfg, runner, file);
    res.compose = util::join(compose.base, " ");
    std::string secs = std::to_string(std::max<long long>(1, opts.timeout.count() / 1000));
    auto tool_timeout = opts.timeout + minutes(2);
    std::string what = opts.purge ? "stop and remove the containers, networks and every volume (the data)"
                                  : "stop and remove the containers with their anonymous volumes, and the networks; the named volumes (the "
                                    "data) are kept";
    if (planning()) printer.plan(what);
    else printer.info(what);
    if (!opts.purge) {
      // `down` alone would leave the anonymous volumes (the standbys' full copies) behind, and
      // `down --volumes` would take the named ones (the data) too: remove the containers with
      // their anonymous volumes first.
      deploy::run_checked(runner, deploy::command(compose.argv({"stop", "--timeout", secs}), true, tool_timeout), "docker compose stop failed");
      deploy::run_checked(runner, deploy::command(compose.argv({"rm", "--force", "-v"}), true, tool_timeout), "docker compose rm failed");
    }
    std::vector<std::string> args = {"down", "--remove-orphans", "--timeout", secs};
    if (opts.purge) args.push_back("--volumes");
    deploy::run_checked(runner, deploy::command(compose.argv(args), true, tool_timeout), "docker compose down failed");
    if (planning()) {
      if (opts.purge) printer.plan(fmt::format("remove the render {}", dir.string()));
      return res;
    }
    res.deleted = {"containers", "networks", "anonymous volumes"};
    if (opts.purge) res.deleted.push_back("volumes");
    if (opts.purge) compose_roles::forget(cfg);
    return forget_render(res, opts.purge);
  }

  StatusResult status() override
  {
    deploy::Compose compose = deployed();
    std::vector<std::string> ids = deploy::compose_containers(runner, compose);
    std::vector<ComponentRow> components;
    bool primary_up = false;
    bool sentinel_up = false;
    std::set<std::string> with_container;
    std::vector<std::string> services; // of each row
    // After a switchover the primary is the recorded container, whichever service it belongs to.
    std::string recorded = patroni() ? "" : compose_roles::recorded_primary(cfg);
    if (!ids.empty()) {
      for (const auto& line : deploy::docker_inspect(runner, ids,
                                                     "{{index .Config.Labels \"com.docker.compose.service\"}}|{{.Name}}|{{.State.Status}}|"
                                                     "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.Config.Image}}")) {
        auto f = util::split(util::trim(line), '|');
        if (f.size() < 5) continue;
        ComponentRow c;
        c.name = f[1].substr(f[1].rfind('/') == std::string::npos ? 0 : f[1].rfind('/') + 1);
        std::tie(c.kind, c.role) = compose_kind(f[0]);
        if (!recorded.empty() && c.kind == "postgres") c.role = c.name == recorded ? "primary" : "replica";
        c.ready = f[3] == "none" ? f[2] : f[3];
        c.healthy = f[2] == "running" && (f[3] == "healthy" || f[3] == "none");
        if (!c.healthy) c.error = f[2] != "running" ? fmt::format("container is {}", f[2]) : fmt::format("health check says {}", f[3]);
        c.version = image_tag(f[4]);
        if ((recorded.empty() ? f[0] == "postgres-primary" : c.name == recorded) && c.healthy) primary_up = true;
        if (f[0] == "redis-sentinel" && c.healthy) sentinel_up = true;
        with_container.insert(f[0]);
        services.push_back(f[0]);
        components.push_back(c);
      }
    }
    // A service of the render without any container (removed by hand, or never created) is a
    // component too: it is missing, not absent from the report.
    for (const auto& service : deploy::compose_services(runner, compose)) {
      if (with_container.count(service)) continue;
      ComponentRow c;
      c.name = service;
      std::tie(c.kind, c.role) = compose_kind(service);
      c.ready = "missing";
      c.error = "no container";
      services.push_back(service);
      components.push_back(c);
    }
    bool redis_rows = std::find(services.begin(), services.end(), "redis-master") != services.end() ||
                      std::find(services.begin(), services.end(), "redis-replica") != services.end();
    if (redis_rows && !compose_cluster::enabled(cfg)) {
      // The Redis servers' roles as they report them (after a Sentinel failover redis-replica's
      // container is the master), not their services'.
      std::map<std::string, std::string> live;
      try {
        live = compose_redis::roles(runner, compose, endpoints(), secrets::Store(cfg).get("redis").value_or(""));
      } catch (const Error&) {
        // Nothing applied to reach, or the engine does not answer: every server is "unknown".
      }
      compose_redis::annotate(live, services, components);
    }
    std::string primary = !primary_up ? "" : recorded.empty() ? "postgres-primary" : recorded;
    if (patroni()) primary = compose_patroni::annotate(compose_patroni::members(*this, compose), services, components);
    std::vector<std::string> cluster_problems;
    if (compose_cluster::enabled(cfg)) cluster_problems = compose_cluster::annotate(*this, compose, services, components);
    auto prefix = [&](const std::string& where) {
      // The recorded primary is a container (of a scaled service): the engine's exec reaches it.
      if (!recorded.empty() && where == recorded) return std::vector<std::string>{"docker", "exec", where};
      return compose.argv({"exec", "-T", where});
    };
    StatusResult s = container_status(*this, components, prefix, primary, sentinel_up ? "redis-sentinel" : "");
    s.problems.insert(s.problems.end(), cluster_problems.begin(), cluster_problems.end());
    s.healthy = s.healthy && cluster_problems.empty();
    return s;
  }

  void check_scale(const ScaleOptions& opts) const override
  {
    check_scale_common(cfg, opts);
    refuse_cluster_redis_scale(cfg, opts, "compose");
    if (opts.component == "postgres" && !patroni())
      compose_roles::refuse_while_switched(cfg, "scale postgres",
                                           "compose removes the highest-numbered postgres-replica containers, which may hold the primary");
  }

  ScaleResult scale(const ScaleOptions& opts) override
  {
    check_scale(opts);
    ScaleResult res{opts.component, opts.replicas, std::nullopt, "compose", planning(), !planning()};
    fs::path file = dir / "docker-compose.yml";
    std::error_code ec;
    if (!fs::exists(file, ec))
      throw Error(ExitCode::usage, "nothing deployed on compose", fmt::format("{} does not exist", file.string()),
                  "run `statectl deploy --target compose` first");
    static const std::map<std::string, std::string> services = {
      {"postgres", "postgres-replica"}, {"redis", "redis-replica"}, {"pooler", "pgbouncer"}};
    res.service = services.at(opts.component);
    compose_client_tls(cfg, dir); // new containers get the config's TLS and ACL modes: they must be the running ones
    compose_redis_acl(cfg, dir);
    deploy::Compose compose = deploy::Compose::detect(cfg, runner, file);
    if (opts.component == "postgres" && patroni()) {
      // Patroni's members are services of their own: add or remove patroni-K services.
      res.service = fmt::format("patroni-1..patroni-{}", opts.replicas + 1);
      compose_patroni::scale(*this, compose, opts.replicas + 1, opts.timeout, [&] {
        render::record_count(cfg, "compose", scale_key(opts.component), opts.replicas);
        render::write_tree(dir, render::render(cfg, req), {"secrets", ".applied"});
      });
      return res;
    }
    if (!planning()) {
      // Re-render with the new count first, so the file has the service and deploy.replicas
      // agrees with --scale (and host port ranges cover every pooler).
      render::record_count(cfg, "compose", scale_key(opts.component), opts.replicas);
      render::write_tree(dir, render::render(cfg, req), {"secrets", ".applied"});
      if (!patroni()) compose_roles::keep_pooler_host(cfg, dir);
    } else {
      printer.plan(fmt::format("record {} = {} for compose and re-render {}", scale_key(opts.component), opts.replicas, dir.string()));
    }
    // Compose removes the highest-numbered containers on a scale-down but leaves their anonymous
    // volumes (a standby's full copy): note them first, remove them after.
    std::vector<std::string> orphans;
    if (!planning()) orphans = volumes_beyond(runner, compose, res.service, opts.replicas);
    deploy::run_checked(runner,
                        deploy::command(compose.argv({"up", "-d", "--no-recreate", "--scale", fmt::format("{}={}", res.service, opts.replicas)}),
                                        true, opts.timeout + minutes(5)),
                        "docker compose up --scale failed");
    if (!orphans.empty()) {
      std::vector<std::string> argv = {"docker", "volume", "rm"};
      argv.insert(argv.end(), orphans.begin(), orphans.end());
      exec::Result r = runner.run(deploy::command(argv, true, seconds(60)));
      if (!r.ok())
        printer.warn(fmt::format("cannot remove the volumes of the removed containers ({}): {}", util::join(orphans, " "), deploy::tool_error(r)));
    }
    if (!planning()) {
      printer.info("waiting for the containers to become healthy");
      deploy::wait_compose_healthy(runner, compose, opts.timeout);
    }
    return res;
  }

  stack::Endpoints endpoints() override
  {
    if (!applied(dir))
      throw Error(ExitCode::usage, "the compose target has no stack to reach", fmt::format("{} holds no applied compose render", dir.string()),
                  "run `statectl deploy --target compose`, or pass the --target the stack runs on");
    auto text = util::read_file(dir / "docker-compose.yml");
    if (!text) throw Error(ExitCode::failed, "cannot read the applied compose render", text.error());
    auto ports = published_ports(*text);
    auto port_of = [&](const std::string& service) {
      auto it = ports.find(service);
      if (it == ports.end())
        throw Error(ExitCode::usage, fmt::format("the applied compose render publishes no port for {}", service), dir.string(),
                    "deploy again with `statectl deploy --target compose`: renders publish PostgreSQL, PgBouncer, Redis and the "
                    "Sentinels on 127.0.0.1");
      return it->second;
    };
    stack::Endpoints e = base_endpoints(cfg);
    // TLS renders: verify-full on the published ports (127.0.0.1 is a name of the certificate),
    // Redis and the Sentinels pinned to the CA, as on the local stack.
    e.pooler.tls = e.primary.tls = e.redis_tls = compose_client_tls(cfg, dir);
    if (compose_redis_acl(cfg, dir)) {
      // As on the local stack: operations log in as the admin, the state commands as the app user.
      e.redis_user = local::redis_acl::k_admin_user;
      e.redis_app_user = local::redis_acl::k_app_user;
      e.redis_app_password_secret = local::redis_acl::k_app_secret;
    }
    e.pooler.port = port_of("pgbouncer");
    if (patroni()) {
      // HAProxy's read-write port, and its read-only port (+1) for the replicas.
      e.primary.port = port_of("haproxy-1");
      stack::PgEndpoint ro = e.primary;
      ro.port = e.primary.port + 1;
      e.replicas.push_back(ro);
    } else {
      e.primary.port = port_of("postgres-primary");
    }
    if (compose_cluster::enabled(cfg)) {
      // Every node is a seed of the slot map; a node's announced name maps to its port.
      auto services = compose_cluster::node_services(cfg);
      for (const auto& s : services) e.redis_cluster.push_back({"127.0.0.1", port_of(s)});
      e.redis.port = e.redis_cluster.front().port;
      e.redis_nat = [nat = compose_cluster::address_map(services, ports)] { return nat; };
      return e;
    }
    e.redis.port = port_of("redis-master");
    if (cfg.get_string("redis.mode") == "sentinel") {
      int first = port_of("redis-sentinel");
      for (std::int64_t i = 0; i < cfg.get_int("redis.sentinels"); ++i) e.sentinels.push_back({"127.0.0.1", first + static_cast<int>(i)});
      e.redis_nat = [&cfg = cfg, &runner = runner, file = dir / "docker-compose.yml", master = e.redis.port] {
        return redis_nat(cfg, runner, file, master);
      };
    }
    return e;
  }

  exec::Command psql(const ClientOptions& o) override
  {
    if (!cfg.get_string("postgres.url").empty() || !o.host.empty() || o.port != 0)
      return stack::psql_command(cfg, {o.direct, o.replica, o.host, o.port}, o.args);
    std::string recorded = patroni() ? "" : compose_roles::recorded_primary(cfg);
    std::vector<std::string> argv;
    if (recorded.empty()) {
      argv = exec_prefix(postgres_service(o.replica), o.tty);
    } else {
      // After a switchover: the recorded primary, or postgres-primary's container, its standby now.
      std::string where = recorded;
      if (o.replica) {
        auto ps = service_containers(runner, deployed().project, "postgres-primary");
        if (ps.empty() || !ps[0].running) throw Error(ExitCode::failed, "postgres-primary, a standby since the switchover, is not running");
        where = ps[0].name;
      }
      argv = {"docker", "exec", "-i"};
      if (o.tty) argv.push_back("-t");
      argv.push_back(where);
    }
    argv.insert(argv.end(), {"psql", "-U", cfg.get_string("postgres.superuser"), "-d", cfg.get_string("postgres.database")});
    argv.insert(argv.end(), o.args.begin(), o.args.end());
    return client_command(argv);
  }

  exec::Command redis_cli(const ClientOptions& o) override
  {
    if (!cfg.get_string("redis.url").empty()) return stack::redis_cli_command(cfg, o.replica, o.args);
    // A cluster's redis-cli -c starts at redis-node-0 and follows the redirects.
    return redis_cli_in(cfg, req, o, [&](const std::string& service) { return exec_prefix(service == "redis-cluster" ? "redis-node-0" : service, o.tty); },
                        "/run/secrets");
  }

  Fault find_fault(const std::string& backend) override
  {
    // The project's containers are asked directly: an empty answer says nothing runs.
    deploy::Compose compose = deploy::Compose::detect(cfg, runner, dir / "docker-compose.yml");
    Fault f;
    if (backend == "postgres" && patroni()) {
      // The container of the member Patroni names leader (asked before the fault, not timed), once
      // a standby Patroni may promote streams from it: a fault before that measures no failover.
      f.victim = planning() ? "<patroni leader>" : compose_patroni::wait_failover_ready(*this, compose, 120s).container;
      m_patroni_victim = f.victim;
      f.argv = deploy::compose_kill_argv(compose.base, f.victim);
      f.description = exec::display(f.argv);
      return f;
    }
    if (backend == "redis" && cfg.get_string("redis.mode") == "sentinel" && cfg.get_string("redis.url").empty() && !planning()) {
      // The master's container as the Sentinels name it now (after a trial, a former replica).
      compose_redis::Server m = compose_redis::master(runner, compose, endpoints());
      f.victim = m_redis_victim = m.name;
      f.server = fmt::format("127.0.0.1:{}", m.published);
      f.argv = deploy::compose_kill_argv(compose.base, f.victim);
      // A lost master, not a restart: the engine counts a killed container as stopped by hand,
      // so `restart: unless-stopped` leaves it down until the heal starts it.
      f.description = exec::display(f.argv) + " (the container stays down: restart: unless-stopped does not start a killed container)";
      return f;
    }
    std::string service = deploy::compose_primary_service(backend);
    auto r = deploy::run_checked(runner, deploy::command(compose.argv({"ps", "-q", service}), false, 30s), "finding the " + service + " container");
    auto lines = util::split(r.out, '\n');
    f.victim = lines.empty() ? "" : util::trim(lines[0]);
    if (f.victim.empty() && !r.planned)
      throw Error(ExitCode::failed, fmt::format("no running {} container in Compose project {}", service, compose.project), "",
                  "run 'statectl deploy --target compose' first");
    if (f.victim.empty()) f.victim = "<" + service + ">";
    if (bare_postgres(backend) && !r.planned) f.victim = postgres(compose).ready_primary().name;
    f.argv = deploy::compose_kill_argv(compose.base, f.victim);
    f.description = exec::display(f.argv);
    return f;
  }

  void inject(const Fault& f) override { deploy::run_checked(runner, deploy::command(f.argv, true, 60s), "injecting the fault"); }

  bool statectl_heals() const override { return false; }

  // A killed container stays down: the engine counts it as stopped by hand.
  bool platform_restarts_killed() const override { return false; }

  // In bare mode nothing in a compose project promotes a standby: statectl does, through the
  // engine, and puts the deployed roles back afterwards.
  std::optional<std::string> promote_after(const Fault& f) override
  {
    if (!bare_postgres("postgres") || planning()) return std::nullopt;
    return postgres(deployed()).promote_after_kill(f.victim);
  }

  std::optional<std::vector<std::string>> apply_tls_rotation(milliseconds) override
  {
    throw Error(ExitCode::usage, "--apply rolls a certificate out to local and k8s stacks only",
                "a compose container reads the certificate it was started with (its secret files are bind mounts)",
                "rotate without --apply, then run 'statectl deploy --target compose' and restart the containers");
  }

  secrets::ApplyFn secrets_applier(const secrets::Store& store, const std::string& secret_name) override
  {
    if (!cfg.get_string("postgres.url").empty() || !cfg.get_string("redis.url").empty())
      throw Error(ExitCode::usage, "--apply works on the deployed stack only", "[postgres] url or [redis] url points elsewhere");
    PatroniMembers members;
    // Its own Remote: the function outlives this target (the rotation runs after make() returned it).
    if (patroni())
      members = [&c = cfg, &r = runner, &p = printer, compose = deployed()] {
        Remote remote(c, r, p, render::Target::compose);
        return compose_patroni::members(remote, compose);
      };
    return compose_secrets_applier(cfg, store, runner, printer, deployed(), dir, secret_name, endpoints(), members);
  }

  std::string restore_after(const Fault& f, milliseconds timeout) override
  {
    if (!m_patroni_victim.empty() && f.victim == m_patroni_victim) return compose_patroni::rejoin(*this, deployed(), f.victim, timeout);
    if (!m_redis_victim.empty() && f.victim == m_redis_victim) return compose_redis::rejoin(runner, deployed(), endpoints(), f.victim, timeout);
    if (!m_postgres) return "platform";
    return m_postgres->restore_roles(f.victim, timeout);
  }

  stack::PgEndpoint backup_source() override { return endpoints().primary; }

  std::vector<std::pair<std::string, int>> redis_servers() override
  {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& s : compose_redis::servers(runner, deployed()))
      if (s.running && s.published) out.emplace_back(s.name, s.published);
    return out;
  }

  std::string server_name(const std::string& server) override
  {
    for (const auto& [name, port] : redis_servers())
      if (server == fmt::format("127.0.0.1:{}", port)) return name;
    return server;
  }

  Switched switchover(const std::string& backend, const std::string& to, milliseconds timeout) override
  {
    if (backend != "postgres") return Target::switchover(backend, to, timeout);
    if (!patroni()) return postgres(deployed()).switchover(to, timeout);
    return compose_patroni::switchover(*this, deployed(), to, timeout);
  }

  void check_switchover(const std::string& backend, const std::string& to) override
  {
    if (backend != "postgres") return Target::check_switchover(backend, to);
    // Bare mode: an unknown --to, or the primary itself, is refused before anything runs.
    if (!patroni() && !planning()) postgres(deployed()).switchover_members(to);
  }

private:
  std::unique_ptr<ComposePostgres> m_postgres; // kept from the promotion to the restore
  std::string m_patroni_victim;                 // the leader's container find_fault chose (Patroni)
  std::string m_redis_victim;                   // the Redis master's container find_fault chose (Sentinel)

  bool patroni() const { return compose_patroni::enabled(cfg); }
  bool bare_postgres(const std::string& backend) const { return backend == "postgres" && !patroni(); }

  // After `up`: the roles and passwords on the primary (bare: postgres-primary once healthy;
  // Patroni: the member that leads). Returns the primary's service.
  std::string init_primary(const deploy::Compose& compose, milliseconds timeout)
  {
    std::string primary = "postgres-primary";
    if (patroni()) {
      printer.info("waiting for a Patroni member to lead");
      primary = compose_patroni::wait_leader(*this, compose, timeout).name;
    }
    printer.info("setting up the roles on " + primary);
    deploy::init_compose_primary(cfg, runner, compose, req, timeout, primary);
    return primary;
  }

  // Where psql runs: the primary (Patroni: the leader) or a standby (Patroni: a running replica).
  std::string postgres_service(bool replica)
  {
    if (!patroni()) return replica ? "postgres-replica" : "postgres-primary";
    for (const auto& m : compose_patroni::members(*this, deployed()))
      if (m.running && m.listed && (replica ? m.role != "leader" : m.role == "leader")) return m.name;
    throw Error(ExitCode::failed, replica ? "no running Patroni replica" : "no Patroni leader", "",
                "run 'statectl status --target compose'");
  }

  ComposePostgres& postgres(const deploy::Compose& compose)
  {
    if (!m_postgres) m_postgres = std::make_unique<ComposePostgres>(cfg, runner, printer, compose, dir);
    return *m_postgres;
  }

  std::vector<std::string> exec_prefix(const std::string& service, bool tty) const
  {
    std::vector<std::string> args = {"exec"};
    if (!tty) args.push_back("-T");
    args.push_back(service);
    return deployed().argv(args);
  }

  DestroyResult nothing_to_destroy(DestroyResult& res, const std::string& what)
  {
    printer.info(fmt::format("nothing to destroy: no {} in {} (destroy tears down what `statectl deploy` applied from this state directory)",
                             what, dir.string()));
    return res;
  }

  // After the teardown: the render stays (a later `destroy --purge` still needs it) but is no
  // longer the applied one; --purge removes it, the previous render and the recorded counts.
  DestroyResult forget_render(DestroyResult& res, bool purge)
  {
    res.destroyed = true;
    res.purged = purge;
    forget_applied_render(*this, purge);
    return res;
  }
};

} // namespace

std::unique_ptr<Target> make_compose(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
{
  return std::make_unique<ComposeTarget>(cfg, runner, printer);
}

} // namespace statectl::targets::detail

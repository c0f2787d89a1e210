// `secrets rotate --apply` on a compose project: every change goes into the running containers
// (`docker exec -i`, values on stdin), then fresh logins through the published ports verify it.
#include "core/targets/compose_cluster.h"
#include "core/targets/compose_secrets.h"
#include "core/targets/compose_roles.h"

#include <fmt/format.h>
#include <optional>
#include <sys/stat.h>
#include <thread>

#include "core/clients/postgres.h"
#include "core/config/config.h"
#include "core/deploy/compose_init.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/local/redis_acl.h"
#include "core/secrets/crypto.h"
#include "core/secrets/manage.h"
#include "core/secrets/tls.h"
#include "core/secrets/push.h"
#include "core/secrets/store.h"
#include "core/targets/compose_endpoints.h"
#include "core/targets/compose_failover.h"
#include "core/targets/compose_secrets_patroni.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

// The file the rendered Redis health checks read the password from (redis-entrypoint.sh writes
// it at start): the secret file a container mounted keeps its value of that start.
constexpr const char* k_redis_pass_file = "/tmp/redis.pass";
constexpr const char* k_pgbouncer_userlist = "/tmp/pgbouncer/userlist.txt";
constexpr const char* k_replication_passfile = "/var/lib/postgresql/data/replication.pgpass";

std::string role_of(const config::Config& cfg, const std::string& name)
{
  if (name == "postgres") return cfg.get_string("postgres.superuser");
  if (name == "app") return cfg.get_string("postgres.app_user");
  if (name == "pgbouncer") return "pgbouncer";
  if (name == "replication") return deploy::k_compose_replication_role;
  return {};
}

std::string sql_ident(const std::string& s)
{
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A redis-cli argument in double quotes (its own line syntax).
std::string redis_quoted(const std::string& s)
{
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool pg_login(int port, const clients::ClientTls& tls, const std::string& user, const std::string& password, const std::string& db,
              std::string* error)
{
  clients::PgParams p;
  p.port = port;
  p.user = user;
  p.password = password;
  p.database = db;
  p.connect_timeout_s = 5;
  p.application_name = "statectl-secrets";
  p.tls = tls.enabled ? clients::pg_tls(tls) : clients::PgTls{"disable", "", "", ""};
  try {
    auto c = clients::PgConnection::connect(p);
    c.exec("SELECT 1");
    return true;
  } catch (const clients::PgError& e) {
    if (error) *error = e.what();
    return false;
  }
}

class Applier {
public:
  Applier(const config::Config& cfg, const secrets::Store& store, exec::Runner& runner, output::Printer& printer, deploy::Compose compose,
          fs::path dir, stack::Endpoints ep, PatroniMembers patroni)
    : m_cfg(cfg), m_store(store), m_runner(runner), m_printer(printer), m_compose(std::move(compose)), m_dir(std::move(dir)), m_ep(std::move(ep)),
      m_patroni(std::move(patroni))
  {
  }

  std::vector<std::string> operator()(const std::string& name, const std::string& from, const std::string& to)
  {
    m_steps.clear();
    // The secret file first: a container that starts from now on reads the value the servers get.
    secrets::write_compose_secret(m_dir / "secrets" / name, to);
    step(fmt::format("secrets/{} rewritten (a container reads it when it starts)", name));
    if (name == "redis") redis(from, to);
    else postgres(name, to);
    return m_steps;
  }

private:
  void step(std::string line)
  {
    m_printer.info(line);
    m_steps.push_back(std::move(line));
  }

  std::vector<PgContainer> running(const std::string& service)
  {
    std::vector<PgContainer> out;
    for (auto& c : service_containers(m_runner, m_compose.project, service))
      if (c.running) out.push_back(c);
    return out;
  }

  // Runs argv inside the container with stdin; returns stdout. Throws Error(external).
  std::string exec_in(const PgContainer& c, std::vector<std::string> argv, const std::string& input, const std::string& what,
                      const std::string& user = "")
  {
    std::vector<std::string> full = {"docker", "exec", "-i"};
    if (!user.empty()) full.insert(full.end(), {"--user", user});
    full.push_back(c.id);
    full.insert(full.end(), argv.begin(), argv.end());
    exec::Command cmd = deploy::command(full, true, 30s);
    cmd.stdin_data = input;
    exec::Result r = m_runner.run(cmd);
    if (!r.ok()) throw Error(ExitCode::external, fmt::format("{}: {} failed", c.name, what), deploy::tool_error(r));
    return r.out;
  }

  // Replaces a file inside the container atomically (a new file, 0600, renamed over the old one).
  void write_in(const PgContainer& c, const std::string& path, const std::string& content, const std::string& user = "")
  {
    std::string tmp = path + ".statectl-new";
    exec_in(c, {"dd", "of=" + tmp, "status=none"}, content, "writing " + path, user);
    exec_in(c, {"chmod", "0600", tmp}, "", "writing " + path, user);
    exec_in(c, {"mv", "-f", tmp, path}, "", "writing " + path, user);
  }

  // The primary's container: postgres-primary, or with Patroni the member that leads.
  PgContainer primary(const std::vector<compose_patroni::Member>& members)
  {
    if (m_patroni) {
      auto l = compose_patroni::leader(members);
      if (!l) throw Error(ExitCode::unavailable, "no Patroni member leads", "", "run 'statectl status --target compose'");
      PgContainer c;
      c.id = c.name = l->container;
      c.service = l->name;
      c.running = true;
      return c;
    }
    // After a switchover the recorded container holds the role, whichever service it belongs to.
    std::string recorded = compose_roles::recorded_primary(m_cfg);
    std::vector<PgContainer> primaries;
    for (const auto& c : running(recorded.empty() ? "postgres-primary" : "postgres-replica"))
      if (recorded.empty() || c.name == recorded) primaries.push_back(c);
    if (primaries.empty())
      throw Error(ExitCode::unavailable, fmt::format("{} is not running", recorded.empty() ? "postgres-primary" : recorded), "",
                  "run 'statectl status --target compose'");
    return primaries[0];
  }

  void postgres(const std::string& name, const std::string& to)
  {
    std::string role = role_of(m_cfg, name);
    std::vector<compose_patroni::Member> members;
    if (m_patroni) members = m_patroni();
    std::vector<PgContainer> primaries = {primary(members)};
    // Patroni's own credentials (superuser and rewind, or replication) first: its open
    // connections stay, the ones it opens after the ALTER ROLE use the new value.
    std::optional<PatroniCredentials> patroni;
    if (m_patroni && (name == "postgres" || name == "replication")) {
      patroni.emplace(
        m_cfg, m_runner,
        [this](const std::string& container, const std::vector<std::string>& argv, const std::string& input, const std::string& what) {
          PgContainer c;
          c.id = c.name = container;
          return exec_in(c, argv, input, what);
        },
        [this](std::string line) { step(std::move(line)); });
      patroni->update(members, name, to);
    }
    // Only the verifier reaches the server; a password that is not plain ASCII goes as itself
    // (over the container's socket) so the server applies SASLprep.
    auto verifier = secrets::scram_sha256_verifier(to);
    if (verifier) exec::register_secret(*verifier);
    std::string sql = fmt::format("SET synchronous_commit = local;\nALTER ROLE {} PASSWORD {};\n", sql_ident(role),
                                  util::sql_quote(verifier ? *verifier : to));
    exec_in(primaries[0],
            {"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", m_cfg.get_string("postgres.superuser"), "-d", "postgres"}, sql,
            "ALTER ROLE " + role);
    step(fmt::format("{}: ALTER ROLE {} PASSWORD (SCRAM verifier computed by statectl)", primaries[0].name, role));

    if (name == "replication" && !m_patroni) {
      std::string escaped;
      for (char c : to) {
        if (c == ':' || c == '\\') escaped += '\\';
        escaped += c;
      }
      // Every standby: the postgres-replica containers, and postgres-primary's after a switchover
      // made it one (its passfile is written by the switchover, not by an entrypoint).
      std::vector<PgContainer> standbys;
      for (const auto& service : {"postgres-primary", "postgres-replica"})
        for (const auto& c : running(service))
          if (c.name != primaries[0].name) standbys.push_back(c);
      for (const auto& c : standbys) {
        write_in(c, k_replication_passfile, fmt::format("*:*:*:{}:{}\n", role, escaped), "999:999");
        step(fmt::format("{}: passfile updated (used at the next reconnect)", c.name));
      }
    }

    std::string db = m_cfg.get_string("postgres.database");
    std::string su = m_cfg.get_string("postgres.superuser");
    bool pooled = name != "replication" && !(name == "app" && role == su);
    if (pooled) {
      auto line = [&](const std::string& r, const std::string& secret) {
        std::string v = secret == name ? to : m_store.require(secret);
        std::string q;
        for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
        return fmt::format("\"{}\" \"{}\"\n", r, q);
      };
      // The same lines, in the same order, as pgbouncer-entrypoint.sh writes at start.
      std::string userlist = line(su, "postgres") + line("pgbouncer", "pgbouncer") + line(m_cfg.get_string("postgres.app_user"), "app");
      for (const auto& c : running("pgbouncer")) {
        try {
          write_in(c, k_pgbouncer_userlist, userlist);
          exec::Command hup = deploy::command({"docker", "kill", "--signal", "HUP", c.id}, true, 30s);
          exec::Result r = m_runner.run(hup);
          if (!r.ok()) throw Error(ExitCode::external, fmt::format("{}: RELOAD (SIGHUP) failed", c.name), deploy::tool_error(r));
          step(fmt::format("{}: auth file rewritten, RELOAD (SIGHUP)", c.name));
        } catch (const Error& e) {
          // An undo after this very step failed finds the auth file still holding the value: the
          // login through the pooler decides.
          if (!pg_login(m_ep.pooler.port, m_ep.pooler.tls, role, to, db, nullptr)) throw;
          step(fmt::format("{}: already accepts the value ({})", c.name, e.message()));
        }
      }
    }

    // Verify: fresh connections with the new value, direct and through the pooler.
    std::string err;
    if (!pg_login(m_ep.primary.port, m_ep.primary.tls, role, to, db, &err))
      throw Error(ExitCode::failed, fmt::format("verification failed: {} cannot log in to {} with the new password", role, primaries[0].service), err);
    step(fmt::format("verified: new connection to {} 127.0.0.1:{} as {}", m_patroni ? "the leader through HAProxy" : "postgres-primary", m_ep.primary.port, role));
    if (pooled) {
      bool ok = false;
      for (int i = 0; i < 25 && !ok; ++i) {
        ok = pg_login(m_ep.pooler.port, m_ep.pooler.tls, role, to, db, &err);
        if (!ok) std::this_thread::sleep_for(200ms);
      }
      if (!ok)
        throw Error(ExitCode::failed, fmt::format("verification failed: {} cannot log in through PgBouncer with the new password", role), err);
      step(fmt::format("verified: new connection through PgBouncer 127.0.0.1:{} as {}", m_ep.pooler.port, role));
    }
    if (patroni) patroni->verify(members, name, 120s);
  }

  // redis-cli inside the container with the commands on stdin, logged in with `from` or else
  // `to` (an undo, or a retry after a half-done apply). Every reply must be OK.
  void redis_commands(const PgContainer& c, const std::vector<std::string>& port_args, const std::string& from, const std::string& to,
                      const std::vector<std::string>& commands, bool auth)
  {
    std::vector<std::string> argv = container_redis_cli(m_ep);
    argv.push_back("--no-auth-warning");
    argv.insert(argv.end(), port_args.begin(), port_args.end());
    std::string last;
    for (const std::string* pw : {&from, &to}) {
      std::string input = auth ? "AUTH " + redis_quoted(*pw) + "\n" : "";
      for (const auto& cmd : commands) input += cmd + "\n";
      std::string out = exec_in(c, argv, input, "redis-cli");
      auto lines = util::split(util::trim(out), '\n');
      std::size_t want = commands.size() + (auth ? 1 : 0);
      bool all_ok = lines.size() == want;
      for (const auto& l : lines) all_ok = all_ok && util::trim(l) == "OK";
      if (all_ok) return;
      last = exec::redact(util::trim(out));
      if (!auth || (!lines.empty() && util::trim(lines[0]) == "OK")) break; // logged in, a command failed
    }
    throw Error(ExitCode::external, fmt::format("{}: redis-cli failed", c.name), last);
  }

  void redis(const std::string& from, const std::string& to)
  {
    std::vector<PgContainer> servers = running("redis-master");
    for (auto& c : running("redis-replica")) servers.push_back(c);
    if (compose_cluster::enabled(m_cfg))
      for (const auto& node : compose_cluster::node_services(m_cfg))
        for (auto& c : running(node)) servers.push_back(c);
    if (servers.empty()) throw Error(ExitCode::unavailable, "no Redis container is running", "", "run 'statectl status --target compose'");
    // masterauth first everywhere, so replicas that reconnect use the password the master will
    // require; then requirepass.
    for (const auto& c : servers) redis_commands(c, {}, from, to, {"CONFIG SET masterauth " + redis_quoted(to)}, true);
    for (const auto& c : servers) {
      redis_commands(c, {}, from, to, {"CONFIG SET requirepass " + redis_quoted(to), "CONFIG REWRITE"}, true);
      write_in(c, k_redis_pass_file, to);
      step(fmt::format("{}: CONFIG SET masterauth, requirepass; CONFIG REWRITE; health check password file", c.name));
    }
    for (const auto& c : running("redis-sentinel")) {
      redis_commands(c, {"-p", "26379"}, from, to,
                     {fmt::format("SENTINEL SET {} auth-pass {}", m_cfg.get_string("redis.master_name"), redis_quoted(to))}, false);
      step(fmt::format("{}: SENTINEL SET {} auth-pass", c.name, m_cfg.get_string("redis.master_name")));
    }
    for (const auto& c : servers) {
      std::vector<std::string> cli = container_redis_cli(m_ep);
      cli.push_back("--no-auth-warning");
      std::string out = exec_in(c, cli, "AUTH " + redis_quoted(to) + "\nPING\n", "redis-cli");
      if (util::trim(out) != "OK\nPONG")
        throw Error(ExitCode::failed, fmt::format("verification failed: {} does not accept the new password", c.name), exec::redact(out));
    }
    step(fmt::format("verified: new connections to {} Redis server(s) with the new password", servers.size()));
  }

  const config::Config& m_cfg;
  const secrets::Store& m_store;
  exec::Runner& m_runner;
  output::Printer& m_printer;
  deploy::Compose m_compose;
  fs::path m_dir;
  stack::Endpoints m_ep;
  PatroniMembers m_patroni; // empty in bare mode
  std::vector<std::string> m_steps;
};

} // namespace

void write_compose_secrets(const config::Config& cfg, const render::Request& req, const fs::path& dir, output::Printer& printer)
{
  secrets::Store store(cfg);
  fs::path sdir = dir / "secrets";
  if (auto r = util::make_dirs(sdir, 0700); !r) throw Error(ExitCode::failed, "cannot create the compose secrets directory", r.error());
  ::chmod(sdir.c_str(), 0700);
  std::vector<std::string> names = secrets::stack_secret_names();
  if (render::tls_rendered(cfg, req)) {
    using namespace secrets;
    if (!store.exists(k_ca_cert) || !store.exists(k_tls_cert) || !store.exists(k_tls_key)) {
      tls::Request issue;
      issue.cn = cfg.get_string("project.name");
      issue.sans = tls::default_sans(cfg);
      printer.info(fmt::format("issuing the stack's TLS certificate ({}) into the secret store", util::join(issue.sans, ", ")));
      issue_tls(store, issue, false);
    }
    names.insert(names.end(), {k_ca_cert, k_tls_cert, k_tls_key});
  }
  if (render::acl_rendered(cfg, req)) {
    // The ACL users as redis.conf lines (password hashes only) for every server's entrypoint, and
    // the plain passwords a replica (masterauth) and a Sentinel (auth-pass) must send.
    namespace acl = local::redis_acl;
    std::string lines;
    for (const auto& u : acl::users(cfg.get_string("state.key_prefix"))) {
      std::string pw = store.ensure(u.secret);
      exec::register_secret(pw);
      lines += acl::conf_line(u.name, acl::user_rules(u, pw));
    }
    lines += acl::conf_line("default", acl::default_user_rules());
    secrets::write_compose_secret(sdir / "redis-acl", lines);
    names.insert(names.end(), {acl::k_replication_secret, acl::k_sentinel_secret});
  }
  for (const auto& name : names) {
    std::string value = name == secrets::k_ca_cert || name == secrets::k_tls_cert || name == secrets::k_tls_key ? store.require(name) : store.ensure(name);
    exec::register_secret(value);
    secrets::write_compose_secret(sdir / name, value);
  }
}

secrets::ApplyFn compose_secrets_applier(const config::Config& cfg, const secrets::Store& store, exec::Runner& runner,
                                         output::Printer& printer, const deploy::Compose& compose, const fs::path& dir,
                                         const std::string& name, const stack::Endpoints& endpoints, PatroniMembers patroni)
{
  if (compose_redis_acl(cfg, dir) && (name == "redis" || util::starts_with(name, "redis-")))
    throw Error(ExitCode::usage, fmt::format("--apply cannot rotate '{}' on a compose stack with Redis ACL users yet", name),
                "its servers take the ACL users' passwords from the deploy ([redis] acl)",
                fmt::format("rotate without --apply, then run 'statectl deploy --target compose' (the Redis containers are recreated with the new "
                            "password), or use [redis] acl = false"));
  if (role_of(cfg, name).empty() && name != "redis")
    throw Error(ExitCode::usage, fmt::format("--apply does not know secret '{}'", name),
                "it is not one of the compose stack's passwords (postgres, replication, app, pgbouncer, redis)", "rotate without --apply");
  auto applier = std::make_shared<Applier>(cfg, store, runner, printer, compose, dir, endpoints, std::move(patroni));
  return [applier](const std::string& n, const std::string& from, const std::string& to) { return (*applier)(n, from, to); };
}

} // namespace statectl::targets::detail

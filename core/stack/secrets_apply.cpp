#include "core/stack/secrets_apply.h"

#include <chrono>
#include <cstring>
#include <functional>
#include <csignal>
#include <fmt/format.h>
#include <memory>
#include <thread>

#include "core/clients/postgres.h"
#include "core/clients/redis.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/local/components.h"
#include "core/local/redis_acl.h"
#include "core/local/site.h"
#include "core/local/state.h"
#include "core/stack/endpoints.h"
#include "core/util/strings.h"

namespace statectl::stack {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using secrets::ApplyFn;
using secrets::Store;

namespace {

using clients::PgConnection;
using clients::RedisConnection;
using clients::RedisValue;

std::optional<PgConnection> pg_try(const clients::ClientTls& tls, int port, const std::string& user, const std::string& password, const std::string& db,
                                   std::string* error)
{
  clients::PgParams p;
  p.host = "127.0.0.1";
  p.port = port;
  p.user = user;
  p.password = password;
  p.database = db;
  p.connect_timeout_s = 5;
  p.application_name = "statectl-secrets";
  p.tls = clients::pg_tls(tls);
  try {
    return PgConnection::connect(p);
  } catch (const clients::PgError& e) {
    if (error) *error = e.what();
    return std::nullopt;
  }
}

PgConnection pg_require(const clients::ClientTls& tls, int port, const std::string& user, const std::string& password, const std::string& db)
{
  std::string err;
  auto c = pg_try(tls, port, user, password, db, &err);
  if (!c)
    throw Error(ExitCode::unavailable, fmt::format("cannot connect to PostgreSQL at 127.0.0.1:{} as {}", port, user), err,
                "is the local stack running? ('statectl status')");
  return std::move(*c);
}

void alter_role_password(PgConnection& c, const std::string& role, const std::string& password)
{
  // The verifier is computed here, with the server's settings (iteration count), so only
  // "SCRAM-SHA-256$..." travels to the server and could ever appear in its log.
  std::string sql;
  try {
    std::string verifier = c.encrypt_password(password, role);
    sql = fmt::format("ALTER ROLE {} PASSWORD {}", c.escape_identifier(role), c.escape_literal(verifier));
  } catch (const clients::PgError& e) {
    throw Error(ExitCode::failed, "cannot compute the SCRAM verifier", e.what());
  }
  try {
    c.exec(sql);
  } catch (const clients::PgError& e) {
    throw clients::to_error(e.failure(), fmt::format("ALTER ROLE {} failed", role), "", ExitCode::external);
  }
}

RedisConnection redis_connect(const clients::ClientTls& tls, int port, const std::string& what)
{
  clients::RedisOptions o;
  o.port = port;
  o.tls = clients::redis_tls(tls);
  try {
    return RedisConnection::connect(o);
  } catch (const clients::RedisError& e) {
    throw Error(ExitCode::unavailable, fmt::format("cannot connect to {} at 127.0.0.1:{}", what, port), e.what(),
                "is the local stack running? ('statectl status')");
  }
}

// Runs one command; the error text ("" when it succeeded).
std::string redis_try(RedisConnection& c, const std::vector<std::string>& args)
{
  try {
    RedisValue r = c.command(args);
    return r.is_error() ? exec::redact(r.str) : std::string();
  } catch (const clients::RedisError& e) {
    return e.what();
  }
}

void redis_ok(RedisConnection& c, const std::vector<std::string>& args, const std::string& where)
{
  std::string err = redis_try(c, args);
  if (!err.empty()) throw Error(ExitCode::external, fmt::format("{}: {} failed", where, args[0] + (args.size() > 1 ? " " + args[1] : "")), err);
}

// AUTH as user (the default user when empty) with the first of passwords the server accepts.
void redis_auth(RedisConnection& c, const std::string& user, const std::vector<std::string>& passwords, const std::string& where)
{
  for (const auto& pw : passwords) {
    try {
      if (!c.command(user.empty() ? std::vector<std::string>{"AUTH", pw} : std::vector<std::string>{"AUTH", user, pw}).is_error()) return;
    } catch (const clients::RedisError&) {
      break;
    }
  }
  throw Error(ExitCode::external, fmt::format("{}: AUTH{} failed", where, user.empty() ? "" : " as " + user),
              "neither the stored nor the new password is accepted",
              "check 'statectl redis-cli' works; the server's password may have been changed by hand");
}

// The ACL user whose password a secret is on a stack with ACL users ("redis" is the admin's);
// empty for a name that is none of them.
std::string acl_user_of(const std::string& name)
{
  for (const auto& u : local::redis_acl::users(""))
    if (u.secret == name) return u.name;
  return {};
}

// A Redis password of the local stack: "redis", or one of the ACL users' secrets.
bool is_redis_secret(const std::string& name) { return !acl_user_of(name).empty(); }

// Rotates the password of one ACL user on every server without a moment in which neither works:
// the new password is added (ACL SETUSER >new), then what logs in with it is told (masterauth
// for the replication user, SENTINEL SET auth-pass for the Sentinel user; statectl's own clients
// read the store), then the user is left with the new password only and the servers' config
// files rewritten (CONFIG REWRITE writes the users, hashed).
void rotate_acl_password(const config::Config& cfg, const Store& store, const local::StackState& st,
                         const stack::Endpoints& ep, const std::string& name, const std::string& from, const std::string& to,
                         const std::function<void(std::string)>& step)
{
  namespace acl = local::redis_acl;
  std::string user = acl_user_of(name);
  std::vector<const local::Member*> servers = st.of_kind("redis");
  std::vector<std::pair<const local::Member*, RedisConnection>> conns;
  // The admin's own password may be the one changing: then either value may be in force.
  std::vector<std::string> admin = name == acl::k_admin_secret ? std::vector<std::string>{from, to} : store.login_candidates(acl::k_admin_secret);
  for (const auto* m : servers) {
    RedisConnection c = redis_connect(ep.redis_tls, m->port, m->name);
    redis_auth(c, acl::k_admin_user, admin, m->name);
    conns.emplace_back(m, std::move(c));
  }
  for (auto& [m, c] : conns) redis_ok(c, {"ACL", "SETUSER", user, ">" + to}, m->name);
  step(fmt::format("{} Redis server(s): ACL SETUSER {} (new password added)", conns.size(), user));
  if (name == acl::k_replication_secret) {
    for (auto& [m, c] : conns) redis_ok(c, {"CONFIG", "SET", "masterauth", to}, m->name);
    step(fmt::format("{} Redis server(s): CONFIG SET masterauth", conns.size()));
  }
  if (name == acl::k_sentinel_secret) {
    for (const auto* s : st.of_kind("sentinel")) {
      RedisConnection c = redis_connect(ep.redis_tls, s->port, s->name);
      redis_ok(c, {"SENTINEL", "SET", config::settings(cfg).redis.master_name, "auth-pass", to}, s->name);
      step(fmt::format("{} 127.0.0.1:{}: SENTINEL SET {} auth-pass", s->name, s->port, config::settings(cfg).redis.master_name));
    }
  }
  for (auto& [m, c] : conns) {
    redis_ok(c, {"ACL", "SETUSER", user, "resetpass", "#" + acl::password_hash(to)}, m->name);
    redis_ok(c, {"CONFIG", "REWRITE"}, m->name);
    step(fmt::format("{} 127.0.0.1:{}: ACL SETUSER {} (old password removed); CONFIG REWRITE", m->name, m->port, user));
  }
  for (const auto* m : servers) {
    RedisConnection c = redis_connect(ep.redis_tls, m->port, m->name);
    std::string e = redis_try(c, {"AUTH", user, to});
    if (e.empty()) e = redis_try(c, {"PING"});
    if (!e.empty()) throw Error(ExitCode::failed, fmt::format("verification failed: {} does not accept the new password of {}", m->name, user), e);
  }
}

std::string role_of(const config::Config& cfg, const std::string& name)
{
  if (name == "postgres") return config::settings(cfg).postgres.superuser;
  if (name == "app") return config::settings(cfg).postgres.app_user;
  if (name == "pgbouncer") return "pgbouncer";
  if (name == "replication") return "replication";
  return {};
}

} // namespace

void refuse_store_only_rotation(const config::Config& cfg, const std::string& secret_name)
{
  if (role_of(cfg, secret_name).empty() && !is_redis_secret(secret_name)) return;
  if (config::settings(cfg).project.target != "local") return;
  auto state = local::load_state(local::state_file(cfg));
  if (!state || state->members.empty()) return;
  bool used = is_redis_secret(secret_name) ? !state->of_kind("redis").empty() && (secret_name == "redis" || state->redis_acl)
                                           : !state->of_kind("postgres").empty();
  if (!used) return;
  throw Error(ExitCode::usage, fmt::format("refusing to rotate '{}' in the store only", secret_name),
              fmt::format("the local stack in {} is deployed and uses it; its servers would keep the old value and statectl "
                          "could no longer log in (nothing was changed)",
                          config::settings(cfg).state_dir.string()),
              fmt::format("run 'statectl secrets rotate {} --apply' to change it on the running servers too, or add --store-only "
                          "if you will roll it out yourself",
                          secret_name));
}

namespace {

// Which of `values` the running servers accept for secret `name`: a login as its role on the
// primary, or AUTH on a Redis server. nullopt when none is accepted or nothing answers.
std::optional<std::string> accepted_value(const config::Config& cfg, const local::StackState& st, const std::string& name,
                                          const std::vector<std::string>& values)
{
  if (std::string role = role_of(cfg, name); !role.empty()) {
    stack::Endpoints ep = stack::resolve(cfg);
    for (const auto& v : values)
      if (pg_try(ep.primary.tls, ep.primary.port, role, v, config::settings(cfg).postgres.database, nullptr)) return v;
    return std::nullopt;
  }
  if (!is_redis_secret(name) || (name != "redis" && !st.redis_acl)) return std::nullopt;
  std::string user = st.redis_acl ? acl_user_of(name) : "";
  stack::Endpoints ep = stack::resolve(cfg);
  for (const auto* m : st.of_kind("redis")) {
    clients::RedisOptions o;
    o.port = m->port;
    o.tls = clients::redis_tls(ep.redis_tls);
    o.connect_timeout = o.command_timeout = std::chrono::milliseconds(2000);
    try {
      auto c = RedisConnection::connect(o);
      for (const auto& v : values)
        if (!c.command(user.empty() ? std::vector<std::string>{"AUTH", v} : std::vector<std::string>{"AUTH", user, v}).is_error()) return v;
    } catch (const clients::RedisError&) {
      // Not running: ask the next server.
    }
  }
  return std::nullopt;
}

} // namespace

std::vector<std::string> settle_rotations(const config::Config& cfg, Store& store, exec::Runner& runner, output::Printer& printer)
{
  std::vector<std::string> settled;
  auto names = store.rotations();
  if (names.empty() || config::settings(cfg).project.target != "local") return settled;
  auto state = local::load_state(local::state_file(cfg));
  if (!state || state->members.empty()) return settled;
  for (const auto& name : names) {
    auto r = store.rotation(name);
    if (!r) continue;
    auto accepted = accepted_value(cfg, *state, name, {r->new_value, r->old_value});
    if (!accepted) {
      printer.warn(fmt::format("the rotation of '{}' was interrupted and cannot be settled now: the servers accept neither value "
                               "or do not answer; statectl tries both values meanwhile",
                               name));
      continue;
    }
    bool finished = *accepted == r->new_value;
    const std::string& other = finished ? r->old_value : r->new_value;
    printer.info(fmt::format("{} the interrupted rotation of '{}' (the servers accept the {} value)", finished ? "finishing" : "rolling back",
                             name, finished ? "new" : "old"));
    // put, not replace: the old value was backed up when the rotation began.
    store.put(name, *accepted);
    // Applied again from whatever each server holds: Redis tries both values to log in; the
    // PostgreSQL primary already accepts this one.
    auto apply = local_stack_applier(cfg, store, runner, printer, name);
    apply(name, is_redis_secret(name) ? other : *accepted, *accepted);
    store.end_rotation(name);
    settled.push_back(fmt::format("{} the interrupted rotation of '{}'", finished ? "finished" : "rolled back", name));
  }
  return settled;
}

ApplyFn local_stack_applier(const config::Config& cfg, const Store& store, exec::Runner& runner, output::Printer& printer,
                            const std::string& secret_name)
{
  if (role_of(cfg, secret_name).empty() && !is_redis_secret(secret_name))
    throw Error(ExitCode::usage, fmt::format("--apply does not know secret '{}'", secret_name),
                "it is not one of the local stack's passwords (postgres, replication, app, pgbouncer, redis, redis-app, "
                "redis-replication, redis-sentinel)",
                "rotate without --apply");
  if (config::settings(cfg).project.target != "local")
    throw Error(ExitCode::usage, "--apply works on the local and compose stacks only", fmt::format("the target is '{}'", config::settings(cfg).project.target),
                "run 'statectl secrets push' and redeploy to roll the new value out");
  auto state = local::load_state(local::state_file(cfg));
  if (!state || state->members.empty())
    throw Error(ExitCode::usage, "--apply needs the local stack", fmt::format("nothing is deployed in {}", config::settings(cfg).state_dir.string()),
                "run 'statectl deploy' first, or rotate without --apply");
  if (state->ha == "patroni" && (secret_name == "postgres" || secret_name == "replication"))
    throw Error(ExitCode::usage, fmt::format("--apply of '{}' is not supported with [postgres] ha = patroni", secret_name),
                "Patroni keeps that password in its own configuration",
                "rotate without --apply, then run 'statectl deploy' to rewrite Patroni's configuration");
  if (is_redis_secret(secret_name) && state->of_kind("redis").empty())
    throw Error(ExitCode::usage, fmt::format("--apply of '{}' needs Redis in the local stack", secret_name), "none is deployed");
  if (is_redis_secret(secret_name) && secret_name != "redis" && !state->redis_acl)
    throw Error(ExitCode::usage, fmt::format("--apply of '{}' needs a local stack with Redis ACL users", secret_name),
                fmt::format("the local stack in {} runs Redis without them (deployed before [redis] acl)", config::settings(cfg).state_dir.string()),
                "rotate 'redis' instead: it is the only Redis password of this stack");
  if (!config::settings(cfg).postgres.url.empty() || !config::settings(cfg).redis.url.empty())
    throw Error(ExitCode::usage, "--apply works on the local stack only", "[postgres] url or [redis] url points elsewhere");
  return [&cfg, &store, &runner, &printer, st = *state](const std::string& name, const std::string& from,
                                                        const std::string& to) -> std::vector<std::string> {
    std::vector<std::string> steps;
    auto step = [&](std::string line) {
      printer.info(line);
      steps.push_back(std::move(line));
    };
    stack::Endpoints ep = stack::resolve(cfg);
    std::string role = role_of(cfg, name);

    if (!role.empty()) {
      // The superuser's current password: `from` when it is the one changing.
      std::string su_password = name == "postgres" ? from : store.require("postgres");
      std::string db = config::settings(cfg).postgres.database;
      {
        PgConnection c = pg_require(ep.primary.tls, ep.primary.port, config::settings(cfg).postgres.superuser, su_password, db);
        alter_role_password(c, role, to);
      }
      step(fmt::format("primary 127.0.0.1:{}: ALTER ROLE {} PASSWORD (SCRAM verifier computed client-side)", ep.primary.port, role));

      local::Site site(cfg, runner, printer);
      if (name == "replication") {
        for (const auto& m : st.members) {
          if (m.kind != "postgres" || m.role == "primary") continue;
          site.write_file(fs::path(m.dir) / "pgpass", fmt::format("*:*:*:replication:{}\n", to), 0600);
          step(fmt::format("{}: passfile updated (used at the next reconnect)", m.name));
        }
      }
      bool pooled = name != "replication" && !(name == "app" && role == config::settings(cfg).postgres.superuser);
      if (pooled) {
        for (const auto& m : st.members) {
          if (m.kind != "pgbouncer") continue;
          // configure() writes the auth file from the store, which already holds `to`.
          local::pgbouncer::configure(site, m, st.pgbouncer_target);
          if (!local::signal_member(m, SIGHUP))
            throw Error(ExitCode::unavailable, "cannot reload pgbouncer", fmt::format("{} (pid {}) is not running", m.name, m.pid),
                        "start the stack with 'statectl deploy'");
          step(fmt::format("{}: auth file rewritten, RELOAD (SIGHUP)", m.name));
        }
      }

      // Verify: fresh connections with the new password, direct and through the pooler.
      std::string err;
      if (!pg_try(ep.primary.tls, ep.primary.port, role, to, db, &err))
        throw Error(ExitCode::failed, fmt::format("verification failed: {} cannot log in to the primary with the new password", role), err);
      step(fmt::format("verified: new connection to the primary 127.0.0.1:{} as {}", ep.primary.port, role));
      // The application role logs in to PgBouncer with its client certificate when the stack
      // has one (a password login is refused there); PgBouncer's own login to PostgreSQL, which
      // a query makes, uses the new password of the auth file.
      bool by_cert = name == "app" && !ep.pg_app_user.empty() && ep.pg_app_user == role;
      if (pooled) {
        std::optional<PgConnection> ok;
        for (int i = 0; i < 25 && !ok; ++i) {
          if (by_cert) {
            clients::PgParams p;
            p.port = ep.pooler.port;
            p.user = role;
            p.database = db;
            p.connect_timeout_s = 5;
            p.application_name = "statectl-secrets";
            p.tls = clients::pg_tls(ep.pooler.tls);
            p.tls.sslcert = ep.pg_app_cert;
            p.tls.sslkey = ep.pg_app_key;
            try {
              ok = PgConnection::connect(p);
              ok->exec("SELECT 1");
            } catch (const clients::PgError& e) {
              err = e.what();
              ok.reset();
            }
          } else {
            ok = pg_try(ep.pooler.tls, ep.pooler.port, role, to, db, &err);
          }
          if (!ok) std::this_thread::sleep_for(200ms);
        }
        if (!ok)
          throw Error(ExitCode::failed, fmt::format("verification failed: {} cannot log in through pgbouncer with the new password", role), err);
        step(fmt::format("verified: new connection through pgbouncer 127.0.0.1:{} as {}{}", ep.pooler.port, role, by_cert ? " (client certificate)" : ""));
      }
      return steps;
    }

    if (is_redis_secret(name) && st.redis_acl) {
      rotate_acl_password(cfg, store, st, ep, name, from, to, step);
      step(fmt::format("verified: new connections to {} Redis server(s) as {} with the new password", st.of_kind("redis").size(), acl_user_of(name)));
      return steps;
    }
    if (name == "redis") {
      std::vector<const local::Member*> servers = st.of_kind("redis");
      std::vector<const local::Member*> sentinels = st.of_kind("sentinel");
      if (servers.empty()) throw Error(ExitCode::usage, "--apply of 'redis' needs Redis in the local stack", "none is deployed");
      // masterauth first everywhere, so replicas that reconnect use the password the master will
      // require; then requirepass. Authenticated connections stay open throughout.
      std::vector<std::pair<const local::Member*, RedisConnection>> conns;
      for (const auto* m : servers) {
        RedisConnection c = redis_connect(ep.redis_tls, m->port, m->name);
        redis_auth(c, "", {from, to}, m->name);
        conns.emplace_back(m, std::move(c));
      }
      for (auto& [m, c] : conns) redis_ok(c, {"CONFIG", "SET", "masterauth", to}, m->name);
      for (auto& [m, c] : conns) {
        redis_ok(c, {"CONFIG", "SET", "requirepass", to}, m->name);
        redis_ok(c, {"CONFIG", "REWRITE"}, m->name);
        step(fmt::format("{} 127.0.0.1:{}: CONFIG SET masterauth, requirepass; CONFIG REWRITE", m->name, m->port));
      }
      for (const auto* s : sentinels) {
        RedisConnection c = redis_connect(ep.redis_tls, s->port, s->name);
        redis_ok(c, {"SENTINEL", "SET", config::settings(cfg).redis.master_name, "auth-pass", to}, s->name);
        step(fmt::format("{} 127.0.0.1:{}: SENTINEL SET {} auth-pass", s->name, s->port, config::settings(cfg).redis.master_name));
      }
      for (const auto* m : servers) {
        RedisConnection c = redis_connect(ep.redis_tls, m->port, m->name);
        std::string e = redis_try(c, {"AUTH", to});
        if (e.empty()) e = redis_try(c, {"PING"});
        if (!e.empty()) throw Error(ExitCode::failed, fmt::format("verification failed: {} does not accept the new password", m->name), e);
      }
      step(fmt::format("verified: new connections to {} Redis server(s) with the new password", servers.size()));
      return steps;
    }
    throw Error(ExitCode::usage, fmt::format("--apply does not know secret '{}'", name), "it is not one the local stack uses",
                "rotate without --apply");
  };
}

} // namespace statectl::stack

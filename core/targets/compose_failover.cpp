// Bare-mode PostgreSQL failover on a compose project: promotion, pooler repoint and the way back
// to the deployed roles, each step a `docker` command with its argv (SQL on stdin).
#include "core/targets/compose_failover.h"

#include <fmt/format.h>
#include <thread>

#include "core/clients/postgres.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/secrets/store.h"
#include "core/targets/compose_endpoints.h"
#include "core/targets/compose_roles.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

// Where the rendered services keep PostgreSQL's data (PGDATA in docker-compose.yml) and the
// volume mount above it.
constexpr const char* k_data_mount = "/var/lib/postgresql/data";
constexpr const char* k_pgdata = "/var/lib/postgresql/data/pgdata";

bool wait_until(const std::function<bool()>& ok, milliseconds timeout, milliseconds every = 250ms)
{
  auto end = steady_clock::now() + timeout;
  while (true) {
    if (ok()) return true;
    if (steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(every);
  }
}

} // namespace

ComposePostgres::ComposePostgres(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, deploy::Compose compose,
                                 fs::path dir)
  : m_cfg(cfg), m_runner(runner), m_printer(printer), m_compose(std::move(compose)), m_dir(std::move(dir))
{
}

std::vector<PgContainer> service_containers(exec::Runner& runner, const std::string& project, const std::string& service)
{
  exec::Result r = deploy::run_checked(runner,
                                       deploy::command({"docker", "ps", "-a", "-q", "--filter", "label=com.docker.compose.project=" + project,
                                                        "--filter", "label=com.docker.compose.service=" + service},
                                                       false, 30s),
                                       "listing the " + service + " containers");
  std::vector<std::string> ids;
  for (const auto& line : util::split(r.out, '\n'))
    if (!util::trim(line).empty()) ids.push_back(util::trim(line));
  std::vector<PgContainer> out;
  if (ids.empty()) return out;
  for (const auto& line : deploy::docker_inspect(runner, ids, "{{.Id}}|{{.Name}}|{{.State.Running}}|{{.Config.Image}}")) {
    auto f = util::split(line, '|');
    if (f.size() < 4) continue;
    PgContainer c;
    c.id = f[0];
    c.name = f[1].substr(f[1].rfind('/') == std::string::npos ? 0 : f[1].rfind('/') + 1);
    c.service = service;
    c.running = f[2] == "true";
    c.image = f[3];
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> volumes_beyond(exec::Runner& runner, const deploy::Compose& compose, const std::string& service, std::int64_t keep)
{
  std::vector<std::string> ids = deploy::compose_containers(runner, compose, service);
  std::vector<std::string> out;
  if (ids.empty()) return out;
  for (const auto& line : deploy::docker_inspect(runner, ids,
                                                 "{{index .Config.Labels \"com.docker.compose.container-number\"}}|"
                                                 "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}")) {
    auto f = util::split(line, '|');
    if (f.size() < 2 || f[0].empty() || f[0].find_first_not_of("0123456789") != std::string::npos || std::stoll(f[0]) <= keep) continue;
    for (const auto& v : util::split(util::trim(f[1]), ' '))
      if (!v.empty()) out.push_back(v);
  }
  return out;
}

std::string ComposePostgres::sql(const std::string& container, const std::string& statements, milliseconds timeout)
{
  // Over the container's own socket (trusted by the rendered pg_hba.conf): no password at all.
  exec::Command c = deploy::command({"docker", "exec", "-i", container, "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-U",
                                     config::settings(m_cfg).postgres.superuser, "-d", "postgres"},
                                    true, timeout);
  c.stdin_data = statements;
  exec::Result r = m_runner.run(c);
  if (!r.ok()) throw Error(ExitCode::failed, fmt::format("psql in {} failed", container), deploy::tool_error(r));
  return util::trim(r.out);
}

void ComposePostgres::docker(std::vector<std::string> args, const std::string& what, milliseconds timeout)
{
  args.insert(args.begin(), "docker");
  deploy::run_checked(m_runner, deploy::command(args, true, timeout), what);
}

std::string ComposePostgres::data_volume(const std::string& container)
{
  auto lines = deploy::docker_inspect(m_runner, {container},
                                      fmt::format("{{{{range .Mounts}}}}{{{{if eq .Destination \"{}\"}}}}{{{{.Name}}}}{{{{end}}}}{{{{end}}}}", k_data_mount));
  if (lines.empty() || lines[0].empty())
    throw Error(ExitCode::failed, fmt::format("{} has no data volume at {}", container, k_data_mount));
  return lines[0];
}

PgContainer ComposePostgres::ready_primary()
{
  compose_roles::refuse_while_switched(m_cfg, "failover test --backend postgres",
                                       "each trial kills postgres-primary and its heal puts the deployed roles back");
  auto primaries = containers("postgres-primary");
  if (primaries.empty() || !primaries[0].running)
    throw Error(ExitCode::failed, fmt::format("postgres-primary is not running in Compose project {}", m_compose.project), "",
                "run 'statectl deploy --target compose' and 'statectl status' first");
  const PgContainer& p = primaries[0];
  std::string answer;
  bool ok = wait_until(
    [&] {
      try {
        answer = sql(p.id, "SELECT pg_is_in_recovery()::text || '|' || (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming');\n",
                     15s);
      } catch (const Error& e) {
        answer = e.message();
        return false;
      }
      return answer.rfind("false|", 0) == 0 && answer != "false|0";
    },
    30s, 500ms);
  if (!ok)
    throw Error(ExitCode::failed, "the compose stack is not in its deployed shape, so a failover test would measure the wrong thing",
                answer.rfind("true|", 0) == 0 ? "postgres-primary is a standby"
                : answer == "false|0"       ? "no standby streams from postgres-primary"
                                            : answer,
                "run 'statectl status --target compose'; 'statectl deploy --target compose' repairs roles and standbys");
  m_standbys.clear();
  for (const auto& c : containers("postgres-replica"))
    if (c.running) m_standbys.push_back(c);
  find_poolers();
  return p;
}

void ComposePostgres::find_poolers()
{
  m_poolers.clear();
  std::vector<std::string> problems;
  for (const auto& c : containers("pgbouncer")) {
    if (!c.running) continue;
    auto ports = deploy::docker_inspect(m_runner, {c.id},
                                        "{{range $p, $b := .NetworkSettings.Ports}}{{if eq $p \"6432/tcp\"}}{{range $b}}{{.HostPort}} "
                                        "{{end}}{{end}}{{end}}");
    int port = 0;
    if (!ports.empty()) {
      auto first = util::split(util::trim(ports[0]), ' ');
      if (!first.empty() && !first[0].empty() && first[0].find_first_not_of("0123456789") == std::string::npos) port = std::stoi(first[0]);
    }
    if (port == 0) problems.push_back(fmt::format("{}: no published port", c.name));
    else m_poolers.emplace_back(c.id, port);
  }
  if (!problems.empty()) throw Error(ExitCode::failed, "cannot reach every PgBouncer", util::join(problems, "; "));
}

std::string ComposePostgres::promote_after_kill(const std::string& killed)
{
  // The most advanced standby: the one that received the most WAL loses nothing a synchronous
  // commit acknowledged.
  std::string best;
  long long best_lsn = -1;
  std::vector<std::string> why_not;
  std::vector<const PgContainer*> candidates;
  for (const auto& c : m_standbys)
    if (c.name != killed && c.id != killed) candidates.push_back(&c);
  // One standby: nothing to compare (pg_promote refuses if it is not in recovery).
  if (candidates.size() == 1) best = candidates[0]->name;
  for (const PgContainer* c : candidates.size() > 1 ? candidates : std::vector<const PgContainer*>{}) {
    try {
      std::string a = sql(c->id,
                          "SELECT pg_is_in_recovery()::text || '|' || pg_wal_lsn_diff(coalesce(pg_last_wal_receive_lsn(), "
                          "pg_last_wal_replay_lsn()), '0/0')::bigint;\n",
                          10s);
      auto f = util::split(a, '|');
      if (f.size() != 2 || f[0] != "true") {
        why_not.push_back(fmt::format("{}: not in recovery", c->name));
        continue;
      }
      long long lsn = std::stoll(f[1]);
      if (lsn > best_lsn) {
        best_lsn = lsn;
        best = c->name;
      }
    } catch (const std::exception& e) {
      why_not.push_back(fmt::format("{}: {}", c->name, e.what()));
    }
  }
  if (best.empty())
    throw Error(ExitCode::failed, "no standby can be promoted", why_not.empty() ? "no postgres-replica container runs" : util::join(why_not, "; "),
                "run 'statectl status --target compose'");
  m_printer.info(best_lsn < 0 ? fmt::format("promoting {} (the only standby)", best)
                              : fmt::format("promoting {} (received {} bytes of WAL, the most)", best, best_lsn));
  // Cleared before the promotion: the other standbys follow postgres-primary, which is gone.
  std::string answer = sql(best, "ALTER SYSTEM SET synchronous_standby_names = '';\nSELECT pg_reload_conf();\nSELECT pg_promote(true, 30);\n", 40s);
  if (answer.empty() || answer.back() != 't')
    throw Error(ExitCode::failed, fmt::format("{} was not promoted within 30s", best), answer);
  m_promoted = best;
  m_printer.info(fmt::format("repointing PgBouncer to {}", best));
  repoint_poolers(best);
  return best;
}

clients::PgParams pooler_admin(const config::Config& cfg, const fs::path& dir, int port)
{
  secrets::Store store(cfg);
  clients::PgParams p;
  p.port = port;
  p.user = "pgbouncer";
  p.password = store.get("pgbouncer").value_or("");
  p.dbname_override = "pgbouncer";
  p.database = "pgbouncer";
  p.application_name = "statectl-failover";
  p.connect_timeout_s = 5;
  // The admin console takes TLS only when the render speaks it (client_tls_sslmode = require).
  clients::ClientTls tls = compose_client_tls(cfg, dir);
  p.tls = tls.enabled ? clients::pg_tls(tls) : clients::PgTls{"disable", "", "", ""};
  return p;
}

void ComposePostgres::repoint_poolers(const std::string& host, bool persist)
{
  fs::path applied = m_dir / "pgbouncer" / "pgbouncer.ini";
  auto rendered = util::read_file(applied);
  if (!rendered) throw Error(ExitCode::failed, "cannot read the rendered pgbouncer.ini", rendered.error());
  if (rendered->find("\n* = host=") == std::string::npos)
    throw Error(ExitCode::failed, "the rendered pgbouncer.ini names no server host", applied.string(), "deploy again");
  std::string ini = compose_roles::pgbouncer_ini_for(*rendered, host);
  // The applied file is what a restarted or added PgBouncer copies at start (bind-mounted).
  if (persist && ini != *rendered)
    if (auto r = util::write_file_atomic(applied, ini, 0644); !r) throw Error(ExitCode::failed, "cannot repoint the applied pgbouncer.ini", r.error());

  std::vector<std::string> problems;
  for (const auto& [id, port] : m_poolers) {
    // PgBouncer runs from its private copy of the configuration (pgbouncer-entrypoint.sh).
    exec::Command w = deploy::command({"docker", "exec", "-i", id, "dd", "of=/tmp/pgbouncer/pgbouncer.ini", "status=none"}, true, 15s);
    w.stdin_data = ini;
    exec::Result r = m_runner.run(w);
    if (!r.ok()) {
      problems.push_back(fmt::format("{}: {}", id.substr(0, 12), deploy::tool_error(r)));
      continue;
    }
    // RELOAD on the admin console through the published port; and PgBouncer stops trying a server
    // for server_login_retry (15 s) after a failed connect, which the dead primary caused.
    try {
      auto conn = clients::PgConnection::connect(pooler_admin(m_cfg, m_dir, port));
      conn.exec("RELOAD");
      conn.exec("SET server_login_retry = 0");
    } catch (const clients::PgError& e) {
      problems.push_back(fmt::format("PgBouncer at 127.0.0.1:{}: {}", port, e.what()));
    }
  }
  if (!problems.empty()) throw Error(ExitCode::failed, "cannot repoint PgBouncer", util::join(problems, "; "));
}

std::string ComposePostgres::restore_roles(const std::string& killed, milliseconds timeout)
{
  if (m_promoted.empty()) throw Error(ExitCode::failed, "nothing was promoted, so there are no roles to restore");
  auto primaries = containers("postgres-primary");
  if (primaries.empty()) throw Error(ExitCode::failed, "postgres-primary has no container");
  const PgContainer p = primaries[0];
  if (p.running && p.name != killed && p.id != killed)
    throw Error(ExitCode::failed, fmt::format("{} runs again, next to the promoted {}", p.name, m_promoted), "",
                "stop one of them; 'statectl status --target compose' shows both");
  std::string volume = data_volume(p.id);
  std::string tmp = "/statectl-primary";
  auto on_primary_volume = [&](std::vector<std::string> run, const std::string& what) {
    std::vector<std::string> args = {"run", "--rm", "--network", "none", "--volumes-from", m_promoted, "-v", volume + ":" + tmp};
    args.insert(args.end(), run.begin(), run.end());
    docker(args, what, 10min);
  };
  m_printer.info(fmt::format("restoring the deployed roles: stopping {} cleanly, copying its data into {}", m_promoted, volume));
  docker({"stop", "--time", "60", m_promoted}, "stopping " + m_promoted, 2min);
  // The copy goes beside the old data first, so a failed copy leaves the old data in place.
  std::string fresh = tmp + "/pgdata.statectl-new";
  on_primary_volume({"--entrypoint", "rm", p.image, "-rf", fresh}, "clearing " + fresh);
  on_primary_volume({"--entrypoint", "cp", p.image, "-a", k_pgdata, fresh}, "copying the data of " + m_promoted);
  on_primary_volume({"--entrypoint", "rm", p.image, "-rf", tmp + "/pgdata"}, "removing the forked data of " + p.name);
  on_primary_volume({"--entrypoint", "mv", p.image, fresh, tmp + "/pgdata"}, "moving the copied data into place");
  // The stopped standby holds the same data: it only has to come back as a standby (its
  // primary_conninfo still names postgres-primary).
  on_primary_volume({"--user", "999:999", "--entrypoint", "touch", p.image, std::string(k_pgdata) + "/standby.signal"},
                    "making " + m_promoted + " a standby");
  docker({"start", p.id}, "starting " + p.name, 2min);
  std::string answer;
  if (!wait_until(
        [&] {
          try {
            answer = sql(p.id, "SELECT pg_is_in_recovery();\n", 5s);
          } catch (const Error& e) {
            answer = e.message();
          }
          return answer == "f";
        },
        timeout))
    throw Error(ExitCode::failed, fmt::format("{} did not come back as the primary", p.name), answer);
  repoint_poolers("postgres-primary");
  docker({"start", m_promoted}, "starting " + m_promoted, 2min);
  bool sync = config::settings(m_cfg).postgres.synchronous;
  if (!wait_until(
        [&] {
          try {
            answer = sql(p.id, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming';\n", 5s);
          } catch (const Error& e) {
            answer = e.message();
          }
          return answer != "0" && answer.find_first_not_of("0123456789") == std::string::npos;
        },
        timeout))
    throw Error(ExitCode::failed, fmt::format("{} does not stream from {}", m_promoted, p.name), answer);
  if (sync) sql(p.id, "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (*)';\nSELECT pg_reload_conf();\n", 15s);
  std::string how = fmt::format("{} primary again with {}'s data, {} its standby", p.name, m_promoted, m_promoted);
  m_promoted.clear();
  return how;
}

} // namespace statectl::targets::detail

// `failover switchover` of bare PostgreSQL on a compose project: a planned, lossless handover of
// the primary role to a standby container, driven through the engine (`docker exec`, SQL on stdin).
#include <fmt/format.h>
#include <thread>

#include "core/config/settings.h"
#include "core/deploy/compose_init.h"
#include "core/error.h"
#include "core/local/process.h"
#include "core/exec/redact.h"
#include "core/secrets/store.h"
#include "core/targets/compose_endpoints.h"
#include "core/targets/compose_failover.h"
#include "core/targets/compose_roles.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

using namespace std::chrono;

namespace {

// Where the rendered services keep PostgreSQL's data (PGDATA) and the replication password file
// next to it (the path replica-entrypoint.sh writes in a standby's container).
constexpr const char* k_switch_pgdata = "/var/lib/postgresql/data/pgdata";
constexpr const char* k_switch_passfile = "/var/lib/postgresql/data/replication.pgpass";
constexpr const char* k_switch_uid = "999:999";

std::int64_t switch_ms_since(steady_clock::time_point t) { return duration_cast<milliseconds>(steady_clock::now() - t).count(); }

} // namespace

std::pair<PgContainer, std::string> ComposePostgres::switchover_members(const std::string& to)
{
  std::vector<PgContainer> all = containers("postgres-primary");
  for (const auto& c : containers("postgres-replica")) all.push_back(c);
  std::string recorded = compose_roles::recorded_primary(m_cfg);
  const PgContainer* old = nullptr;
  for (const auto& c : all)
    if (recorded.empty() ? c.service == "postgres-primary" : c.name == recorded) old = &c;
  if (!old || !old->running)
    throw Error(ExitCode::failed,
                fmt::format("the primary's container {} is not running", old ? old->name : recorded.empty() ? "postgres-primary" : recorded), "",
                "run 'statectl status --target compose'");
  std::string chosen;
  if (!to.empty()) {
    std::vector<const PgContainer*> named;
    for (const auto& c : all)
      if (c.name == to || c.service == to) named.push_back(&c);
    if (named.empty())
      throw Error(ExitCode::usage, fmt::format("no PostgreSQL container '{}' in the compose stack", to), "",
                  "'statectl status --target compose' lists them");
    if (named.size() > 1)
      throw Error(ExitCode::usage, fmt::format("{} has {} containers", to, named.size()), "", "name one of them: 'statectl status --target compose' lists them");
    if (named[0]->name == old->name) throw Error(ExitCode::usage, fmt::format("{} is already the primary", named[0]->name));
    chosen = named[0]->name;
  }
  return {*old, chosen};
}

void ComposePostgres::pause_poolers(const std::string& command)
{
  for (const auto& [id, port] : m_poolers) {
    try {
      auto conn = clients::PgConnection::connect(pooler_admin(m_cfg, m_dir, port));
      conn.exec(command);
    } catch (const clients::PgError& e) {
      throw Error(ExitCode::failed, fmt::format("{} on the PgBouncer at 127.0.0.1:{} failed", command, port), e.what());
    }
  }
}

void ComposePostgres::wait_streaming(const PgContainer& primary, const std::string& standby, milliseconds timeout)
{
  // The standby's WAL receiver names its sender: streaming from the new primary's container.
  std::string answer;
  bool ok = local::wait_for(
    [&] {
      try {
        answer = sql(standby, "SELECT coalesce((SELECT status || '|' || sender_host FROM pg_stat_wal_receiver), 'none');\n", 5s);
      } catch (const Error& e) {
        answer = e.message();
      }
      return answer == "streaming|" + primary.name;
    },
    timeout, 100ms);
  if (!ok)
    throw Error(ExitCode::failed, fmt::format("{} does not stream from {}", standby, primary.name),
                fmt::format("its WAL receiver: {}", answer),
                fmt::format("see 'docker logs {}'; a standby whose history diverged must be cloned again", standby));
}

Switched ComposePostgres::switchover(const std::string& to, milliseconds timeout)
{
  const bool plan = m_runner.dry_run() == exec::DryRun::plan;
  if (plan) {
    m_printer.plan("write primary_conninfo and standby.signal for the new primary into the primary's container (docker exec)");
    m_printer.plan("PAUSE every PgBouncer; wait until the standby replayed the primary's last LSN; docker stop the primary (clean shutdown)");
    m_printer.plan(fmt::format("promote {} (docker exec ... psql: pg_promote), point every PgBouncer at it (pgbouncer.ini, RELOAD), record "
                               "it as the primary, point the other standbys at it",
                               to.empty() ? "the standby that replayed the most WAL" : to));
    m_printer.plan("docker start the old primary as its standby; RESUME every PgBouncer");
    return {};
  }
  auto [old, chosen] = switchover_members(to);
  std::vector<PgContainer> standbys;
  for (const auto& service : {"postgres-primary", "postgres-replica"})
    for (const auto& c : containers(service))
      if (c.running && c.name != old.name) standbys.push_back(c);
  find_poolers();
  if (m_poolers.empty()) throw Error(ExitCode::failed, "no PgBouncer runs to hold the writes", "", "run 'statectl status --target compose'");

  // The old primary must be one, and the candidate a standby streaming from it.
  std::string answer = sql(old.name, "SELECT pg_is_in_recovery();\n", 15s);
  if (answer != "f") throw Error(ExitCode::failed, fmt::format("{} is not a primary", old.name), "", "run 'statectl status --target compose'");
  std::string target;
  long long best = -1;
  std::vector<std::string> why_not;
  for (const auto& c : standbys) {
    if (!chosen.empty() && c.name != chosen) continue;
    try {
      std::string a = sql(c.name,
                          "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none') || '|' || "
                          "coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint, -1);\n",
                          10s);
      auto f = util::split(a, '|');
      if (f.size() != 2 || f[0] != "streaming") {
        why_not.push_back(fmt::format("{}: not streaming ({})", c.name, a));
        continue;
      }
      long long lsn = std::stoll(f[1]);
      if (lsn > best) {
        best = lsn;
        target = c.name;
      }
    } catch (const std::exception& e) {
      why_not.push_back(fmt::format("{}: {}", c.name, e.what()));
    }
  }
  if (target.empty())
    throw Error(ExitCode::failed, chosen.empty() ? "no standby to switch over to" : fmt::format("{} is not a streaming standby", chosen),
                why_not.empty() ? "no standby container runs" : util::join(why_not, "; "), "run 'statectl status --target compose'");
  m_printer.info(fmt::format("switching over from {} to {}", old.name, target));
  // Back to postgres-primary's container: the rendered host name, as deployed.
  bool deployed = false;
  for (const auto& c : standbys)
    if (c.name == target) deployed = c.service == "postgres-primary";
  std::string host = deployed ? "postgres-primary" : target;

  // Before the pause (a restart only reads them): the old primary's way to the new one. The
  // password goes on stdin into a 0600 file beside the data directory, as in a standby's container.
  secrets::Store store(m_cfg);
  std::string password = store.require("replication");
  std::string escaped;
  for (char c : password) {
    if (c == ':' || c == '\\') escaped += '\\';
    escaped += c;
  }
  exec::Command pass = deploy::command({"docker", "exec", "-i", "--user", k_switch_uid, old.name, "sh", "-c", "umask 077 && cat >\"$0\"", k_switch_passfile},
                                       true, 15s);
  pass.stdin_data = fmt::format("*:*:*:{}:{}\n", deploy::k_compose_replication_role, escaped);
  deploy::run_checked(m_runner, pass, "writing the replication password file in " + old.name);
  // A TLS render: the standbys check that the new primary's certificate comes from statectl's CA
  // (verify-ca, as PgBouncer does: the primary is named by its container name here, which no
  // certificate lists; only this stack's servers hold a certificate of that CA).
  const bool tls = compose_client_tls(m_cfg, m_dir).enabled;
  auto conninfo = [tls](const std::string& to_host) {
    return util::sql_quote(fmt::format("host={} port=5432 user={} passfile={}{}", to_host, deploy::k_compose_replication_role, k_switch_passfile,
                                       tls ? " sslmode=verify-ca sslrootcert=/run/secrets/ca.crt" : ""));
  };
  sql(old.name, fmt::format("ALTER SYSTEM SET primary_conninfo = {};\n", conninfo(host)), 15s);
  docker({"exec", "--user", k_switch_uid, old.name, "touch", std::string(k_switch_pgdata) + "/standby.signal"}, "marking " + old.name + " a standby", 15s);

  Switched sw;
  sw.old_primary = old.name;
  sw.new_primary = target;
  bool stopped = false, promoted = false, resumed = false;
  m_printer.info("pausing writes at PgBouncer (PAUSE)");
  auto pause = steady_clock::now();
  try {
    pause_poolers("PAUSE");
    std::string lsn = sql(old.name, "SELECT pg_current_wal_lsn();\n", 15s);
    m_printer.info(fmt::format("waiting for {} to replay up to {}", target, lsn));
    if (!local::wait_for(
          [&] {
            try {
              return sql(target, fmt::format("SELECT pg_last_wal_replay_lsn() >= {}::pg_lsn;\n", util::sql_quote(lsn)), 5s) == "t";
            } catch (const Error&) {
              return false;
            }
          },
          timeout, 20ms))
      throw Error(ExitCode::failed, fmt::format("{} did not replay up to {} within {}", target, lsn, util::format_duration(timeout)));
    // A clean (fast) shutdown: the WAL senders hand the shutdown checkpoint to the streaming
    // standbys before the server exits, so the old primary can follow the new one without a rewind.
    m_printer.info(fmt::format("stopping {} cleanly", old.name));
    stopped = true;
    docker({"stop", "--time", "60", old.name}, "stopping " + old.name, 2min);
    bool sync = config::settings(m_cfg).postgres.synchronous;
    m_printer.info(fmt::format("promoting {}", target));
    std::string promote = sql(target,
                              fmt::format("ALTER SYSTEM SET synchronous_standby_names = {};\nSELECT pg_reload_conf();\nSELECT pg_promote(true, 30);\n",
                                          util::sql_quote(sync ? "ANY 1 (*)" : "")),
                              40s);
    if (promote.empty() || promote.back() != 't') throw Error(ExitCode::failed, fmt::format("{} was not promoted within 30s", target), promote);
    promoted = true;
    compose_roles::record_primary(m_cfg, target, deployed);
    m_printer.info(fmt::format("repointing PgBouncer to {}", target));
    repoint_poolers(host, true);
    for (const auto& c : standbys)
      if (c.name != target) sql(c.name, fmt::format("ALTER SYSTEM SET primary_conninfo = {};\nSELECT pg_reload_conf();\n", conninfo(host)), 15s);
    m_printer.info(fmt::format("starting {} as a standby of {}", old.name, target));
    docker({"start", old.name}, "starting " + old.name, 2min);
    PgContainer now{"", host, "", "", true};
    // With synchronous replication a commit on the new primary waits for a standby: RESUME once
    // one streams, so the pause is the whole time writes were held.
    if (sync) wait_streaming(now, old.name, timeout);
    pause_poolers("RESUME");
    resumed = true;
    sw.pause_ms = switch_ms_since(pause);
    m_printer.info(fmt::format("writes resumed after {} ms", sw.pause_ms));
    if (!sync) wait_streaming(now, old.name, timeout);
    for (const auto& c : standbys)
      if (c.name != target) wait_streaming(now, c.name, timeout);
  } catch (const Error& e) {
    if (!promoted) {
      // Put the old primary back as it was: no standby.signal, running.
      m_printer.warn(fmt::format("switchover failed before the promotion ({}); {} stays the primary", e.message(), old.name));
      try {
        if (stopped) {
          docker({"run", "--rm", "--network", "none", "--volumes-from", old.name, "--user", k_switch_uid, "--entrypoint", "rm", old.image, "-f",
                  std::string(k_switch_pgdata) + "/standby.signal"},
                 "unmarking " + old.name, 2min);
          docker({"start", old.name}, "starting " + old.name, 2min);
        } else {
          docker({"exec", "--user", k_switch_uid, old.name, "rm", "-f", std::string(k_switch_pgdata) + "/standby.signal"}, "unmarking " + old.name, 15s);
        }
      } catch (const Error& undo) {
        m_printer.warn(fmt::format("could not put {} back: {}", old.name, undo.message()));
      }
    } else if (!resumed && config::settings(m_cfg).postgres.synchronous) {
      // No standby streams from the new primary: commits would wait forever.
      m_printer.warn(fmt::format("{} has no streaming standby; clearing synchronous_standby_names so writes go on", target));
      try {
        sql(target, "ALTER SYSTEM SET synchronous_standby_names = '';\nSELECT pg_reload_conf();\n", 15s);
      } catch (const Error&) {
      }
    }
    if (!resumed) {
      try {
        pause_poolers("RESUME");
      } catch (const Error& r) {
        m_printer.warn(r.message() + "; run RESUME on its admin console");
      }
    }
    throw;
  }
  sw.rejoin = fmt::format("{} restarted as a standby of {} (clean shutdown, no rewind)", old.name, target);
  return sw;
}

} // namespace statectl::targets::detail

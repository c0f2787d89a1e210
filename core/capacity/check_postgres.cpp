// PostgreSQL and PgBouncer checks of `capacity check`: one connection per server, one query per
// check, so a failing query makes only its own check UNKNOWN.
#include <cmath>
#include <fmt/format.h>
#include <functional>
#include <memory>
#include <sys/statvfs.h>

#include "core/capacity/check.h"
#include "core/capacity/connect.h"
#include "core/clients/postgres.h"
#include "core/exec/redact.h"
#include "core/stack/endpoints.h"
#include "core/util/strings.h"

namespace statectl::capacity {

namespace {

// 2^31: the transaction ID distance at which PostgreSQL stops accepting writes.
constexpr double k_wraparound_limit = 2147483648.0;

std::string first_line(const std::string& text)
{
  std::string s = util::trim(text);
  auto nl = s.find('\n');
  return exec::redact(nl == std::string::npos ? s : s.substr(0, nl));
}

std::string pct_text(double pct) { return pct < 0.1 && pct > 0 ? fmt::format("{:.3f}%", pct) : fmt::format("{:.1f}%", pct); }

// Runs fill(result) against the connection; an SQL error makes the check UNKNOWN with its text.
void run_query_check(clients::PgConnection* conn, const std::string& unreachable, CheckResult c,
                     const std::function<void(clients::PgConnection&, CheckResult&)>& fill, std::vector<CheckResult>& out)
{
  if (!conn) {
    c.status = Status::unknown;
    c.message = unreachable;
  } else {
    try {
      fill(*conn, c);
    } catch (const std::exception& e) {
      c.status = Status::unknown;
      c.message = "query failed: " + first_line(e.what());
    }
  }
  out.push_back(std::move(c));
}

std::unique_ptr<clients::PgConnection> connect(const config::Config& cfg, const stack::PgEndpoint& ep, const Thresholds& t,
                                               std::string& error)
{
  try {
    return std::make_unique<clients::PgConnection>(
      clients::PgConnection::connect(pg_params(ep, stack_password(cfg, ep.password_secret), t.connect_timeout)));
  } catch (const std::exception& e) {
    error = "cannot connect: " + first_line(e.what());
    return nullptr;
  }
}

struct ReplicaState {
  bool reachable = false;
  std::string error;
  bool in_recovery = false;
  std::string receiver_status;
  std::optional<std::uint64_t> replay_lsn;
  double replay_delay_s = 0;
};

ReplicaState probe_replica(const config::Config& cfg, const stack::PgEndpoint& ep, const Thresholds& t)
{
  ReplicaState s;
  auto conn = connect(cfg, ep, t, s.error);
  if (!conn) return s;
  try {
    clients::PgConnection& tx = *conn;
    // Time behind counts only while there is WAL left to replay; an idle primary writes no new
    // transactions, so the last replayed commit ages without the replica being behind.
    auto r = tx.exec(
      "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
      "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
      "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8, "
      "coalesce((SELECT status FROM pg_stat_wal_receiver), 'stopped')");
    s.reachable = true;
    s.in_recovery = r[0][0].as<bool>();
    if (!r[0][1].is_null()) s.replay_lsn = parse_lsn(r[0][1].as<std::string>());
    s.replay_delay_s = r[0][2].as<double>();
    s.receiver_status = r[0][3].as<std::string>();
  } catch (const std::exception& e) {
    s.error = "query failed: " + first_line(e.what());
  }
  return s;
}

} // namespace

void check_postgres(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out)
{
  auto ep = stack::resolve(cfg);
  const std::string target = pg_target(ep.primary);
  std::string error;
  auto conn = connect(cfg, ep.primary, t, error);
  clients::PgConnection* c = conn.get();

  run_query_check(c, error, new_check("connections", "postgres", target), [&](clients::PgConnection& tx, CheckResult& r) {
    auto row = tx.exec("SELECT count(*) FILTER (WHERE backend_type = 'client backend'), "
                       "current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int "
                       "FROM pg_stat_activity")[0];
    auto used = row[0].as<long long>();
    auto max = row[1].as<long long>();
    double pct = 100.0 * static_cast<double>(used) / static_cast<double>(max);
    r.status = t.by_percent("connections", pct);
    r.value = fmt::format("{} of {} ({})", used, max, pct_text(pct));
    if (r.status != Status::ok)
      r.message = fmt::format("{} connection(s) left for clients ({} more are reserved for superusers): pool through PgBouncer "
                              "or raise max_connections",
                              std::max(0LL, max - row[2].as<long long>() - used), row[2].as<long long>());
    r.metrics = {{"used", used}, {"max", max}, {"percent", pct}};
    const double share = static_cast<double>(max) / 100.0;
    r.perf.push_back({.label = "connections", .value = static_cast<double>(used), .warn = t.warn_for("connections").scaled(share),
                      .crit = t.crit_for("connections").scaled(share), .min = 0, .max = static_cast<double>(max),
                      .metric = "postgres_connections", .help = "Client backends connected to PostgreSQL."});
    r.perf.push_back({.label = "connections_pct", .value = pct, .uom = "%", .warn = t.warn_for("connections"),
                      .crit = t.crit_for("connections"), .min = 0, .max = 100});
    r.perf.push_back({.label = "max_connections", .value = static_cast<double>(max), .min = 0,
                      .metric = "postgres_max_connections", .help = "PostgreSQL's max_connections setting."});
  }, out);

  run_query_check(c, error, new_check("database_size", "postgres", target), [&](clients::PgConnection& tx, CheckResult& r) {
    auto row = tx.exec("SELECT (SELECT sum(pg_database_size(datname))::bigint FROM pg_database), "
                       "current_setting('data_directory')")[0];
    auto size = row[0].as<std::uint64_t>();
    std::string dir = row[1].as<std::string>();
    r.metrics = {{"database_bytes", size}};
    r.perf.push_back({.label = "database_size", .value = static_cast<double>(size), .uom = "B", .min = 0,
                      .metric = "postgres_database_size_bytes", .help = "Size of all PostgreSQL databases together."});
    struct statvfs vfs {};
    if (!is_local_host(ep.primary.host) || !ep.primary.url.empty()) {
      r.status = Status::unknown;
      r.value = util::format_size(size);
      r.message = "free disk of a remote server cannot be measured; check the volume with the provider's metrics";
      return;
    }
    if (::statvfs(dir.c_str(), &vfs) != 0) {
      r.status = Status::unknown;
      r.value = util::format_size(size);
      r.message = fmt::format("cannot stat the data directory {}", dir);
      return;
    }
    std::uint64_t free = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    // The share of the space the databases could grow into that they already use.
    double pct = size + free == 0 ? 100.0 : 100.0 * static_cast<double>(size) / static_cast<double>(size + free);
    r.status = t.by_percent("database_size", pct);
    r.value = fmt::format("{} with {} free ({} used)", util::format_size(size), util::format_size(free), pct_text(pct));
    if (r.status != Status::ok) r.message = "grow the volume or prune data before the disk fills";
    r.metrics["free_bytes"] = free;
    r.metrics["percent"] = pct;
    r.perf.push_back({.label = "database_size_pct", .value = pct, .uom = "%", .warn = t.warn_for("database_size"),
                      .crit = t.crit_for("database_size"), .min = 0, .max = 100});
    r.perf.push_back({.label = "disk_free", .value = static_cast<double>(free), .uom = "B", .min = 0,
                      .metric = "postgres_data_directory_free_bytes",
                      .help = "Free space on the file system of the PostgreSQL data directory."});
  }, out);

  // Replication: what the primary sees, then each configured standby from its own side.
  std::optional<std::uint64_t> primary_lsn;
  long long streaming = -1;
  run_query_check(c, error, new_check("replication_replicas", "postgres", target), [&](clients::PgConnection& tx, CheckResult& r) {
    auto row = tx.exec("SELECT pg_is_in_recovery(), "
                       "(SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'), "
                       "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END")[0];
    if (row[0].as<bool>()) {
      r.status = Status::critical;
      r.value = "in recovery";
      r.message = "the configured primary is a standby: run `statectl status` to find the current primary";
      return;
    }
    primary_lsn = parse_lsn(row[2].as<std::string>());
    streaming = row[1].as<long long>();
    auto expected = static_cast<long long>(ep.replicas.size());
    r.value = fmt::format("{} of {} streaming", streaming, expected);
    r.metrics = {{"streaming", streaming}, {"expected", expected}};
    // Fewer than expected warns, none at all is critical (when any is expected).
    Perf p{.label = "replicas_streaming", .value = static_cast<double>(streaming), .min = 0,
           .max = static_cast<double>(expected), .metric = "postgres_replicas_streaming",
           .help = "Standbys streaming from the PostgreSQL primary."};
    if (expected > 0) {
      p.warn = Range::below(static_cast<double>(expected));
      p.crit = Range::below(1);
    }
    r.perf.push_back(p);
    r.perf.push_back({.label = "replicas_expected", .value = static_cast<double>(expected), .min = 0,
                      .metric = "postgres_replicas_expected", .help = "Standbys the stack is configured with."});
    r.status = Status::ok;
    if (streaming < expected) {
      r.status = streaming == 0 ? Status::critical : Status::warning;
      r.message = fmt::format("{} standby(s) not streaming: failover would lose data or have no candidate",
                              expected - streaming);
    }
  }, out);

  for (const auto& replica : ep.replicas) {
    CheckResult r = new_check("replication_lag", "postgres", pg_target(replica));
    ReplicaState s = probe_replica(cfg, replica, t);
    if (!s.reachable) {
      // Unreachable and absent from the primary's senders is a known-dead standby, not an
      // unknown one; without the primary's view it is only unknown.
      r.status = primary_lsn && streaming >= 0 && streaming < static_cast<long long>(ep.replicas.size()) ? Status::critical
                                                                                                    : Status::unknown;
      r.value = "unreachable";
      r.message = s.error;
    } else if (!s.in_recovery) {
      r.status = Status::critical;
      r.value = "not in recovery";
      r.message = "the standby was promoted or is a separate primary (split brain?)";
    } else if (s.receiver_status != "streaming") {
      r.status = Status::critical;
      r.value = fmt::format("WAL receiver {}", s.receiver_status);
      r.message = "the standby is not streaming from the primary";
    } else if (!primary_lsn || !s.replay_lsn) {
      r.status = Status::unknown;
      r.value = fmt::format("{} behind", format_seconds(s.replay_delay_s));
      r.message = error.empty() ? "no WAL position to compare" : "primary unreachable: " + error;
    } else {
      std::uint64_t bytes = *primary_lsn > *s.replay_lsn ? *primary_lsn - *s.replay_lsn : 0;
      r.value = fmt::format("{} and {} behind", util::format_size(bytes), format_seconds(s.replay_delay_s));
      r.metrics = {{"lag_bytes", bytes}, {"lag_seconds", s.replay_delay_s}};
      r.perf.push_back({.label = "replication_lag " + r.target, .value = static_cast<double>(bytes), .uom = "B",
                        .warn = Range::above(static_cast<double>(t.lag_warn_bytes)),
                        .crit = Range::above(static_cast<double>(t.lag_crit_bytes)), .min = 0,
                        .metric = "postgres_replication_lag_bytes", .help = "WAL bytes a standby has yet to replay."});
      r.perf.push_back({.label = "replication_delay " + r.target, .value = s.replay_delay_s, .uom = "s",
                        .warn = Range::above(t.lag_warn_s), .crit = Range::above(t.lag_crit_s), .min = 0,
                        .metric = "postgres_replication_lag_seconds",
                        .help = "Age of the last transaction a standby replayed while it has WAL left to replay."});
      if (bytes > t.lag_crit_bytes || s.replay_delay_s > t.lag_crit_s) r.status = Status::critical;
      else if (bytes > t.lag_warn_bytes || s.replay_delay_s > t.lag_warn_s) r.status = Status::warning;
      else r.status = Status::ok;
      if (r.status != Status::ok) r.message = "the standby replays slower than the primary writes";
    }
    out.push_back(std::move(r));
  }

  run_query_check(c, error, new_check("wraparound", "postgres", target), [&](clients::PgConnection& tx, CheckResult& r) {
    auto row = tx.exec("SELECT datname, age(datfrozenxid)::bigint FROM pg_database ORDER BY 2 DESC LIMIT 1")[0];
    auto age = row[1].as<long long>();
    double pct = 100.0 * static_cast<double>(age) / k_wraparound_limit;
    r.status = t.by_percent("wraparound", pct);
    r.value = fmt::format("{} transactions in {} ({} of 2^31)", age, row[0].as<std::string>(), pct_text(pct));
    if (r.status != Status::ok) r.message = "run VACUUM (FREEZE) on the oldest tables before PostgreSQL stops accepting writes";
    r.metrics = {{"age", age}, {"percent", pct}};
    r.perf.push_back({.label = "wraparound_age", .value = static_cast<double>(age),
                      .warn = t.warn_for("wraparound").scaled(k_wraparound_limit / 100.0),
                      .crit = t.crit_for("wraparound").scaled(k_wraparound_limit / 100.0), .min = 0, .max = k_wraparound_limit,
                      .metric = "postgres_xid_age", .help = "Transaction ID age of the oldest database (wraparound at 2^31)."});
    r.perf.push_back({.label = "wraparound_pct", .value = pct, .uom = "%", .warn = t.warn_for("wraparound"),
                      .crit = t.crit_for("wraparound"), .min = 0, .max = 100});
  }, out);

  run_query_check(c, error, new_check("archive_ready", "postgres", target), [&](clients::PgConnection& tx, CheckResult& r) {
    auto row = tx.exec("SELECT current_setting('archive_mode'), "
                       "(SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready')")[0];
    auto ready = row[1].as<long long>();
    r.metrics = {{"ready", ready}, {"archive_mode", row[0].as<std::string>()}};
    r.value = fmt::format("{} segment(s) waiting", ready);
    if (row[0].as<std::string>() == "off") r.value += " (archive_mode off)";
    r.status = ready > t.archive_ready_crit ? Status::critical : ready > t.archive_ready_warn ? Status::warning : Status::ok;
    r.perf.push_back({.label = "archive_ready", .value = static_cast<double>(ready),
                      .warn = Range::above(static_cast<double>(t.archive_ready_warn)),
                      .crit = Range::above(static_cast<double>(t.archive_ready_crit)), .min = 0,
                      .metric = "postgres_wal_archive_ready_segments", .help = "WAL segments waiting for archive_command."});
    if (r.status != Status::ok) r.message = "archive_command falls behind: pg_wal grows until the disk fills";
  }, out);

  run_query_check(c, error, new_check("archive_failure", "postgres", target), [&](clients::PgConnection& tx, CheckResult& r) {
    auto row = tx.exec("SELECT failed_count, coalesce(last_failed_wal, ''), coalesce(last_failed_time::text, ''), "
                       "last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time), "
                       "archived_count, coalesce(last_archived_time::text, '') FROM pg_stat_archiver")[0];
    auto failed = row[0].as<long long>();
    bool failing = row[3].as<bool>();
    r.metrics = {{"failed_count", failed}, {"archived_count", row[4].as<long long>()}, {"failing", failing}};
    r.perf.push_back({.label = "archive_failing", .value = failing ? 1.0 : 0.0, .crit = Range::above(0), .min = 0, .max = 1,
                      .metric = "postgres_wal_archive_failing",
                      .help = "1 while archive_command fails (its last attempt failed), else 0."});
    r.perf.push_back({.label = "archive_failed", .value = static_cast<double>(failed), .uom = "c", .min = 0,
                      .metric = "postgres_wal_archive_failed_total", .help = "Failed archive_command attempts since the statistics reset."});
    r.perf.push_back({.label = "archive_archived", .value = static_cast<double>(row[4].as<long long>()), .uom = "c", .min = 0,
                      .metric = "postgres_wal_archived_total", .help = "WAL segments archived since the statistics reset."});
    if (failing) {
      r.status = Status::critical;
      r.value = fmt::format("failing since {}", row[2].as<std::string>());
      r.message = fmt::format("archive_command failed for {}; see the server log", row[1].as<std::string>());
    } else {
      r.status = Status::ok;
      std::string since = row[5].as<std::string>();
      r.value = failed == 0 ? "no failures"
                            : fmt::format("{} earlier failure(s), last at {}, archiving {}", failed, row[2].as<std::string>(),
                                          since.empty() ? "not yet resumed" : "again since " + since);
    }
  }, out);

  auto xact_status = [&](double age) {
    return age > t.xact_crit_s ? Status::critical : age > t.xact_warn_s ? Status::warning : Status::ok;
  };
  run_query_check(c, error, new_check("longest_transaction", "postgres", target), [&](clients::PgConnection& tx, CheckResult& r) {
    auto row = tx.exec("SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8, count(*) "
                       "FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() "
                       "AND backend_type = 'client backend'")[0];
    double age = row[0].as<double>();
    r.status = xact_status(age);
    r.value = fmt::format("{} ({} open)", format_seconds(age), row[1].as<long long>());
    if (r.status != Status::ok) r.message = "long transactions hold back VACUUM and WAL recycling";
    r.metrics = {{"seconds", age}, {"open", row[1].as<long long>()}};
    r.perf.push_back({.label = "longest_transaction", .value = age, .uom = "s", .warn = Range::above(t.xact_warn_s),
                      .crit = Range::above(t.xact_crit_s), .min = 0, .metric = "postgres_longest_transaction_seconds",
                      .help = "Age of the oldest open transaction, idle-in-transaction ones included."});
    r.perf.push_back({.label = "open_transactions", .value = static_cast<double>(row[1].as<long long>()), .min = 0,
                      .metric = "postgres_open_transactions", .help = "Client transactions open right now."});
  }, out);

  run_query_check(c, error, new_check("idle_in_transaction", "postgres", target), [&](clients::PgConnection& tx, CheckResult& r) {
    auto row = tx.exec("SELECT count(*), coalesce(max(extract(epoch FROM now() - state_change)), 0)::float8 "
                       "FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'")[0];
    auto count = row[0].as<long long>();
    double age = row[1].as<double>();
    r.status = xact_status(age);
    r.value = fmt::format("{} session(s), longest {}", count, format_seconds(age));
    if (r.status != Status::ok) r.message = "a client holds a transaction open without working; set idle_in_transaction_session_timeout";
    r.metrics = {{"sessions", count}, {"seconds", age}};
    r.perf.push_back({.label = "idle_in_transaction", .value = static_cast<double>(count), .min = 0,
                      .metric = "postgres_idle_in_transaction_sessions", .help = "Sessions idle inside an open transaction."});
    r.perf.push_back({.label = "idle_in_transaction_time", .value = age, .uom = "s", .warn = Range::above(t.xact_warn_s),
                      .crit = Range::above(t.xact_crit_s), .min = 0, .metric = "postgres_idle_in_transaction_max_seconds",
                      .help = "Longest time a session has been idle inside an open transaction."});
  }, out);
}

void check_pgbouncer(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out)
{
  auto ep = stack::resolve(cfg);
  CheckResult r = new_check("pgbouncer_waiting", "pgbouncer", pg_target(ep.pooler));
  if (!ep.pooler.url.empty()) {
    r.status = Status::ok;
    r.value = "not checked";
    r.message = "[postgres] url is set: no PgBouncer of the stack to ask";
    out.push_back(std::move(r));
    return;
  }
  // The admin console speaks only the simple query protocol: exec() without parameters.
  std::optional<clients::PgConnection> conn;
  try {
    conn = clients::PgConnection::connect(pg_params(ep.pooler, stack_password(cfg, ep.pooler.password_secret), t.connect_timeout, "pgbouncer"));
  } catch (const clients::PgError& e) {
    r.status = Status::unknown;
    r.message = "cannot connect: " + first_line(e.what());
    out.push_back(std::move(r));
    return;
  }
  clients::PgResult res;
  try {
    res = conn->exec("SHOW POOLS");
  } catch (const clients::PgError& e) {
    r.status = Status::unknown;
    r.message = "SHOW POOLS failed: " + first_line(e.what());
    out.push_back(std::move(r));
    return;
  }
  int waiting_col = res.column("cl_waiting"), maxwait_col = res.column("maxwait"), maxwait_us_col = res.column("maxwait_us"),
      active_col = res.column("cl_active");
  long long waiting = 0, active = 0;
  double maxwait = 0;
  for (const auto& row : res) {
    auto num = [&](int col) { return col < 0 || row[col].is_null() ? 0LL : std::atoll(row[col].c_str()); };
    waiting += num(waiting_col);
    active += num(active_col);
    maxwait = std::max(maxwait, static_cast<double>(num(maxwait_col)) + static_cast<double>(num(maxwait_us_col)) / 1e6);
  }
  r.metrics = {{"clients_waiting", waiting}, {"clients_active", active}, {"max_wait_seconds", maxwait}};
  r.value = fmt::format("{} waiting, {} active, longest wait {:.1f} s", waiting, active, maxwait);
  r.status = maxwait > t.pool_wait_crit_s ? Status::critical : waiting > 0 ? Status::warning : Status::ok;
  r.perf.push_back({.label = "pgbouncer_waiting", .value = static_cast<double>(waiting), .warn = Range::above(0), .min = 0,
                    .metric = "pgbouncer_clients_waiting", .help = "PgBouncer clients waiting for a server connection."});
  r.perf.push_back({.label = "pgbouncer_active", .value = static_cast<double>(active), .min = 0,
                    .metric = "pgbouncer_clients_active", .help = "PgBouncer clients paired with a server connection."});
  r.perf.push_back({.label = "pgbouncer_max_wait", .value = maxwait, .uom = "s", .crit = Range::above(t.pool_wait_crit_s),
                    .min = 0, .metric = "pgbouncer_max_wait_seconds", .help = "Longest wait of a PgBouncer client."});
  if (r.status != Status::ok) r.message = "clients wait for a server connection: raise default_pool_size (see `capacity plan`)";
  out.push_back(std::move(r));
}

} // namespace statectl::capacity

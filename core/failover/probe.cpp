// The write probe of `failover test` and `failover switchover`. Its PostgreSQL writes use the
// client's deadline calls (libpq's asynchronous API) because every write needs a hard deadline:
// a write that hangs on a dead primary must become "unknown" after --write-timeout, not block.
#include "core/failover/probe.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <fmt/format.h>
#include <thread>

#include "core/error.h"
#include "core/exec/redact.h"
#include "core/clients/redis.h"
#include "core/clients/redis_cluster.h"
#include "core/util/strings.h"

namespace statectl::failover {

using namespace std::chrono;

namespace {

std::string first_line(std::string s)
{
  s = util::trim(s);
  auto nl = s.find('\n');
  return exec::redact(nl == std::string::npos ? s : s.substr(0, nl));
}

using clients::PgConnection;
using clients::PgError;
using clients::PgResult;

// Connects within the deadline; an empty connection and error set otherwise.
PgConnection pg_connect(const PgTarget& target, Clock::time_point deadline, std::string& error)
{
  PgTarget t = target;
  t.application_name = "statectl-failover-probe";
  if (t.tls.sslmode.empty()) t.tls.sslmode = "prefer";
  try {
    return PgConnection::connect_until(t, deadline);
  } catch (const PgError& e) {
    error = first_line(e.what());
    return PgConnection();
  }
}

// Runs one statement within the deadline. Returns the result, or nothing with timed_out telling
// whether the deadline passed (the statement may then have reached the server).
std::optional<PgResult> pg_exec(PgConnection& c, const std::string& sql, const std::vector<clients::PgParam>& params,
                                Clock::time_point deadline, std::string& error, bool& timed_out)
{
  timed_out = false;
  try {
    return c.exec_until(sql, params, deadline);
  } catch (const PgError& e) {
    timed_out = e.kind() == clients::PgFailureKind::timeout && e.sqlstate().empty();
    error = first_line(e.what());
    return std::nullopt;
  }
}

class PgWriter : public Writer {
public:
  PgWriter(PgTarget t, std::string run) : m_target(std::move(t)), m_run(std::move(run)) {}

  void write(std::uint64_t seq, milliseconds timeout, WriteRecord& rec) override
  {
    auto deadline = Clock::now() + timeout;
    if (!m_conn.ok()) {
      m_conn = pg_connect(m_target, deadline, rec.error);
      if (!m_conn) {
        rec.outcome = Outcome::failed; // nothing was sent
        return;
      }
    }
    bool timed_out = false;
    auto r = pg_exec(m_conn,
                     "INSERT INTO " + pg_probe_table() +
                       " (run_id, seq) VALUES ($1, $2) RETURNING host(inet_server_addr()) || ':' || inet_server_port()",
                     {m_run, std::to_string(seq)}, deadline, rec.error, timed_out);
    if (r && r->size() == 1) {
      rec.outcome = Outcome::acked;
      rec.server = (*r)[0][0].as<std::string>();
      return;
    }
    bool broken = !m_conn.ok();
    // A statement that was sent and then lost its connection (or its deadline) may have been
    // committed: only the read-back can tell.
    rec.outcome = timed_out || broken ? Outcome::unknown : Outcome::failed;
    if (timed_out || broken) m_conn = PgConnection();
    else if (rec.error.find("read-only") != std::string::npos || rec.error.find("terminating") != std::string::npos) m_conn = PgConnection();
  }

private:
  PgTarget m_target;
  std::string m_run;
  PgConnection m_conn;
};

using clients::RedisConnection;
using clients::RedisValue;

clients::SentinelOptions sentinel_options(const RedisTarget& t, milliseconds timeout)
{
  clients::SentinelOptions so;
  for (const auto& [host, port] : t.sentinels) so.sentinels.push_back({host, port});
  so.master_name = t.master_name;
  so.user = t.user;
  so.password = t.password;
  so.timeout = timeout;
  so.nat = t.nat;
  so.tls = t.tls;
  return so;
}

// Connects to the current master (found and verified through the Sentinels, or the fixed
// address) and authenticates; an empty connection and error otherwise.
RedisConnection redis_master_conn(const RedisTarget& t, milliseconds timeout, std::string& error, std::string& server)
{
  clients::RedisOptions o;
  o.host = t.host;
  o.port = t.port;
  o.user = t.user;
  o.password = t.password;
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  o.tls = t.tls;
  try {
    if (!t.sentinels.empty()) {
      auto m = clients::connect_master(sentinel_options(t, std::min(timeout, milliseconds(500))), o);
      if (!m) {
        error = "no Sentinel reports a reachable master: " + first_line(m.error());
        return RedisConnection();
      }
      server = fmt::format("{}:{}", m->address.host, m->address.port);
      return std::move(m->connection);
    }
    RedisConnection c = RedisConnection::connect(o);
    server = o.display();
    return c;
  } catch (const clients::RedisError& e) {
    error = e.kind() == clients::RedisFailureKind::auth ? first_line(e.what()) : fmt::format("{}: {}", o.display(), first_line(e.what()));
    return RedisConnection();
  }
}

clients::RedisOptions redis_options(const RedisTarget& t, milliseconds timeout)
{
  clients::RedisOptions o;
  o.host = t.host;
  o.port = t.port;
  o.user = t.user;
  o.password = t.password;
  o.tls = t.tls;
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  return o;
}

clients::RedisCluster redis_cluster(const RedisTarget& t, milliseconds timeout)
{
  std::vector<clients::HostPort> seeds;
  for (const auto& [host, port] : t.cluster) seeds.push_back({host, port});
  return clients::RedisCluster(seeds, redis_options(t, timeout), t.nat);
}

class RedisWriter : public Writer {
public:
  RedisWriter(RedisTarget t, std::string run) : m_target(std::move(t)), m_key(redis_probe_key(run)) {}

  void write(std::uint64_t seq, milliseconds timeout, WriteRecord& rec) override
  {
    if (!m_target.cluster.empty()) return write_cluster(seq, timeout, rec);
    if (!m_conn) {
      m_conn = redis_master_conn(m_target, timeout, rec.error, m_server);
      if (!m_conn) {
        rec.outcome = Outcome::failed;
        return;
      }
    }
    m_conn.set_timeout(timeout);
    try {
      RedisValue r = m_conn.command({"HSET", m_key, std::to_string(seq), "1"});
      if (r.type == RedisValue::Type::integer) {
        rec.outcome = Outcome::acked;
        rec.server = m_server;
        return;
      }
      // An error reply (READONLY, NOREPLICAS, LOADING): not written; look for the master again.
      rec.outcome = Outcome::failed;
      rec.error = first_line(r.is_error() ? r.str : "unexpected reply");
    } catch (const clients::RedisError& e) {
      rec.outcome = Outcome::unknown; // sent, then the connection broke or timed out
      rec.error = first_line(e.what());
    }
    m_conn = RedisConnection();
  }

private:
  // Routed by the key's slot; redirects and a promotion are followed by the cluster client. A
  // failure to reach any master means not written; a broken call may have been written.
  void write_cluster(std::uint64_t seq, milliseconds timeout, WriteRecord& rec)
  {
    int slot = clients::key_slot(m_key);
    try {
      if (!m_cluster) m_cluster.emplace(redis_cluster(m_target, timeout));
      RedisValue r = m_cluster->command({"HSET", m_key, std::to_string(seq), "1"}, slot);
      if (r.type == RedisValue::Type::integer) {
        rec.outcome = Outcome::acked;
        rec.server = m_cluster->master_of(slot);
        return;
      }
      rec.outcome = Outcome::failed;
      rec.error = first_line(r.is_error() ? r.str : "unexpected reply");
    } catch (const clients::RedisError& e) {
      rec.outcome = e.kind() == clients::RedisFailureKind::connect || e.kind() == clients::RedisFailureKind::auth ? Outcome::failed : Outcome::unknown;
      rec.error = first_line(e.what());
    }
    m_cluster.reset();
  }

  RedisTarget m_target;
  std::string m_key;
  RedisConnection m_conn;
  std::optional<clients::RedisCluster> m_cluster;
  std::string m_server;
};

} // namespace

std::string pg_probe_table() { return "statectl_failover_probe"; }
std::string redis_probe_key(const std::string& run_id) { return "statectl:failover:{failover}:" + run_id; }
int redis_probe_slot() { return clients::key_slot(redis_probe_key("")); }

namespace {

// A passing answer of the clients' path, not a verdict on the stack: PgBouncer refuses logins
// for server_login_retry after one server login failed (a member restarting, HAProxy recreated by
// `scale`, a failover just done), and a server that starts up or shuts down refuses briefly too.
bool pg_transient(const std::string& error)
{
  for (const char* s : {"server_login_retry", "server login has been failing", "pgbouncer cannot connect to server",
                        "the database system is starting up", "the database system is shutting down",
                        "the database system is not yet accepting connections", "no more connections allowed"})
    if (error.find(s) != std::string::npos) return true;
  return false;
}

} // namespace

void pg_prepare(const PgTarget& target, milliseconds timeout)
{
  std::string error;
  auto deadline = Clock::now() + timeout;
  // Connect and create, again while the answer is a passing one (see pg_transient) and the
  // timeout allows; any other failure is reported at once.
  PgConnection c;
  for (;;) {
    error.clear();
    c = pg_connect(target, deadline, error);
    bool timed_out = false;
    if (c && pg_exec(c,
                     "CREATE TABLE IF NOT EXISTS " + pg_probe_table() +
                       " (run_id text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, seq))",
                     {}, deadline, error, timed_out))
      break;
    if (!pg_transient(error) || Clock::now() + milliseconds(250) >= deadline) {
      if (!c) throw Error(ExitCode::unavailable, "cannot connect to PostgreSQL through the clients' path", error, "run 'statectl status'");
      throw Error(ExitCode::failed, "cannot create the probe table " + pg_probe_table(), error);
    }
    c = PgConnection();
    std::this_thread::sleep_for(milliseconds(250));
  }
  bool timed_out = false;
  // The table must exist on every standby before the fault: with asynchronous replication (and
  // Patroni's default) a standby that had not replayed the CREATE yet can be promoted, and then
  // no write could succeed after the failover. Wait (within the timeout) until every streaming
  // standby has replayed past it (a role that cannot see replay_lsn, NULL then, waits for nothing).
  auto lsn = pg_exec(c, "SELECT pg_current_wal_lsn()::text", {}, deadline, error, timed_out);
  if (!lsn || lsn->size() != 1) return;
  std::string created_at = (*lsn)[0][0].as<std::string>();
  while (Clock::now() < deadline) {
    auto r = pg_exec(c,
                         "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND replay_lsn < $1::pg_lsn",
                         {created_at}, deadline, error, timed_out);
    if (!r || r->size() != 1 || (*r)[0][0].view() == "0") return;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

bool pg_has_probe_table(const PgTarget& target, milliseconds timeout)
{
  std::string error;
  auto deadline = Clock::now() + timeout;
  PgConnection c = pg_connect(target, deadline, error);
  if (!c) return false;
  bool timed_out = false;
  auto r = pg_exec(c, "SELECT to_regclass($1) IS NOT NULL", {pg_probe_table()}, deadline, error, timed_out);
  return r && r->size() == 1 && (*r)[0][0].view() == "t";
}

std::set<std::uint64_t> pg_read_back(const PgTarget& target, const std::string& run_id, milliseconds timeout)
{
  std::string error;
  auto deadline = Clock::now() + timeout;
  PgConnection c = pg_connect(target, deadline, error);
  if (!c) throw Error(ExitCode::unavailable, "cannot read back the probe writes", error);
  bool timed_out = false;
  auto r = pg_exec(c, "SELECT seq FROM " + pg_probe_table() + " WHERE run_id = $1", {run_id}, deadline, error, timed_out);
  if (!r) throw Error(ExitCode::unavailable, "cannot read back the probe writes", error);
  std::set<std::uint64_t> out;
  for (const auto& row : *r) out.insert(row[0].as<std::uint64_t>());
  return out;
}

void pg_cleanup(const PgTarget& target, const std::string& run_id)
{
  std::string error;
  auto deadline = Clock::now() + seconds(5);
  PgConnection c = pg_connect(target, deadline, error);
  if (!c) return;
  bool timed_out = false;
  pg_exec(c, "DELETE FROM " + pg_probe_table() + " WHERE run_id = $1", {run_id}, deadline, error, timed_out);
}

std::optional<std::pair<std::string, int>> redis_master(const RedisTarget& target, milliseconds timeout)
{
  if (!target.cluster.empty()) {
    try {
      auto c = redis_cluster(target, timeout);
      c.refresh();
      std::string node = c.master_of(redis_probe_slot());
      auto colon = node.rfind(':');
      if (colon == std::string::npos) return std::nullopt;
      return std::make_pair(node.substr(0, colon), std::atoi(node.c_str() + colon + 1));
    } catch (const clients::RedisError&) {
      return std::nullopt;
    }
  }
  if (!target.sentinels.empty()) {
    if (auto m = clients::ask_sentinels(sentinel_options(target, timeout))) return std::make_pair(m->host, m->port);
    return std::nullopt;
  }
  if (target.port) return std::make_pair(target.host, target.port);
  return std::nullopt;
}

std::optional<std::pair<std::string, int>> redis_master_announced(const RedisTarget& target, milliseconds timeout)
{
  if (target.sentinels.empty()) return std::nullopt;
  auto m = clients::ask_sentinels(sentinel_options(target, timeout));
  if (!m) return std::nullopt;
  auto colon = m->announced.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(m->announced.substr(0, colon), std::atoi(m->announced.c_str() + colon + 1));
}

std::vector<int> redis_sentinel_views(const RedisTarget& target, milliseconds timeout)
{
  std::vector<int> out;
  for (const auto& [host, port] : target.sentinels) {
    RedisTarget one = target;
    one.sentinels = {{host, port}};
    auto m = redis_master(one, timeout);
    out.push_back(m ? m->second : 0);
  }
  return out;
}

std::set<std::uint64_t> redis_read_back(const RedisTarget& target, const std::string& run_id, milliseconds timeout)
{
  RedisValue r;
  try {
    if (!target.cluster.empty()) {
      r = redis_cluster(target, timeout).command({"HKEYS", redis_probe_key(run_id)}, redis_probe_slot());
    } else {
      std::string error, server;
      RedisConnection c = redis_master_conn(target, timeout, error, server);
      if (!c) throw Error(ExitCode::unavailable, "cannot read back the probe writes", error);
      r = c.command({"HKEYS", redis_probe_key(run_id)});
    }
  } catch (const clients::RedisError& e) {
    throw Error(ExitCode::unavailable, "cannot read back the probe writes", first_line(e.what()));
  }
  if (r.type != RedisValue::Type::array) throw Error(ExitCode::unavailable, "cannot read back the probe writes", first_line(r.text()));
  std::set<std::uint64_t> out;
  for (const auto& e : r.elements)
    if (e.type == RedisValue::Type::string) out.insert(std::stoull(e.str));
  return out;
}

void redis_cleanup(const RedisTarget& target, const std::string& run_id)
{
  if (!target.cluster.empty()) {
    try {
      redis_cluster(target, seconds(2)).command({"DEL", redis_probe_key(run_id)}, redis_probe_slot());
    } catch (const clients::RedisError&) {
      // Best effort: the key is the run's only.
    }
    return;
  }
  std::string error, server;
  RedisConnection c = redis_master_conn(target, seconds(2), error, server);
  if (!c) return;
  try {
    c.command({"DEL", redis_probe_key(run_id)});
  } catch (const clients::RedisError&) {
    // Best effort: the key is the run's only.
  }
}

std::unique_ptr<Writer> make_pg_writer(const PgTarget& target, const std::string& run_id)
{
  return std::make_unique<PgWriter>(target, run_id);
}

std::unique_ptr<Writer> make_redis_writer(const RedisTarget& target, const std::string& run_id)
{
  return std::make_unique<RedisWriter>(target, run_id);
}

Probe::Probe(Factory factory, int rate, int threads, milliseconds write_timeout)
  : m_factory(std::move(factory)), m_rate(std::max(1, rate)), m_threads(std::max(1, threads)), m_timeout(write_timeout)
{
}

Probe::~Probe() { stop(); }

void Probe::start()
{
  m_t0 = Clock::now();
  for (int i = 0; i < m_threads; ++i) m_workers.emplace_back([this] { run(); });
}

void Probe::stop()
{
  m_stop = true;
  for (auto& t : m_workers)
    if (t.joinable()) t.join();
  m_workers.clear();
}

void Probe::run()
{
  std::unique_ptr<Writer> w = m_factory();
  while (!m_stop) {
    std::uint64_t seq = m_next++;
    auto due = m_t0 + microseconds(static_cast<std::int64_t>(std::llround(1e6 * static_cast<double>(seq - 1) / m_rate)));
    while (!m_stop && Clock::now() < due) std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), milliseconds(20)));
    if (m_stop) {
      // A number handed out but never written: record nothing, the read-back ignores it.
      break;
    }
    WriteRecord rec;
    rec.seq = seq;
    rec.started = Clock::now();
    w->write(seq, m_timeout, rec);
    rec.finished = Clock::now();
    if (rec.outcome == Outcome::failed && rec.finished - rec.started < milliseconds(5))
      std::this_thread::sleep_for(milliseconds(5)); // a refused connect: do not spin
    std::lock_guard<std::mutex> lock(m_mutex);
    m_records.push_back(std::move(rec));
  }
}

std::vector<WriteRecord> Probe::records() const
{
  std::lock_guard<std::mutex> lock(m_mutex);
  auto out = m_records;
  std::sort(out.begin(), out.end(), [](const WriteRecord& a, const WriteRecord& b) { return a.seq < b.seq; });
  return out;
}

std::optional<WriteRecord> Probe::first_ack_after(Clock::time_point t, const std::string& not_server) const
{
  std::lock_guard<std::mutex> lock(m_mutex);
  std::optional<WriteRecord> best;
  for (const auto& r : m_records)
    if (r.outcome == Outcome::acked && r.started >= t && (not_server.empty() || r.server != not_server))
      if (!best || r.finished < best->finished) best = r;
  return best;
}

std::optional<WriteRecord> Probe::first_error_after(Clock::time_point t) const
{
  std::lock_guard<std::mutex> lock(m_mutex);
  std::optional<WriteRecord> best;
  for (const auto& r : m_records)
    if (r.outcome != Outcome::acked && r.finished >= t)
      if (!best || r.finished < best->finished) best = r;
  return best;
}

std::string Probe::last_acked_server() const
{
  std::lock_guard<std::mutex> lock(m_mutex);
  const WriteRecord* best = nullptr;
  for (const auto& r : m_records)
    if (r.outcome == Outcome::acked && (!best || r.finished > best->finished)) best = &r;
  return best ? best->server : std::string();
}

std::uint64_t Probe::acked() const
{
  std::lock_guard<std::mutex> lock(m_mutex);
  return static_cast<std::uint64_t>(std::count_if(m_records.begin(), m_records.end(), [](const WriteRecord& r) { return r.outcome == Outcome::acked; }));
}

} // namespace statectl::failover

// The write probe of `failover test` and `failover switchover`. It talks libpq's asynchronous
// API directly (not libpqxx) because every write needs a hard deadline: a write that hangs on a
// dead primary must become "unknown" after --write-timeout, not block the probe.
#include "core/failover/probe.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <thread>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <poll.h>

#include "core/error.h"
#include "core/exec/redact.h"
#include "core/util/redis.h"
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

// Waits until fd is readable (or writable) or the deadline passes.
bool wait_fd(int fd, bool for_write, Clock::time_point deadline)
{
  auto left = duration_cast<milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return false;
  pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  int r = ::poll(&p, 1, static_cast<int>(left));
  return r > 0;
}

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
struct PgResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultCloser>;

// Connects within the deadline; nullptr and error set otherwise.
PgConn pg_connect(const PgTarget& t, Clock::time_point deadline, std::string& error)
{
  std::string port = std::to_string(t.port);
  std::vector<const char*> keys, values;
  if (!t.url.empty()) {
    keys = {"dbname"};
    values = {t.url.c_str()};
  } else {
    keys = {"host", "port", "user", "dbname"};
    values = {t.host.c_str(), port.c_str(), t.user.c_str(), t.database.c_str()};
  }
  if (!t.password.empty()) { // without a "password" key libpq reads PGPASSWORD / .pgpass
    keys.push_back("password");
    values.push_back(t.password.c_str());
  }
  keys.insert(keys.end(), {"application_name", "sslmode", nullptr});
  values.insert(values.end(), {"statectl-failover-probe", "prefer", nullptr});
  PgConn c(PQconnectStartParams(keys.data(), values.data(), t.url.empty() ? 0 : 1));
  if (!c) {
    error = "out of memory";
    return nullptr;
  }
  if (PQstatus(c.get()) == CONNECTION_BAD) {
    error = first_line(PQerrorMessage(c.get()));
    return nullptr;
  }
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) {
      error = first_line(PQerrorMessage(c.get()));
      return nullptr;
    }
    if (!wait_fd(PQsocket(c.get()), st == PGRES_POLLING_WRITING, deadline)) {
      error = "connect timed out";
      return nullptr;
    }
    st = PQconnectPoll(c.get());
  }
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr); // "already exists, skipping"
  return c;
}

// Runs one statement within the deadline. Returns the result, or nullptr with `sent` telling
// whether the statement may have reached the server.
PgResult pg_exec(PGconn* c, const std::string& sql, const std::vector<std::string>& params, Clock::time_point deadline,
                 std::string& error, bool& timed_out)
{
  timed_out = false;
  std::vector<const char*> p;
  for (const auto& s : params) p.push_back(s.c_str());
  if (!PQsendQueryParams(c, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(), nullptr, nullptr, 0)) {
    error = first_line(PQerrorMessage(c));
    return nullptr;
  }
  while (PQflush(c) == 1)
    if (!wait_fd(PQsocket(c), true, deadline)) {
      timed_out = true;
      error = "no answer within the write timeout";
      return nullptr;
    }
  PgResult last;
  for (;;) {
    while (PQisBusy(c)) {
      if (!wait_fd(PQsocket(c), false, deadline)) {
        timed_out = true;
        error = "no answer within the write timeout";
        return nullptr;
      }
      if (!PQconsumeInput(c)) {
        error = first_line(PQerrorMessage(c));
        return nullptr;
      }
    }
    PGresult* r = PQgetResult(c);
    if (!r) break;
    last.reset(r);
  }
  if (!last) {
    error = first_line(PQerrorMessage(c));
    return nullptr;
  }
  auto status = PQresultStatus(last.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    error = first_line(PQresultErrorMessage(last.get()));
    return nullptr;
  }
  return last;
}

class PgWriter : public Writer {
public:
  PgWriter(PgTarget t, std::string run) : m_target(std::move(t)), m_run(std::move(run)) {}

  void write(std::uint64_t seq, milliseconds timeout, WriteRecord& rec) override
  {
    auto deadline = Clock::now() + timeout;
    if (!m_conn || PQstatus(m_conn.get()) != CONNECTION_OK) {
      m_conn = pg_connect(m_target, deadline, rec.error);
      if (!m_conn) {
        rec.outcome = Outcome::failed; // nothing was sent
        return;
      }
    }
    bool timed_out = false;
    PgResult r = pg_exec(m_conn.get(),
                         "INSERT INTO " + pg_probe_table() +
                           " (run_id, seq) VALUES ($1, $2) RETURNING host(inet_server_addr()) || ':' || inet_server_port()",
                         {m_run, std::to_string(seq)}, deadline, rec.error, timed_out);
    if (r && PQntuples(r.get()) == 1) {
      rec.outcome = Outcome::acked;
      rec.server = PQgetvalue(r.get(), 0, 0);
      return;
    }
    bool broken = PQstatus(m_conn.get()) != CONNECTION_OK;
    // A statement that was sent and then lost its connection (or its deadline) may have been
    // committed: only the read-back can tell.
    rec.outcome = timed_out || broken ? Outcome::unknown : Outcome::failed;
    if (timed_out || broken) m_conn.reset();
    else if (rec.error.find("read-only") != std::string::npos || rec.error.find("terminating") != std::string::npos) m_conn.reset();
  }

private:
  PgTarget m_target;
  std::string m_run;
  PgConn m_conn;
};

using util::RedisConn;
using util::redis_command;
using Reply = util::RedisReply;

timeval to_tv(milliseconds d)
{
  d = std::max(d, milliseconds(1));
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

RedisConn redis_connect(const std::string& host, int port, milliseconds timeout, std::string& error)
{
  RedisConn c(redisConnectWithTimeout(host.c_str(), port, to_tv(timeout)));
  if (!c || c->err) {
    error = c ? fmt::format("{}:{}: {}", host, port, c->errstr) : "cannot allocate a connection";
    return nullptr;
  }
  redisSetTimeout(c.get(), to_tv(timeout));
  return c;
}

// Connects to the current master and authenticates; nullptr and error otherwise.
RedisConn redis_master_conn(const RedisTarget& t, milliseconds timeout, std::string& error, std::string& server)
{
  std::string host = t.host;
  int port = t.port;
  if (!t.sentinels.empty()) {
    auto m = redis_master(t, std::min(timeout, milliseconds(500)));
    if (!m) {
      error = "no Sentinel reports a master";
      return nullptr;
    }
    host = m->first;
    port = m->second;
  }
  RedisConn c = redis_connect(host, port, timeout, error);
  if (!c) return nullptr;
  if (!t.password.empty()) {
    Reply r = redis_command(c.get(), {"AUTH", t.password});
    if (!r || r->type == REDIS_REPLY_ERROR) {
      error = r ? first_line(r->str) : first_line(c->errstr);
      return nullptr;
    }
  }
  server = fmt::format("{}:{}", host, port);
  return c;
}

class RedisWriter : public Writer {
public:
  RedisWriter(RedisTarget t, std::string run) : m_target(std::move(t)), m_key(redis_probe_key(run)) {}

  void write(std::uint64_t seq, milliseconds timeout, WriteRecord& rec) override
  {
    if (!m_conn) {
      m_conn = redis_master_conn(m_target, timeout, rec.error, m_server);
      if (!m_conn) {
        rec.outcome = Outcome::failed;
        return;
      }
    }
    redisSetTimeout(m_conn.get(), to_tv(timeout));
    Reply r = redis_command(m_conn.get(), {"HSET", m_key, std::to_string(seq), "1"});
    if (r && r->type == REDIS_REPLY_INTEGER) {
      rec.outcome = Outcome::acked;
      rec.server = m_server;
      return;
    }
    if (r) { // an error reply (READONLY, NOREPLICAS, LOADING): not written; look for the master again
      rec.outcome = Outcome::failed;
      rec.error = first_line(r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    } else {
      rec.outcome = Outcome::unknown; // sent, then the connection broke or timed out
      rec.error = first_line(m_conn->errstr);
    }
    m_conn.reset();
  }

private:
  RedisTarget m_target;
  std::string m_key;
  RedisConn m_conn;
  std::string m_server;
};

} // namespace

std::string pg_probe_table() { return "statectl_failover_probe"; }
std::string redis_probe_key(const std::string& run_id) { return "statectl:failover:" + run_id; }

void pg_prepare(const PgTarget& target, milliseconds timeout)
{
  std::string error;
  auto deadline = Clock::now() + timeout;
  PgConn c = pg_connect(target, deadline, error);
  if (!c) throw Error(ExitCode::unavailable, "cannot connect to PostgreSQL through the clients' path", error, "run 'statectl status'");
  bool timed_out = false;
  if (!pg_exec(c.get(),
               "CREATE TABLE IF NOT EXISTS " + pg_probe_table() +
                 " (run_id text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, seq))",
               {}, deadline, error, timed_out))
    throw Error(ExitCode::failed, "cannot create the probe table " + pg_probe_table(), error);
  // The table must exist on every standby before the fault: with asynchronous replication (and
  // Patroni's default) a standby that had not replayed the CREATE yet can be promoted, and then
  // no write could succeed after the failover. Wait (within the timeout) until every streaming
  // standby has replayed past it (a role that cannot see replay_lsn, NULL then, waits for nothing).
  PgResult lsn = pg_exec(c.get(), "SELECT pg_current_wal_lsn()::text", {}, deadline, error, timed_out);
  if (!lsn || PQntuples(lsn.get()) != 1) return;
  std::string created_at = PQgetvalue(lsn.get(), 0, 0);
  while (Clock::now() < deadline) {
    PgResult r = pg_exec(c.get(),
                         "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND replay_lsn < $1::pg_lsn",
                         {created_at}, deadline, error, timed_out);
    if (!r || PQntuples(r.get()) != 1 || std::string(PQgetvalue(r.get(), 0, 0)) == "0") return;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

bool pg_has_probe_table(const PgTarget& target, milliseconds timeout)
{
  std::string error;
  auto deadline = Clock::now() + timeout;
  PgConn c = pg_connect(target, deadline, error);
  if (!c) return false;
  bool timed_out = false;
  PgResult r = pg_exec(c.get(), "SELECT to_regclass($1) IS NOT NULL", {pg_probe_table()}, deadline, error, timed_out);
  return r && PQntuples(r.get()) == 1 && std::string(PQgetvalue(r.get(), 0, 0)) == "t";
}

std::set<std::uint64_t> pg_read_back(const PgTarget& target, const std::string& run_id, milliseconds timeout)
{
  std::string error;
  auto deadline = Clock::now() + timeout;
  PgConn c = pg_connect(target, deadline, error);
  if (!c) throw Error(ExitCode::unavailable, "cannot read back the probe writes", error);
  bool timed_out = false;
  PgResult r = pg_exec(c.get(), "SELECT seq FROM " + pg_probe_table() + " WHERE run_id = $1", {run_id}, deadline, error, timed_out);
  if (!r) throw Error(ExitCode::unavailable, "cannot read back the probe writes", error);
  std::set<std::uint64_t> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) out.insert(std::stoull(PQgetvalue(r.get(), i, 0)));
  return out;
}

void pg_cleanup(const PgTarget& target, const std::string& run_id)
{
  std::string error;
  auto deadline = Clock::now() + seconds(5);
  PgConn c = pg_connect(target, deadline, error);
  if (!c) return;
  bool timed_out = false;
  pg_exec(c.get(), "DELETE FROM " + pg_probe_table() + " WHERE run_id = $1", {run_id}, deadline, error, timed_out);
}

std::optional<std::pair<std::string, int>> redis_master(const RedisTarget& target, milliseconds timeout)
{
  for (const auto& [host, port] : target.sentinels) {
    std::string error;
    RedisConn c = redis_connect(host, port, timeout, error);
    if (!c) continue;
    Reply r = redis_command(c.get(), {"SENTINEL", "get-master-addr-by-name", target.master_name});
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->str && r->element[1]->str) {
      try {
        return std::make_pair(std::string(r->element[0]->str), std::stoi(r->element[1]->str));
      } catch (...) {
      }
    }
  }
  if (target.sentinels.empty() && target.port) return std::make_pair(target.host, target.port);
  return std::nullopt;
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
  std::string error, server;
  RedisConn c = redis_master_conn(target, timeout, error, server);
  if (!c) throw Error(ExitCode::unavailable, "cannot read back the probe writes", error);
  Reply r = redis_command(c.get(), {"HKEYS", redis_probe_key(run_id)});
  if (!r || r->type != REDIS_REPLY_ARRAY)
    throw Error(ExitCode::unavailable, "cannot read back the probe writes", r && r->str ? first_line(r->str) : first_line(c->errstr));
  std::set<std::uint64_t> out;
  for (std::size_t i = 0; i < r->elements; ++i)
    if (r->element[i]->str) out.insert(std::stoull(r->element[i]->str));
  return out;
}

void redis_cleanup(const RedisTarget& target, const std::string& run_id)
{
  std::string error, server;
  RedisConn c = redis_master_conn(target, seconds(2), error, server);
  if (c) redis_command(c.get(), {"DEL", redis_probe_key(run_id)});
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

#include "core/local/probe.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <memory>

#include "core/exec/redact.h"
#include "core/util/redis.h"
#include "core/util/strings.h"

namespace statectl::local {

namespace {

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
using PgResult = std::unique_ptr<PGresult, PgResultCloser>;

std::string first_line(std::string s)
{
  s = util::trim(s);
  auto nl = s.find('\n');
  return exec::redact(nl == std::string::npos ? s : s.substr(0, nl));
}

using util::RedisConn;
using Reply = util::RedisReply;

RedisConn redis_connect(int port, std::chrono::milliseconds timeout, std::string& error)
{
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  RedisConn c(redisConnectWithTimeout("127.0.0.1", port, tv));
  if (!c || c->err) {
    error = c ? c->errstr : "cannot allocate a connection";
    return nullptr;
  }
  redisSetTimeout(c.get(), tv);
  return c;
}


// "key:value" lines of INFO.
std::map<std::string, std::string> parse_info(const std::string& text)
{
  std::map<std::string, std::string> out;
  for (auto& line : util::split(text, '\n')) {
    line = util::trim(line);
    auto colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

std::int64_t to_i64(const std::string& s)
{
  try {
    return std::stoll(s);
  } catch (...) {
    return 0;
  }
}

} // namespace

PgProbe probe_postgres(int port, const ProbeAuth& auth, bool with_replication)
{
  PgProbe p;
  std::string port_s = std::to_string(port);
  std::string timeout_s = std::to_string(std::max<long>(1, static_cast<long>((auth.timeout.count() + 999) / 1000)));
  const char* keys[] = {"host", "port", "user", "password", "dbname", "connect_timeout", "application_name", "sslmode", nullptr};
  const char* values[] = {"127.0.0.1", port_s.c_str(), auth.user.c_str(), auth.password.c_str(), auth.database.c_str(),
                          timeout_s.c_str(), "statectl-status", "disable", nullptr};
  PgConn conn(PQconnectdbParams(keys, values, 0));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    p.error = first_line(conn ? PQerrorMessage(conn.get()) : "out of memory");
    return p;
  }
  auto query = [&](const char* sql) { return PgResult(PQexec(conn.get(), sql)); };
  PgResult r = query("SELECT pg_is_in_recovery(), current_setting('server_version'), "
                     "COALESCE(pg_last_wal_replay_lsn()::text, '')");
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    p.error = first_line(PQerrorMessage(conn.get()));
    return p;
  }
  p.in_recovery = std::string(PQgetvalue(r.get(), 0, 0)) == "t";
  p.version = PQgetvalue(r.get(), 0, 1);
  p.version = p.version.substr(0, p.version.find(' ')); // "15.20 (Debian 15.20-0+deb12u1)" -> "15.20"
  p.receive_lsn = PQgetvalue(r.get(), 0, 2);
  p.ok = true;
  if (with_replication && !p.in_recovery) {
    PgResult rr = query("SELECT application_name, state, sync_state, "
                        "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1)::bigint FROM pg_stat_replication");
    if (rr && PQresultStatus(rr.get()) == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(rr.get()); ++i)
        p.replicas.push_back({PQgetvalue(rr.get(), i, 0), PQgetvalue(rr.get(), i, 1), PQgetvalue(rr.get(), i, 2),
                              to_i64(PQgetvalue(rr.get(), i, 3))});
    }
  }
  return p;
}

RedisProbe probe_redis(int port, const std::string& password, std::chrono::milliseconds timeout)
{
  RedisProbe p;
  RedisConn c = redis_connect(port, timeout, p.error);
  if (!c) return p;
  if (!password.empty()) {
    Reply auth = util::redis_command(c.get(), {"AUTH", password});
    if (!auth || auth->type == REDIS_REPLY_ERROR) {
      p.error = auth ? first_line(auth->str) : first_line(c->errstr);
      return p;
    }
  }
  Reply info = util::redis_command(c.get(), {"INFO"});
  if (!info || info->type != REDIS_REPLY_STRING) {
    p.error = info && info->type == REDIS_REPLY_ERROR ? first_line(info->str) : first_line(c->errstr);
    return p;
  }
  auto kv = parse_info(std::string(info->str, info->len));
  p.ok = true;
  p.role = kv["role"];
  p.version = kv["redis_version"];
  if (p.role == "slave") {
    p.link_up = kv["master_link_status"] == "up";
    p.master_port = static_cast<int>(to_i64(kv["master_port"]));
    p.offset = to_i64(kv["slave_repl_offset"]);
  } else {
    p.offset = to_i64(kv["master_repl_offset"]);
    // slave0:ip=127.0.0.1,port=16380,state=online,offset=123,lag=0
    for (const auto& [k, v] : kv) {
      if (k.rfind("slave", 0) != 0 || k.size() <= 5 || !std::isdigit(static_cast<unsigned char>(k[5]))) continue;
      int rport = 0;
      std::int64_t off = 0;
      for (const auto& field : util::split(v, ',')) {
        if (field.rfind("port=", 0) == 0) rport = static_cast<int>(to_i64(field.substr(5)));
        if (field.rfind("offset=", 0) == 0) off = to_i64(field.substr(7));
      }
      if (rport) p.replica_offsets[rport] = off;
    }
  }
  return p;
}

RedisProbe probe_sentinel(int port, const std::string& master_name, std::chrono::milliseconds timeout)
{
  RedisProbe p;
  RedisConn c = redis_connect(port, timeout, p.error);
  if (!c) return p;
  Reply addr = util::redis_command(c.get(), {"SENTINEL", "get-master-addr-by-name", master_name});
  if (!addr || addr->type != REDIS_REPLY_ARRAY || addr->elements != 2) {
    p.error = addr && addr->type == REDIS_REPLY_ERROR ? first_line(addr->str)
              : addr                                   ? fmt::format("sentinel does not know master '{}'", master_name)
                                                       : first_line(c->errstr);
    return p;
  }
  p.master_port = static_cast<int>(to_i64(addr->element[1]->str));
  Reply master = util::redis_command(c.get(), {"SENTINEL", "master", master_name});
  if (master && master->type == REDIS_REPLY_ARRAY) {
    for (std::size_t i = 0; i + 1 < master->elements; i += 2) {
      std::string k = master->element[i]->str ? master->element[i]->str : "";
      std::string v = master->element[i + 1]->str ? master->element[i + 1]->str : "";
      if (k == "num-other-sentinels") p.sentinels_known = static_cast<int>(to_i64(v));
      if (k == "flags" && v.find("down") != std::string::npos) p.error = "master flagged " + v;
    }
  }
  Reply info = util::redis_command(c.get(), {"INFO", "server"});
  if (info && info->type == REDIS_REPLY_STRING) p.version = parse_info(std::string(info->str, info->len))["redis_version"];
  p.role = "sentinel";
  p.ok = p.error.empty();
  return p;
}

} // namespace statectl::local

#include "core/local/probe.h"

#include <fmt/format.h>
#include <memory>

#include "core/clients/postgres.h"
#include "core/clients/redis.h"
#include "core/exec/redact.h"
#include "core/util/strings.h"

namespace statectl::local {

namespace {

std::string first_line(std::string s)
{
  s = util::trim(s);
  auto nl = s.find('\n');
  return exec::redact(nl == std::string::npos ? s : s.substr(0, nl));
}

using clients::RedisConnection;
using clients::RedisValue;

// Connects to 127.0.0.1:port (AUTH as user, or the default user, with password when set); an
// empty connection and error set otherwise.
RedisConnection redis_connect(int port, const std::string& user, const std::string& password, const clients::ClientTls& tls, std::chrono::milliseconds timeout,
                              std::string& error)
{
  clients::RedisOptions o;
  o.port = port;
  o.tls = clients::redis_tls(tls);
  o.user = user;
  o.password = password;
  o.tolerate_no_password = false;
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  try {
    return RedisConnection::connect(o);
  } catch (const clients::RedisError& e) {
    error = first_line(e.what());
    return RedisConnection();
  }
}

// One command; nothing (and error set) when the connection failed.
std::optional<RedisValue> redis_command(RedisConnection& c, const std::vector<std::string>& args, std::string& error)
{
  try {
    return c.command(args);
  } catch (const clients::RedisError& e) {
    error = first_line(e.what());
    return std::nullopt;
  }
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
  clients::PgParams params;
  params.host = "127.0.0.1";
  params.port = port;
  params.user = auth.user;
  params.password = auth.password;
  params.database = auth.database;
  params.connect_timeout_s = clients::timeout_seconds(auth.timeout, 1);
  params.application_name = "statectl-status";
  params.tls = clients::pg_tls(auth.tls);
  clients::PgConnection conn;
  try {
    conn = clients::PgConnection::connect(params);
    clients::PgResult r = conn.exec("SELECT pg_is_in_recovery(), current_setting('server_version'), "
                                    "COALESCE(pg_last_wal_replay_lsn()::text, '')");
    if (r.size() != 1) {
      p.error = "no row";
      return p;
    }
    p.in_recovery = r[0][0].view() == "t";
    p.version = r[0][1].as<std::string>();
    p.version = p.version.substr(0, p.version.find(' ')); // "15.20 (Debian 15.20-0+deb12u1)" -> "15.20"
    p.receive_lsn = r[0][2].as<std::string>();
    p.tls_protocol = conn.tls_protocol();
  } catch (const clients::PgError& e) {
    p.error = first_line(e.what());
    return p;
  }
  p.ok = true;
  if (with_replication && !p.in_recovery) {
    try {
      clients::PgResult rr = conn.exec("SELECT application_name, state, sync_state, "
                                       "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1)::bigint FROM pg_stat_replication");
      for (const auto& row : rr)
        p.replicas.push_back({std::string(row[0].view()), std::string(row[1].view()), std::string(row[2].view()), to_i64(std::string(row[3].view()))});
    } catch (const clients::PgError&) {
      // A role that cannot read pg_stat_replication: no replicas listed, as before.
    }
  }
  return p;
}

std::string pgbouncer_version(int port, const ProbeAuth& auth)
{
  clients::PgParams params;
  params.host = "127.0.0.1";
  params.port = port;
  params.user = auth.user;
  params.password = auth.password;
  params.database = "pgbouncer";
  params.connect_timeout_s = clients::timeout_seconds(auth.timeout, 1);
  params.application_name = "statectl-status";
  params.tls = clients::pg_tls(auth.tls);
  try {
    auto conn = clients::PgConnection::connect(params);
    // The admin console answers one row, "PgBouncer 1.18.0".
    clients::PgResult r = conn.exec("SHOW VERSION");
    if (r.size() < 1) return {};
    std::string text = r[0][0].as<std::string>();
    auto space = text.rfind(' ');
    return space == std::string::npos ? text : text.substr(space + 1);
  } catch (const clients::PgError&) {
    return {};
  }
}

RedisProbe probe_redis(int port, const std::string& user, const std::string& password, const clients::ClientTls& tls,
                       std::chrono::milliseconds timeout)
{
  RedisProbe p;
  RedisConnection c = redis_connect(port, user, password, tls, timeout, p.error);
  if (!c) return p;
  p.tls_protocol = c.tls_protocol();
  auto info = redis_command(c, {"INFO"}, p.error);
  if (!info) return p;
  if (info->type != RedisValue::Type::string) {
    p.error = first_line(info->is_error() ? info->str : "unexpected reply");
    return p;
  }
  auto kv = clients::info_fields(info->str);
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

RedisProbe probe_sentinel(int port, const std::string& master_name, const clients::ClientTls& tls, std::chrono::milliseconds timeout)
{
  RedisProbe p;
  RedisConnection c = redis_connect(port, "", "", tls, timeout, p.error);
  if (!c) return p;
  p.tls_protocol = c.tls_protocol();
  auto addr = redis_command(c, {"SENTINEL", "get-master-addr-by-name", master_name}, p.error);
  if (!addr) return p;
  if (addr->type != RedisValue::Type::array || addr->elements.size() != 2) {
    p.error = addr->is_error() ? first_line(addr->str) : fmt::format("sentinel does not know master '{}'", master_name);
    return p;
  }
  p.master_port = static_cast<int>(to_i64(addr->elements[1].text()));
  std::string ignored;
  auto master = redis_command(c, {"SENTINEL", "master", master_name}, ignored);
  if (master && master->type == RedisValue::Type::array) {
    for (std::size_t i = 0; i + 1 < master->elements.size(); i += 2) {
      std::string k = master->elements[i].text();
      std::string v = master->elements[i + 1].text();
      if (k == "num-other-sentinels") p.sentinels_known = static_cast<int>(to_i64(v));
      if (k == "flags" && v.find("down") != std::string::npos) p.error = "master flagged " + v;
    }
  }
  auto info = redis_command(c, {"INFO", "server"}, ignored);
  if (info && info->type == RedisValue::Type::string) p.version = clients::info_fields(info->str)["redis_version"];
  p.role = "sentinel";
  p.ok = p.error.empty();
  return p;
}

} // namespace statectl::local

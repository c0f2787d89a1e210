#include "core/clients/redis.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <fmt/format.h>

#include "core/clients/redis_tls.h"
#include "core/exec/redact.h"
#include "core/util/strings.h"

namespace statectl::clients {

namespace {

timeval to_tv(std::chrono::milliseconds d)
{
  d = std::max(d, std::chrono::milliseconds(1));
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

// Why a context failed: hiredis reports a socket timeout as EAGAIN's text (or nothing).
RedisFailure context_failure(const redisContext* c, RedisFailureKind io_kind)
{
  if (!c) return {RedisFailureKind::connect, "cannot allocate a redis context"};
  std::string why = c->errstr;
  if (c->err == REDIS_ERR_IO && (why.find("temporarily unavailable") != std::string::npos || why.empty()))
    return {io_kind == RedisFailureKind::connect ? RedisFailureKind::connect : RedisFailureKind::timeout, "timed out"};
  return {io_kind, exec::redact(why)};
}

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

struct Argv {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  explicit Argv(const std::vector<std::string>& args)
  {
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
  }
};

bool no_password_configured(const std::string& msg)
{
  return msg.find("without any password configured") != std::string::npos || msg.find("no password is set") != std::string::npos;
}

} // namespace

std::string RedisOptions::display() const { return fmt::format("{}:{}", host, port); }

RedisOptions parse_redis_url(const std::string& url)
{
  RedisOptions a;
  std::string rest = url;
  auto scheme = rest.find("://");
  if (scheme == std::string::npos || rest.substr(0, scheme) != "redis")
    throw Error(ExitCode::usage, "invalid [redis] url", "expected redis://[:password@]host[:port][/db]");
  rest = rest.substr(scheme + 3);
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    auto colon = cred.find(':');
    if (colon == std::string::npos) {
      a.password = cred;
    } else {
      a.user = cred.substr(0, colon);
      a.password = cred.substr(colon + 1);
    }
    rest = rest.substr(at + 1);
  }
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) a.db = std::atoi(db.c_str());
  }
  auto colon = rest.rfind(':');
  if (colon != std::string::npos) {
    a.port = std::atoi(rest.substr(colon + 1).c_str());
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) a.host = rest;
  if (!a.password.empty()) exec::register_secret(a.password);
  return a;
}

ExitCode exit_code(const RedisFailure& f, ExitCode reply_code)
{
  switch (f.kind) {
  case RedisFailureKind::reply: return reply_code;
  case RedisFailureKind::unsupported: return ExitCode::usage;
  default: return ExitCode::unavailable;
  }
}

Error to_error(const RedisFailure& f, const std::string& what, const std::string& hint, ExitCode reply_code)
{
  std::string h = hint;
  if (f.kind == RedisFailureKind::auth) h = "check the redis password (the secret store's, see `statectl secrets list`, or [redis] url's) and the server's requirepass/ACL";
  return Error(exit_code(f, reply_code), what, f.message, h);
}

RedisError::RedisError(RedisFailure f) : std::runtime_error(f.message), m_failure(std::move(f)) {}

RedisValue RedisValue::from(const redisReply* r)
{
  RedisValue v;
  if (!r) return v;
  switch (r->type) {
  case REDIS_REPLY_STRING:
    v.type = Type::string;
    v.str.assign(r->str, r->len);
    break;
  case REDIS_REPLY_STATUS:
    v.type = Type::status;
    v.str.assign(r->str, r->len);
    break;
  case REDIS_REPLY_ERROR:
    v.type = Type::error;
    v.str.assign(r->str, r->len);
    break;
  case REDIS_REPLY_INTEGER:
    v.type = Type::integer;
    v.integer = r->integer;
    break;
  case REDIS_REPLY_ARRAY:
    v.type = Type::array;
    v.elements.reserve(r->elements);
    for (std::size_t i = 0; i < r->elements; ++i) v.elements.push_back(from(r->element[i]));
    break;
  default: v.type = Type::nil;
  }
  return v;
}

std::string RedisValue::text() const
{
  switch (type) {
  case Type::string:
  case Type::status:
  case Type::error: return str;
  case Type::integer: return std::to_string(integer);
  default: return {};
  }
}

std::map<std::string, std::string> info_fields(std::string_view info)
{
  std::map<std::string, std::string> out;
  for (auto line : util::split(std::string(info), '\n')) {
    line = util::trim(line);
    auto colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

std::optional<RedisRedirect> redirect_of(const RedisValue& v)
{
  if (!v.is_error()) return std::nullopt;
  auto parts = util::split(v.str, ' ');
  if (parts.size() != 3 || (parts[0] != "MOVED" && parts[0] != "ASK")) return std::nullopt;
  auto colon = parts[2].rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  RedisRedirect r;
  r.ask = parts[0] == "ASK";
  try {
    r.slot = std::stoi(parts[1]);
    r.port = std::stoi(parts[2].substr(colon + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  r.host = parts[2].substr(0, colon);
  return r;
}

// ---- connection ------------------------------------------------------------------------------

RedisTls redis_tls(const ClientTls& tls)
{
  RedisTls t;
  t.enabled = tls.enabled;
  t.ca_file = tls.ca_file;
  t.server_name = tls.server_name;
  return t;
}

RedisConnection::RedisConnection() = default;

RedisConnection::~RedisConnection()
{
  if (m_ctx) redisFree(m_ctx);
}

RedisConnection::RedisConnection(RedisConnection&& o) noexcept
  : m_ctx(std::exchange(o.m_ctx, nullptr)), m_tls(std::move(o.m_tls)), m_display(std::move(o.m_display))
{
}

RedisConnection& RedisConnection::operator=(RedisConnection&& o) noexcept
{
  if (this != &o) {
    if (m_ctx) redisFree(m_ctx);
    m_ctx = std::exchange(o.m_ctx, nullptr);
    m_tls = std::move(o.m_tls);
    m_display = std::move(o.m_display);
  }
  return *this;
}

RedisConnection RedisConnection::connect(const RedisOptions& o)
{
  RedisConnection c;
  c.m_display = o.display();
  if (o.tls.enabled) {
    c.m_tls = RedisTlsTransport::connect(o.host, o.port, o.tls, o.connect_timeout);
  } else {
    redisContext* raw = redisConnectWithTimeout(o.host.c_str(), o.port, to_tv(o.connect_timeout));
    if (!raw || raw->err) {
      RedisFailure f = context_failure(raw, RedisFailureKind::connect);
      if (raw) redisFree(raw);
      throw RedisError(std::move(f));
    }
    c.m_ctx = raw;
  }
  c.set_timeout(o.command_timeout);
  if (!o.password.empty()) {
    RedisValue r = o.user.empty() ? c.command({"AUTH", o.password}) : c.command({"AUTH", o.user, o.password});
    if (r.is_error() && !(o.tolerate_no_password && no_password_configured(r.str)))
      throw RedisError({RedisFailureKind::auth, exec::redact(r.str)});
  }
  if (o.db != 0) {
    RedisValue r = c.command({"SELECT", std::to_string(o.db)});
    if (r.is_error()) throw RedisError({RedisFailureKind::reply, r.str});
  }
  return c;
}

void RedisConnection::fail()
{
  RedisFailure f = context_failure(m_ctx, RedisFailureKind::io);
  throw RedisError(std::move(f));
}

RedisValue RedisConnection::command(const std::vector<std::string>& args)
{
  if (m_tls) {
    m_tls->append(args);
    ReplyPtr r(static_cast<redisReply*>(m_tls->read()));
    return RedisValue::from(r.get());
  }
  if (!m_ctx) throw RedisError({RedisFailureKind::io, "not connected"});
  Argv a(args);
  ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(m_ctx, static_cast<int>(a.argv.size()), a.argv.data(), a.lens.data())));
  if (!r) fail();
  return RedisValue::from(r.get());
}

void RedisConnection::append(const std::vector<std::string>& args)
{
  if (m_tls) return m_tls->append(args);
  if (!m_ctx) throw RedisError({RedisFailureKind::io, "not connected"});
  Argv a(args);
  if (redisAppendCommandArgv(m_ctx, static_cast<int>(a.argv.size()), a.argv.data(), a.lens.data()) != REDIS_OK) fail();
}

void RedisConnection::send()
{
  if (m_tls) return m_tls->send();
  if (!m_ctx) throw RedisError({RedisFailureKind::io, "not connected"});
  for (int done = 0; !done;)
    if (redisBufferWrite(m_ctx, &done) != REDIS_OK) fail();
}

RedisValue RedisConnection::read()
{
  if (m_tls) {
    ReplyPtr r(static_cast<redisReply*>(m_tls->read()));
    return RedisValue::from(r.get());
  }
  if (!m_ctx) throw RedisError({RedisFailureKind::io, "not connected"});
  void* raw = nullptr;
  if (redisGetReply(m_ctx, &raw) != REDIS_OK || !raw) fail();
  ReplyPtr r(static_cast<redisReply*>(raw));
  return RedisValue::from(r.get());
}

std::vector<RedisValue> RedisConnection::pipeline(const std::vector<std::vector<std::string>>& commands)
{
  for (const auto& c : commands) append(c);
  std::vector<RedisValue> out;
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) out.push_back(read());
  return out;
}

void RedisConnection::set_timeout(std::chrono::milliseconds timeout)
{
  if (m_tls) m_tls->set_timeout(timeout);
  if (m_ctx) redisSetTimeout(m_ctx, to_tv(timeout));
}

std::string RedisConnection::tls_protocol() const { return m_tls ? m_tls->protocol() : std::string(); }

// ---- Sentinel --------------------------------------------------------------------------------

std::optional<HostPort> map_address(const AddressMap& map, const std::string& host, int port)
{
  if (map.empty()) return HostPort{host, port};
  auto it = map.find(fmt::format("{}:{}", host, port));
  if (it == map.end()) return std::nullopt;
  return it->second;
}

namespace {

// One Sentinel's answer: the master's address, or why not.
util::Expected<MasterAddress> ask_one(const HostPort& s, const SentinelOptions& o)
{
  RedisOptions so;
  so.host = s.host;
  so.port = s.port;
  so.connect_timeout = o.timeout;
  so.command_timeout = o.timeout;
  so.tls = o.tls;
  std::vector<std::string> cmd{"SENTINEL", "get-master-addr-by-name", o.master_name};
  try {
    RedisConnection c = RedisConnection::connect(so);
    RedisValue r = c.command(cmd);
    if (r.is_error() && r.str.find("NOAUTH") != std::string::npos && !o.password.empty()) {
      so.user = o.user;
      so.password = o.password;
      c = RedisConnection::connect(so);
      r = c.command(cmd);
    }
    if (r.type == RedisValue::Type::array && r.elements.size() == 2) {
      MasterAddress m;
      m.host = r.elements[0].text();
      m.port = std::atoi(r.elements[1].text().c_str());
      m.sentinel = so.display();
      m.announced = fmt::format("{}:{}", m.host, m.port);
      if (m.port > 0) {
        auto reach = map_address(o.nat, m.host, m.port);
        if (!reach)
          return util::Unexpected<>{fmt::format("master '{}' is {}, which is not published to this machine", o.master_name, m.announced)};
        m.host = reach->host;
        m.port = reach->port;
        return m;
      }
    }
    return util::Unexpected<>{r.is_error() ? exec::redact(r.str) : fmt::format("sentinel does not know master '{}'", o.master_name)};
  } catch (const RedisError& e) {
    return util::Unexpected<>{std::string(e.what())};
  }
}

} // namespace

SentinelOptions sentinel_options(const Endpoints& endpoints, const std::string& password)
{
  SentinelOptions so;
  so.sentinels = endpoints.sentinels;
  so.master_name = endpoints.master_name;
  so.user = endpoints.redis_user;
  so.password = password;
  so.nat = redis_address_map(endpoints);
  so.tls = redis_tls(endpoints.redis_tls);
  return so;
}

util::Expected<MasterAddress> ask_sentinels(const SentinelOptions& o)
{
  std::string why;
  for (const auto& s : o.sentinels) {
    auto m = ask_one(s, o);
    if (m) return m;
    why += (why.empty() ? "" : "; ") + fmt::format("sentinel {}:{}: {}", s.host, s.port, m.error());
  }
  if (why.empty()) why = "no Sentinel is configured";
  return util::Unexpected<>{why};
}

util::Expected<RedisMaster> connect_master(const SentinelOptions& o, const RedisOptions& master)
{
  std::string why;
  for (const auto& s : o.sentinels) {
    auto m = ask_one(s, o);
    std::string err;
    if (m) {
      RedisOptions mo = master;
      mo.host = m->host;
      mo.port = m->port;
      try {
        RedisConnection c = RedisConnection::connect(mo);
        RedisValue role = c.command({"ROLE"});
        if (role.type == RedisValue::Type::array && !role.elements.empty() && role.elements[0].text() == "master")
          return RedisMaster{*m, std::move(c)};
        err = fmt::format("{}: reported as master but its role is {}", mo.display(),
                          role.is_error() ? role.str : role.elements.empty() ? "unknown" : role.elements[0].text());
      } catch (const RedisError& e) {
        err = fmt::format("{}: {}", mo.display(), e.what());
      }
    } else {
      err = m.error();
    }
    why += (why.empty() ? "" : "; ") + fmt::format("sentinel {}:{}: {}", s.host, s.port, err);
  }
  if (why.empty()) why = "no Sentinel is configured";
  return util::Unexpected<>{why};
}

} // namespace statectl::clients

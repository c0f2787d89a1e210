#include <doctest/doctest.h>

#include <hiredis/hiredis.h>
#include <string>

#include "core/clients/redis.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/stack/endpoints.h"

using namespace statectl;
using clients::RedisFailure;
using clients::RedisFailureKind;
using clients::RedisValue;

TEST_CASE("clients redis: URLs give host, port, ACL user, password and database")
{
  auto a = clients::parse_redis_url("redis://appuser:aclSecret77@cache.example:6380/2");
  CHECK(a.host == "cache.example");
  CHECK(a.port == 6380);
  CHECK(a.user == "appuser");
  CHECK(a.password == "aclSecret77");
  CHECK(a.db == 2);
  CHECK(a.display() == "cache.example:6380");
  CHECK(exec::redact("auth with aclSecret77") == "auth with ****");

  auto b = clients::parse_redis_url("redis://:onlyPassw0rd@10.0.0.1");
  CHECK(b.user.empty());
  CHECK(b.password == "onlyPassw0rd");
  CHECK(b.port == 6379);
  CHECK(b.db == 0);

  try {
    clients::parse_redis_url("http://h:1");
    FAIL("accepted http://");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "invalid [redis] url: expected redis://[:password@]host[:port][/db]");
  }
}

TEST_CASE("clients redis: failures map to exit codes in one place")
{
  CHECK(clients::exit_code(RedisFailure{RedisFailureKind::connect, "Connection refused"}) == ExitCode::unavailable);
  CHECK(clients::exit_code(RedisFailure{RedisFailureKind::timeout, "timed out"}) == ExitCode::unavailable);
  CHECK(clients::exit_code(RedisFailure{RedisFailureKind::io, "Connection reset by peer"}) == ExitCode::unavailable);
  CHECK(clients::exit_code(RedisFailure{RedisFailureKind::auth, "WRONGPASS"}) == ExitCode::unavailable);
  CHECK(clients::exit_code(RedisFailure{RedisFailureKind::reply, "ERR"}) == ExitCode::failed);
  CHECK(clients::exit_code(RedisFailure{RedisFailureKind::reply, "ERR"}, ExitCode::external) == ExitCode::external);
  CHECK(clients::exit_code(RedisFailure{RedisFailureKind::unsupported, "TLS"}) == ExitCode::usage);

  Error e = clients::to_error(RedisFailure{RedisFailureKind::auth, "WRONGPASS invalid username-password pair"}, "cannot connect to redis at h:1",
                              "start the stack");
  CHECK(e.code() == ExitCode::unavailable);
  CHECK(e.message() == "cannot connect to redis at h:1: WRONGPASS invalid username-password pair");
  CHECK(e.hint().find("password") != std::string::npos);
  Error r = clients::to_error(RedisFailure{RedisFailureKind::reply, "ERR unknown command"}, "CONFIG SET failed", "", ExitCode::external);
  CHECK(r.code() == ExitCode::external);
  CHECK(r.hint().empty());
}

TEST_CASE("clients redis: hiredis replies convert to values, nested arrays included")
{
  char one[] = "127.0.0.1";
  char two[] = "6380";
  redisReply host{};
  host.type = REDIS_REPLY_STRING;
  host.str = one;
  host.len = sizeof one - 1;
  redisReply port{};
  port.type = REDIS_REPLY_STRING;
  port.str = two;
  port.len = sizeof two - 1;
  redisReply* elems[] = {&host, &port};
  redisReply arr{};
  arr.type = REDIS_REPLY_ARRAY;
  arr.elements = 2;
  arr.element = elems;
  RedisValue v = RedisValue::from(&arr);
  REQUIRE(v.type == RedisValue::Type::array);
  REQUIRE(v.elements.size() == 2);
  CHECK(v.elements[0].text() == "127.0.0.1");
  CHECK(v.elements[1].text() == "6380");

  redisReply n{};
  n.type = REDIS_REPLY_INTEGER;
  n.integer = -2;
  CHECK(RedisValue::from(&n).text() == "-2");
  redisReply nil{};
  nil.type = REDIS_REPLY_NIL;
  CHECK(RedisValue::from(&nil).is_nil());
  char err[] = "READONLY You can't write against a read only replica.";
  redisReply e{};
  e.type = REDIS_REPLY_ERROR;
  e.str = err;
  e.len = sizeof err - 1;
  CHECK(RedisValue::from(&e).is_error());
  CHECK(RedisValue::from(&e).str.starts_with("READONLY"));
}

TEST_CASE("clients redis: Cluster redirects are recognised (room for slot routing)")
{
  RedisValue moved;
  moved.type = RedisValue::Type::error;
  moved.str = "MOVED 3999 127.0.0.1:6381";
  auto m = clients::redirect_of(moved);
  REQUIRE(m);
  CHECK_FALSE(m->ask);
  CHECK(m->slot == 3999);
  CHECK(m->host == "127.0.0.1");
  CHECK(m->port == 6381);
  RedisValue ask = moved;
  ask.str = "ASK 12 10.0.0.2:7000";
  CHECK(clients::redirect_of(ask)->ask);
  RedisValue other = moved;
  other.str = "ERR wrong number of arguments";
  CHECK_FALSE(clients::redirect_of(other));
  RedisValue text;
  text.type = RedisValue::Type::string;
  text.str = "MOVED 1 h:1";
  CHECK_FALSE(clients::redirect_of(text));
}

TEST_CASE("clients redis: unreachable servers and Sentinels fail with the reason, also over TLS")
{
  clients::RedisOptions o;
  o.port = 1; // nothing listens on port 1 of the loopback
  o.password = "neverShownPw1";
  try {
    (void)clients::RedisConnection::connect(o);
    FAIL("connected to port 1");
  } catch (const clients::RedisError& e) {
    CHECK(e.kind() == RedisFailureKind::connect);
    CHECK(std::string(e.what()).find("neverShownPw1") == std::string::npos);
  }
  o.tls.enabled = true;
  try {
    (void)clients::RedisConnection::connect(o);
    FAIL("TLS without a CA file accepted");
  } catch (const clients::RedisError& e) {
    CHECK(e.kind() == RedisFailureKind::connect);
    CHECK(std::string(e.what()) == "TLS needs a CA file to verify the server (CA pinning)");
  }
  o.tls.ca_file = "/nonexistent/ca.crt";
  try {
    (void)clients::RedisConnection::connect(o);
    FAIL("TLS with a missing CA file accepted");
  } catch (const clients::RedisError& e) {
    CHECK(e.kind() == RedisFailureKind::connect);
    CHECK(std::string(e.what()).starts_with("cannot read the CA file /nonexistent/ca.crt: "));
  }
  CHECK(clients::redis_tls(clients::ClientTls{true, "/x/ca.crt", ""}).ca_file == "/x/ca.crt");
  CHECK_FALSE(clients::redis_tls(clients::ClientTls{}).enabled);

  clients::SentinelOptions s;
  s.master_name = "mymaster";
  CHECK(clients::ask_sentinels(s).error() == "no Sentinel is configured");
  s.sentinels = {stack::HostPort{"127.0.0.1", 1}};
  auto m = clients::ask_sentinels(s);
  REQUIRE_FALSE(m);
  CHECK(m.error().starts_with("sentinel 127.0.0.1:1: "));
  auto c = clients::connect_master(s, clients::RedisOptions{});
  REQUIRE_FALSE(c);
  CHECK(c.error().starts_with("sentinel 127.0.0.1:1: "));
}

TEST_CASE("clients redis: announced addresses map to reachable ones, and an unknown one is not tried")
{
  clients::AddressMap none;
  auto same = clients::map_address(none, "redis-master", 6379);
  REQUIRE(same);
  CHECK(same->host == "redis-master");
  CHECK(same->port == 6379);

  clients::AddressMap nat{{"redis-master:6379", {"127.0.0.1", 16379}}, {"172.30.0.5:6379", {"127.0.0.1", 16380}}};
  auto master = clients::map_address(nat, "redis-master", 6379);
  REQUIRE(master);
  CHECK(master->host == "127.0.0.1");
  CHECK(master->port == 16379);
  auto promoted = clients::map_address(nat, "172.30.0.5", 6379);
  REQUIRE(promoted);
  CHECK(promoted->port == 16380);
  CHECK_FALSE(clients::map_address(nat, "172.30.0.9", 6379));
  CHECK_FALSE(clients::map_address(nat, "redis-master", 6380));
}

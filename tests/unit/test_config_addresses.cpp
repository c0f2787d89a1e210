// Validation of the config values that name servers (URLs, host:port lists) and of duration
// minimums: bad ones are usage errors (exit 2) at load time, never a crash or a retry loop later.
#include <doctest/doctest.h>

#include "core/config/config.h"
#include "core/error.h"

using statectl::Error;
using statectl::ExitCode;
using statectl::config::Config;
using statectl::config::LoadOptions;

namespace {

std::string file_error(const std::string& text)
{
  try {
    Config::from_string(text, "statectl.toml");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    return e.message();
  }
  return "no error";
}

std::string env_error(const std::string& var, const std::string& value)
{
  LoadOptions o;
  o.environment[var] = value;
  o.cwd = "/nonexistent-statectl-test-dir";
  try {
    Config::load(o);
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    return e.message();
  }
  return "no error";
}

} // namespace

TEST_CASE("config: sentinel_addrs must be host:port with a numeric port")
{
  CHECK(env_error("STATECTL_REDIS_SENTINEL_ADDRS", "127.0.0.1:notaport") ==
        "STATECTL_REDIS_SENTINEL_ADDRS: redis.sentinel_addrs has an invalid port 'notaport' in '127.0.0.1:notaport' (a number from 1 to 65535)");
  CHECK(env_error("STATECTL_REDIS_SENTINEL_ADDRS", "not-an-address") ==
        "STATECTL_REDIS_SENTINEL_ADDRS: redis.sentinel_addrs must be host:port addresses, got 'not-an-address'");
  CHECK(env_error("STATECTL_REDIS_SENTINEL_ADDRS", "10.0.0.1:26379,10.0.0.2:99999") ==
        "STATECTL_REDIS_SENTINEL_ADDRS: redis.sentinel_addrs has an invalid port '99999' in '10.0.0.2:99999' (a number from 1 to 65535)");
  CHECK(env_error("STATECTL_REDIS_SENTINEL_ADDRS", "10.0.0.1:26379,sentinel-b:26380,[::1]:26381") == "no error");
  CHECK(file_error("[redis]\nsentinel_addrs = [\"a:1\", \"b\"]\n") ==
        "statectl.toml:2:18: redis.sentinel_addrs must be host:port addresses, got 'b'");
}

TEST_CASE("config: URLs must have their server's scheme and a numeric port")
{
  CHECK(file_error("[postgres]\nurl = \"mysql://x\"\n") ==
        "statectl.toml:2:7: postgres.url must be a postgresql:// URL like postgresql://user:password@host:5432/db, got 'mysql://x'");
  CHECK(file_error("[postgres]\nurl = \"http://x\"\n").find("postgres.url must be a postgresql:// URL") != std::string::npos);
  CHECK(file_error("[postgres]\nurl = \"postgresql://u:pw@db:fivefour/app\"\n") ==
        "statectl.toml:2:7: postgres.url has an invalid port 'fivefour' in 'postgresql://u:****@db:fivefour/app' (a number from 1 to 65535)");
  CHECK(file_error("[redis]\nurl = \"postgresql://x:1\"\n").find("redis.url must be a redis:// URL") != std::string::npos);
  CHECK(file_error("[redis]\nurl = \"redis://:pw@cache:port\"\n").find("redis.url has an invalid port 'port'") != std::string::npos);
  CHECK(file_error("[redis]\nurl = \"redis://\"\n").find("redis.url needs a host") != std::string::npos);
  CHECK(env_error("STATECTL_POSTGRES_URL", "http://x") ==
        "STATECTL_POSTGRES_URL: postgres.url must be a postgresql:// URL like postgresql://user:password@host:5432/db, got 'http://x'");
  // What libpq and the Redis client accept stays valid.
  CHECK(file_error("[postgres]\nurl = \"postgresql://app:s3cret@db.example:5432/app?sslmode=require\"\n") == "no error");
  CHECK(file_error("[postgres]\nurl = \"postgres://db1:5432,db2:5433/app\"\n") == "no error");
  CHECK(file_error("[postgres]\nurl = \"postgresql:///app?host=/run/postgresql\"\n") == "no error");
  CHECK(file_error("[postgres]\nurl = \"postgresql://[::1]:5432/app\"\n") == "no error");
  CHECK(file_error("[redis]\nurl = \"redis://:pw@127.0.0.1:6379/0\"\n") == "no error");
}

TEST_CASE("config: a zero [state] timeout is refused instead of silently becoming 10s")
{
  CHECK(env_error("STATECTL_STATE_TIMEOUT", "0s") == "STATECTL_STATE_TIMEOUT: state.timeout must be at least 1ms, got '0s'");
  CHECK(env_error("STATECTL_STATE_TIMEOUT", "250ms") == "no error");
}

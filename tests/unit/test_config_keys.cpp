#include <doctest/doctest.h>

#include <string>

#include "core/config/config.h"
#include "core/config/keys.h"
#include "core/error.h"

using statectl::Error;
using statectl::ExitCode;
using namespace statectl::config;

// The predicate behind the consteval Key constructor, evaluated by the compiler. That a literal
// key the table lacks does not compile at all is shown by the "config key check rejects" tests
// (tests/compile_fail/config_key.cpp).
static_assert(is_known_key("postgres.replicas"));
static_assert(!is_known_key("postgres.replica"));
static_assert(!is_known_key("postgres"));
static_assert(Key("postgres.replicas").index() == detail::key_index("postgres.replicas"));
static_assert(k_key_rows[detail::key_index("redis.maxmemory")].type == KeyType::size);

namespace {
// The error of a run-time key lookup, as the top level prints it.
std::string lookup_error(auto lookup)
{
  try {
    lookup();
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    return e.message() + (e.hint().empty() ? "" : " | hint: " + e.hint());
  }
  return "no error";
}
} // namespace

TEST_CASE("config keys: the run-time table has the constant table's rows, in its order")
{
  REQUIRE(key_table().size() == k_key_rows.size());
  for (std::size_t i = 0; i < k_key_rows.size(); ++i) {
    CAPTURE(key_table()[i].name);
    CHECK(key_table()[i].name == k_key_rows[i].name);
    CHECK(Key::of(key_table()[i]).index() == i);
  }
  CHECK(find_key("redis.maxmemory_policy")->allowed.size() == 8);
  CHECK(find_key("project.name")->allowed.empty());
  Key k = "pgbouncer.pool_mode";
  CHECK(k.name() == "pgbouncer.pool_mode");
  CHECK(k.spec().allowed == std::vector<std::string>{"session", "transaction", "statement"});
}

TEST_CASE("config keys: literal keys read through the typed getters")
{
  Config cfg;
  CHECK(cfg.get_int("postgres.replicas") == 1);
  CHECK(cfg.get_bool("postgres.synchronous"));
  CHECK(cfg.get_duration("redis.down_after").count() == 5000);
  CHECK(cfg.get_string("postgres.replicas") == "1"); // any key's text
  cfg.set_flag("postgres.replicas", "3");
  CHECK(cfg.get_int("postgres.replicas") == 3);
  CHECK(cfg.is_set("postgres.replicas"));
  CHECK_FALSE(cfg.is_set("redis.replicas"));
}

TEST_CASE("config keys: a key named at run time is checked, exit 2 with a hint")
{
  Config cfg;
  std::string name = "postgres.replicas";
  CHECK(cfg.get_int(IntKey::lookup(name)) == 1);
  CHECK(lookup_error([] { Key::lookup("postgres.replica"); }) ==
        "unknown config key 'postgres.replica' | hint: did you mean 'postgres.replicas'?");
  CHECK(lookup_error([] { Key::lookup("zzz"); }) == "unknown config key 'zzz' | hint: 'statectl config keys' lists every key");
  CHECK(lookup_error([] { IntKey::lookup("project.name"); }) == "config key 'project.name' is of type string, not integer");
  CHECK(lookup_error([] { BoolKey::of(*find_key("redis.maxmemory")); }) == "config key 'redis.maxmemory' is of type size, not boolean");
  // LoadOptions::flags carries names as text; an unknown one is a usage error, not a crash.
  LoadOptions opts;
  opts.cwd = "/nonexistent-dir-for-statectl-test";
  opts.flags["postgres.replica"] = "2";
  CHECK(lookup_error([&] { Config::load(opts); }) == "unknown config key 'postgres.replica' | hint: did you mean 'postgres.replicas'?");
}

#include <doctest/doctest.h>

#include <algorithm>

#include "core/config/config.h"
#include "core/local/redis_acl.h"
#include "core/util/strings.h"

using namespace statectl;
namespace acl = statectl::local::redis_acl;

namespace {

const acl::User& user_named(const std::vector<acl::User>& users, const std::string& name)
{
  auto it = std::find_if(users.begin(), users.end(), [&](const acl::User& u) { return u.name == name; });
  REQUIRE(it != users.end());
  return *it;
}

} // namespace

TEST_CASE("redis_acl: the four users, their secrets and exact rules")
{
  auto users = acl::users("statectl:");
  REQUIRE(users.size() == 4);
  CHECK(util::join(user_named(users, "statectl-admin").rules, " ") == "~* &* +@all");
  CHECK(user_named(users, "statectl-admin").secret == "redis");
  CHECK(util::join(user_named(users, "statectl-app").rules, " ") ==
        "~statectl:* ~statectl#statectl:* +del +eval +exists +get +hget +hgetall +hmget +hset +incr +info +mset +pexpire +ping "
        "+pttl +role +scan +set +strlen +time +type +wait");
  CHECK(user_named(users, "statectl-app").secret == "redis-app");
  CHECK(util::join(user_named(users, "statectl-replication").rules, " ") == "+psync +replconf +ping");
  CHECK(user_named(users, "statectl-replication").secret == "redis-replication");
  CHECK(util::join(user_named(users, "statectl-sentinel").rules, " ") ==
        "&* +multi +exec +slaveof +ping +info +role +publish +subscribe +config|rewrite +client|setname +client|kill +script|kill");
  CHECK(user_named(users, "statectl-sentinel").secret == "redis-sentinel");
}

TEST_CASE("redis_acl: on a Redis Cluster the application user may also read the slot map and follow ASK, nothing else changes")
{
  auto plain = acl::users("statectl:");
  auto cluster = acl::users("statectl:", true);
  REQUIRE(cluster.size() == plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    CAPTURE(plain[i].name);
    std::vector<std::string> want = plain[i].rules;
    if (plain[i].name == "statectl-app") want.insert(want.end(), {"+cluster|slots", "+cluster|shards", "+asking"});
    CHECK(cluster[i].rules == want);
  }
}

TEST_CASE("redis_acl: the application user can run none of the dangerous commands")
{
  const auto& cmds = acl::app_commands();
  CHECK(std::is_sorted(cmds.begin(), cmds.end()));
  for (const char* c : {"keys", "config", "flushall", "flushdb", "acl", "shutdown", "debug", "replicaof", "slaveof", "client",
                        "module", "script", "evalsha", "subscribe", "publish", "save", "bgsave", "migrate", "restore"})
    CHECK_MESSAGE(std::find(cmds.begin(), cmds.end(), c) == cmds.end(), c);
  auto app = user_named(acl::users("x:"), "statectl-app");
  CHECK(std::none_of(app.rules.begin(), app.rules.end(), [](const std::string& r) { return r.rfind("&", 0) == 0 || r.rfind("+@", 0) == 0; }));
}

TEST_CASE("redis_acl: key patterns escape glob characters of the prefix")
{
  CHECK(acl::key_pattern("statectl:") == "statectl:*");
  CHECK(acl::key_pattern("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\*");
  CHECK(acl::key_pattern("") == "*");
  auto app = user_named(acl::users("we[ird]"), "statectl-app");
  CHECK(app.rules[0] == "~we\\[ird\\]*");
  CHECK(app.rules[1] == "~statectl#we\\[ird\\]*");
}

TEST_CASE("redis_acl: full rules reset the user and carry only the password's SHA-256")
{
  CHECK(acl::password_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto rules = acl::user_rules(user_named(acl::users("p:"), "statectl-replication"), "abc");
  CHECK(util::join(rules, " ") ==
        "on resetpass #ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad resetkeys resetchannels -@all +psync +replconf +ping");
  CHECK(util::join(acl::default_user_rules(), " ") == "off resetpass resetkeys resetchannels -@all");
}

TEST_CASE("redis_acl: redis.conf user lines quote what sdssplitargs would split")
{
  CHECK(acl::conf_line("default", acl::default_user_rules()) == "user default off resetpass resetkeys resetchannels -@all\n");
  CHECK(acl::conf_line("statectl-app", {"on", "~my prefix*", "~a\"b\\*", "+get"}) ==
        "user statectl-app on \"~my prefix*\" \"~a\\\"b\\\\*\" +get\n");
  CHECK(acl::conf_line("u", {"~tab\there*"}) == "user u \"~tab\\x09here*\"\n");
}

TEST_CASE("redis_acl: on by default in every mode, [redis] acl = false turns it off")
{
  config::Config cfg;
  CHECK(acl::enabled(cfg));
  cfg.set_flag("redis.mode", "cluster");
  CHECK(acl::enabled(cfg));
  cfg.set_flag("redis.mode", "sentinel");
  cfg.set_flag("redis.acl", "false");
  CHECK_FALSE(acl::enabled(cfg));
}

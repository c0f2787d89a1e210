// The Redis rows of compose status carry the role each server reports, not its service's.
#include <doctest/doctest.h>

#include "core/targets/compose_redis.h"

using statectl::targets::ComponentRow;
using statectl::targets::detail::compose_redis::annotate;

TEST_CASE("compose status: Redis roles as the servers report them, unknown when a server does not answer")
{
  auto row = [](const std::string& name, const std::string& kind, const std::string& role) {
    ComponentRow c;
    c.name = name;
    c.kind = kind;
    c.role = role;
    return c;
  };
  // After a Sentinel failover: redis-replica's container is the master, redis-master's was killed.
  std::vector<ComponentRow> rows = {row("p_redis-master_1", "redis", "master"), row("p_redis-replica_1", "redis", "replica"),
                                    row("p_redis-sentinel_1", "sentinel", "sentinel"), row("p_postgres-primary_1", "postgres", "primary")};
  std::vector<std::string> services = {"redis-master", "redis-replica", "redis-sentinel", "postgres-primary"};
  annotate({{"p_redis-replica_1", "master"}}, services, rows);
  CHECK(rows[0].role == "unknown");
  CHECK(rows[1].role == "master");
  CHECK(rows[2].role == "sentinel");
  CHECK(rows[3].role == "primary");
  annotate({{"p_redis-replica_1", "master"}, {"p_redis-master_1", "replica"}}, services, rows);
  CHECK(rows[0].role == "replica");
}

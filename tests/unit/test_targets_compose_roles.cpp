// The record of which container holds a bare compose stack's primary role after a switchover, and
// the PgBouncer configuration pointed at it.
#include <doctest/doctest.h>

#include "core/config/config.h"
#include "core/error.h"
#include "core/targets/compose_roles.h"
#include "tests/support/temp_dir.h"

namespace croles = statectl::targets::detail::compose_roles;
using statectl::Error;
using statectl::ExitCode;
using statectl::config::Config;

TEST_CASE("pgbouncer_ini_for points the [databases] wildcard at the new primary and keeps the rest")
{
  std::string ini = ";; Rendered by statectl\n[databases]\n* = host=postgres-primary port=5432\n\n[pgbouncer]\nlisten_port = 6432\n";
  CHECK(croles::pgbouncer_ini_for(ini, "p_postgres-replica_1") ==
        ";; Rendered by statectl\n[databases]\n* = host=p_postgres-replica_1 port=5432\n\n[pgbouncer]\nlisten_port = 6432\n");
  // Back again, and a line without anything after the host.
  CHECK(croles::pgbouncer_ini_for(croles::pgbouncer_ini_for(ini, "x"), "postgres-primary") == ini);
  CHECK(croles::pgbouncer_ini_for("* = host=a", "b") == "* = host=b");
  // Nothing to point: unchanged.
  CHECK(croles::pgbouncer_ini_for("[pgbouncer]\nlisten_port = 6432", "b") == "[pgbouncer]\nlisten_port = 6432");
}

TEST_CASE("the recorded primary: written by a switchover away from postgres-primary, removed by the one back")
{
  statectl::testing::TempDir tmp;
  auto cfg = Config::from_string("[local]\ndir = \"" + tmp.path().string() + "\"\n", "t.toml");
  CHECK(croles::recorded_primary(cfg).empty());
  CHECK_NOTHROW(croles::refuse_while_switched(cfg, "deploy", "why"));

  croles::record_primary(cfg, "p_postgres-replica_1", false);
  CHECK(croles::recorded_primary(cfg) == "p_postgres-replica_1");
  try {
    croles::refuse_while_switched(cfg, "deploy", "it sets up the roles on postgres-primary");
    FAIL("not refused");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "deploy needs postgres-primary to be the primary, but p_postgres-replica_1 holds the role since a switchover: it sets "
                         "up the roles on postgres-primary");
    CHECK(e.hint() == "switch back first: statectl failover switchover --target compose --to postgres-primary");
  }

  croles::record_primary(cfg, "p_postgres-primary_1", true);
  CHECK(croles::recorded_primary(cfg).empty());
  CHECK_FALSE(std::filesystem::exists(croles::record_path(cfg)));
}

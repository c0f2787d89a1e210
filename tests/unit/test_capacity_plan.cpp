// capacity plan: pgtune formulas, PgBouncer/Redis sizing, tiers and the HA lint, against values
// computed by hand (the arithmetic is in the comments).
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/capacity/plan.h"
#include "tests/support/units.h"
#include "core/config/config.h"
#include "core/error.h"

using namespace statectl;
using namespace statectl::capacity;

namespace {

using statectl::test::GiB;

std::string setting(const Plan& p, const std::string& name)
{
  for (const auto& s : p.postgresql)
    if (s.name == name) return s.value;
  return "<absent>";
}

PlanInput input(std::uint64_t ram_gib, int cpus, const std::string& storage, const std::string& workload)
{
  PlanInput in;
  in.ram = ram_gib * GiB;
  in.cpus = cpus;
  in.storage = storage;
  in.workload = workload;
  return in;
}

} // namespace

TEST_CASE("capacity plan: 16 GiB / 4 CPUs / ssd / web")
{
  Plan p = compute_sizing(input(16, 4, "ssd", "web"));
  // RAM 16777216 kB.
  CHECK(p.max_connections == 200);
  CHECK(setting(p, "shared_buffers") == "4GB");        // 16777216 / 4 = 4194304 kB
  CHECK(setting(p, "effective_cache_size") == "12GB"); // 16777216 * 3/4
  CHECK(setting(p, "maintenance_work_mem") == "1GB");  // 16777216 / 16
  // (16777216 - 4194304) / ((200 + 4) * 3) = 12582912 / 612 = 20560.3 -> 20560 kB
  CHECK(p.work_mem_kb == 20560);
  CHECK(setting(p, "work_mem") == "20560kB");
  // 3% of 4194304 kB = 125829 kB > 16 MB -> 16MB
  CHECK(setting(p, "wal_buffers") == "16MB");
  CHECK(setting(p, "random_page_cost") == "1.1");
  CHECK(setting(p, "effective_io_concurrency") == "200");
  CHECK(setting(p, "default_statistics_target") == "100");
  CHECK(setting(p, "huge_pages") == "try"); // shared_buffers 4 GB >= 2 GB
  CHECK(setting(p, "jit") == "off");
  CHECK(setting(p, "wal_compression") == "lz4");
  CHECK(setting(p, "autovacuum_max_workers") == "<absent>"); // fewer than 16 CPUs
  CHECK(setting(p, "autovacuum_work_mem") == "<absent>");    // maintenance_work_mem 1 GB < 2 GB
  CHECK(setting(p, "max_worker_processes") == "4");
  CHECK(setting(p, "max_parallel_workers_per_gather") == "2");
  CHECK(setting(p, "max_parallel_workers") == "4");
  CHECK(setting(p, "max_parallel_maintenance_workers") == "2");
  CHECK(setting(p, "min_wal_size") == "1GB");
  CHECK(setting(p, "max_wal_size") == "4GB");
  // PgBouncer: 4 * 2 + 1 = 9; reserve ceil(9/4) = 3; 200 - 13 = 187; 200 * 5 = 1000
  CHECK(p.pool_size == 9);
  CHECK(p.reserve_pool_size == 3);
  CHECK(p.max_db_connections == 187);
  CHECK(p.max_client_conn == 1000);
  // Redis: 16 GiB * 0.9 / 2 = 7.2 GiB = 7372.8 MiB -> 7372 MiB
  CHECK(p.redis_maxmemory == 7372ULL * 1024 * 1024);
  CHECK(to_json(p)["redis"]["maxmemory"] == "7372mb");
  // 4 CPUs exceed small (2 vCPU): medium.
  CHECK(p.tier.name == "medium");
  CHECK(p.tier.postgres_instance == "db.r6g.xlarge");
  CHECK(p.tier.monthly_cost_usd == 1750);
  CHECK(p.tier_fits);
}

TEST_CASE("capacity plan: 64 GiB / 16 CPUs / nvme / oltp")
{
  PlanInput in = input(64, 16, "nvme", "oltp");
  in.data_size = 1024 * GiB;
  in.growth_per_month = 100 * GiB;
  Plan p = compute_sizing(in);
  // RAM 67108864 kB.
  CHECK(p.max_connections == 300);
  CHECK(setting(p, "shared_buffers") == "16GB");
  CHECK(setting(p, "effective_cache_size") == "48GB");
  CHECK(setting(p, "maintenance_work_mem") == "4GB"); // 64 GiB / 16, under the 8 GB cap
  // (67108864 - 16777216) / ((300 + 16) * 3) = 50331648 / 948 = 53092.4 -> 53092 kB; 1 TiB of
  // data is more than 3x RAM (pgtune's "more than 3x RAM"): 10% less, 53092 * 0.9 -> 47782 kB
  CHECK(p.work_mem_kb == 47782);
  CHECK(setting(p, "work_mem") == "47782kB");
  CHECK(setting(p, "wal_buffers") == "16MB");
  CHECK(setting(p, "random_page_cost") == "1.1");
  CHECK(setting(p, "effective_io_concurrency") == "1000");
  CHECK(setting(p, "huge_pages") == "try");
  CHECK(setting(p, "autovacuum_max_workers") == "4");   // 16 CPUs
  CHECK(setting(p, "autovacuum_work_mem") == "2GB");    // maintenance_work_mem 4 GB, capped per worker
  CHECK(setting(p, "max_worker_processes") == "16");
  CHECK(setting(p, "max_parallel_workers_per_gather") == "4"); // ceil(16/2) = 8, capped at 4 for oltp
  CHECK(setting(p, "max_parallel_workers") == "16");
  CHECK(setting(p, "max_parallel_maintenance_workers") == "4");
  CHECK(setting(p, "min_wal_size") == "2GB");
  CHECK(setting(p, "max_wal_size") == "8GB");
  CHECK(p.pool_size == 33);        // 16 * 2 + 1
  CHECK(p.reserve_pool_size == 9); // ceil(33 / 4)
  CHECK(p.max_db_connections == 287);
  CHECK(p.max_client_conn == 1500);
  // 64 GiB * 0.9 / 2 = 28.8 GiB = 29491.2 MiB -> 29491 MiB
  CHECK(p.redis_maxmemory == 29491ULL * 1024 * 1024);
  // 16 vCPU and 1 TiB + 12 * 100 GiB = 2224 GiB of data need xlarge (8 TiB).
  CHECK(p.tier.name == "xlarge");
  CHECK(p.tier.postgres_instance == "db.r6g.4xlarge");
  CHECK(p.tier.redis_node == "cache.r6g.4xlarge");
  // (8192 - 1024) GiB / 100 GiB per month = 71.68 -> 71.6
  REQUIRE(p.months_until_full.has_value());
  CHECK(*p.months_until_full == doctest::Approx(71.6));
}

TEST_CASE("capacity plan: 4 GiB / 2 CPUs / hdd / dw")
{
  PlanInput in = input(4, 2, "hdd", "dw");
  in.data_size = 10 * GiB;
  in.growth_per_month = 5 * GiB;
  in.disk = 50 * GiB;
  Plan p = compute_sizing(in);
  // RAM 4194304 kB.
  CHECK(p.max_connections == 40);
  CHECK(setting(p, "shared_buffers") == "1GB");
  CHECK(setting(p, "effective_cache_size") == "3GB");
  CHECK(setting(p, "maintenance_work_mem") == "512MB"); // 4 GiB / 8 for dw
  // 2 CPUs: no parallel settings, PostgreSQL's max_worker_processes 8 in the divisor:
  // (4194304 - 1048576) / ((40 + 8) * 3) = 3145728 / 144 = 21845 kB, halved for dw -> 10922 kB
  CHECK(p.work_mem_kb == 10922);
  CHECK(setting(p, "work_mem") == "10922kB");
  CHECK(setting(p, "max_worker_processes") == "<absent>");
  // 3% of 1048576 kB = 31457 kB > 16 MB -> 16MB
  CHECK(setting(p, "wal_buffers") == "16MB");
  CHECK(setting(p, "random_page_cost") == "4");
  CHECK(setting(p, "effective_io_concurrency") == "2");
  CHECK(setting(p, "huge_pages") == "off"); // shared_buffers 1 GB
  CHECK(setting(p, "jit") == "<absent>");   // dw keeps PostgreSQL's default
  CHECK(setting(p, "default_statistics_target") == "500");
  CHECK(setting(p, "min_wal_size") == "4GB");
  CHECK(setting(p, "max_wal_size") == "16GB");
  CHECK(p.pool_size == 6);         // 2 * 2 + 2 spindles for hdd
  CHECK(p.reserve_pool_size == 2); // ceil(6 / 4)
  CHECK(p.max_db_connections == 27);
  CHECK(p.max_client_conn == 200);
  CHECK(p.redis_maxmemory == 1843ULL * 1024 * 1024); // 4096 MiB * 0.9 / 2 = 1843.2
  CHECK(p.tier.name == "small");
  CHECK(p.tier.postgres_instance == "db.r6g.large");
  CHECK(p.tier.monthly_cost_usd == 850);
  REQUIRE(p.months_until_full.has_value());
  CHECK(*p.months_until_full == doctest::Approx(8.0)); // (50 - 10) / 5
  CHECK(to_postgresql_conf(p).rfind("# statectl capacity plan: 4.0 GiB RAM, 2 CPUs, hdd storage, dw workload\n"
                                    "max_connections = 40\nshared_buffers = 1GB\n",
                                    0) == 0);
}

TEST_CASE("capacity plan: work_mem floor, caps, connections override and oversize inputs")
{
  PlanInput in = input(1, 1, "san", "mixed");
  in.connections = 500;
  Plan p = compute_sizing(in);
  // (1048576 - 262144) / ((500 + 8) * 3) / 2 = 258 kB -> floor 4 MB
  CHECK(setting(p, "work_mem") == "4MB");
  CHECK(setting(p, "effective_io_concurrency") == "300");
  CHECK(setting(p, "wal_buffers") == "7864kB"); // 3% of 262144 kB
  CHECK(p.max_connections == 500);

  Plan big = compute_sizing(input(512, 64, "ssd", "dw"));
  CHECK(setting(big, "maintenance_work_mem") == "8GB"); // 512 GiB / 8 capped
  CHECK(setting(big, "max_parallel_workers_per_gather") == "32"); // dw is not capped at 4
  CHECK(big.tier.name == "xlarge");
  CHECK_FALSE(big.tier_fits);
  CHECK(big.months_until_full == std::nullopt);
  CHECK(to_json(big)["storage"]["months_until_full"].is_null());
}

TEST_CASE("capacity plan: dw on ssd keeps random_page_cost 4 unless the data fits in RAM")
{
  PlanInput in = input(64, 16, "ssd", "dw");
  CHECK(setting(compute_sizing(in), "random_page_cost") == "4");
  in.data_size = 32 * GiB; // smaller than RAM: served from the page cache
  Plan p = compute_sizing(in);
  CHECK(setting(p, "random_page_cost") == "1.1");
  // (67108864 - 16777216) / ((40 + 16) * 3) = 299593.1 kB, halved for dw = 149796, +30% = 194734 kB
  CHECK(p.work_mem_kb == 194734);
  in.storage = "hdd";
  CHECK(setting(compute_sizing(in), "random_page_cost") == "1.1");
}

TEST_CASE("capacity plan: the desktop workload")
{
  Plan p = compute_sizing(input(8, 2, "ssd", "desktop"));
  // RAM 8388608 kB.
  CHECK(p.max_connections == 20);
  CHECK(setting(p, "shared_buffers") == "512MB");       // RAM / 16
  CHECK(setting(p, "effective_cache_size") == "2GB");   // RAM / 4
  CHECK(setting(p, "maintenance_work_mem") == "512MB"); // RAM / 16
  // (8388608 - 524288) / ((20 + 8) * 3) = 93622.9, a sixth = 15603 kB
  CHECK(setting(p, "work_mem") == "15603kB");
  CHECK(setting(p, "min_wal_size") == "100MB");
  CHECK(setting(p, "max_wal_size") == "2GB");
  CHECK(setting(p, "jit") == "<absent>");
  CHECK(setting(p, "wal_level") == "minimal");
  CHECK(setting(p, "max_wal_senders") == "0");
  auto cfg = config::Config::from_string("", "t.toml");
  Plan planned = make_plan(input(8, 2, "ssd", "desktop"), cfg);
  CHECK_FALSE(planned.has_lint_errors());
  bool warned = false;
  for (const auto& f : planned.lint) warned = warned || (f.component == "postgres" && f.severity == "warning");
  CHECK(warned);
}

TEST_CASE("capacity plan: invalid inputs are usage errors")
{
  PlanInput in = input(16, 4, "floppy", "web");
  try {
    compute_sizing(in);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK(e.message() == "invalid --storage: 'floppy' is not one of ssd, hdd, nvme, san");
  }
  in = input(16, 4, "ssd", "web");
  in.ram = 1024;
  CHECK_THROWS_AS(compute_sizing(in), Error);
}

TEST_CASE("capacity plan: Patroni lint flags ttl 10, loop_wait 5, retry_timeout 5")
{
  auto cfg = config::Config::from_string("[postgres]\nttl = 10\nloop_wait = 5\nretry_timeout = 5\n", "t.toml");
  Plan p = make_plan(input(16, 4, "ssd", "web"), cfg);
  CHECK(p.has_lint_errors());
  REQUIRE(p.lint.size() >= 2);
  CHECK(p.lint[0].severity == "error");
  CHECK(p.lint[0].component == "patroni");
  CHECK(p.lint[0].message ==
        "loop_wait + 2 x retry_timeout = 15 s exceeds ttl 10 s: the leader can lose its lease while still retrying the "
        "DCS; raise [postgres] ttl to at least 15 or lower the others");
  CHECK(p.lint[1].severity == "advice");
  CHECK(p.lint[1].message.rfind("ttl 10 s is below 20 s", 0) == 0);
  CHECK(p.ha.patroni_rto_worst_s == 16); // ttl 10 + loop_wait 5 + 1 s promotion
}

TEST_CASE("capacity plan: the default config passes the lint")
{
  config::Config cfg;
  Plan p = make_plan(input(16, 4, "ssd", "web"), cfg);
  CHECK(p.lint.empty());
  CHECK_FALSE(p.has_lint_errors());
  CHECK(p.ha.patroni_rto_worst_s == 41);                      // 30 + 10 + 1
  CHECK(p.ha.sentinel_rto_worst_s == doctest::Approx(7.0));  // 5 s down-after + 1 + 1
}

TEST_CASE("capacity plan: Sentinel and Redis lint")
{
  auto cfg = config::Config::from_string(
    "[redis]\nsentinels = 2\nquorum = 3\ndown_after = \"500ms\"\n[state]\nbackend = \"redis\"\n", "t.toml");
  auto lint = lint_ha(read_ha_timings(cfg));
  REQUIRE(lint.size() == 4);
  CHECK(lint[0].severity == "error");
  CHECK(lint[0].message ==
        "quorum 3 exceeds the 2 Sentinels: the master can never be agreed down, so no failover happens; set [redis] quorum to 2");
  CHECK(lint[1].message.rfind("2 Sentinel(s): losing one Sentinel", 0) == 0);
  CHECK(lint[2].message == "down-after-milliseconds 500 is below 1000: ordinary latency spikes will trigger failovers");
  CHECK(lint[3].component == "redis");
  CHECK(lint[3].message.rfind("min-replicas-to-write is 0 while locks use Redis", 0) == 0);

  auto low = config::Config::from_string("[redis]\nsentinels = 5\nquorum = 2\n", "t.toml");
  auto l2 = lint_ha(read_ha_timings(low));
  REQUIRE(l2.size() == 1);
  CHECK(l2[0].message ==
        "quorum 2 is below a majority of the 5 Sentinels (3): a partitioned minority can flag the master down (failover "
        "still needs 3 Sentinels to authorise it)");
}

TEST_CASE("capacity plan: format_kb follows pgtune units")
{
  CHECK(format_kb(4194304) == "4GB");
  CHECK(format_kb(524288) == "512MB");
  CHECK(format_kb(20560) == "20560kB");
  CHECK(format_kb(16384) == "16MB");
}

TEST_CASE("plan: -o json gives plain numbers as JSON numbers, values with units as text")
{
  statectl::config::Config cfg;
  PlanInput in;
  in.ram = 16ull << 30;
  in.cpus = 4;
  auto j = to_json(make_plan(in, cfg));
  CHECK(j["postgresql"]["max_connections"].is_number_integer());
  CHECK(j["postgresql"]["max_connections"] == 200);
  CHECK(j["postgresql"]["random_page_cost"].is_number_float());
  CHECK(j["postgresql"]["checkpoint_completion_target"] == 0.9);
  CHECK(j["postgresql"]["shared_buffers"] == "4GB");
  CHECK(j["postgresql"]["huge_pages"].is_string());
  CHECK(j["pgbouncer"]["default_pool_size"].is_number_integer());
  CHECK(j["pgbouncer"]["pool_mode"] == "transaction");
}

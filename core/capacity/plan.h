#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/config/config_fwd.h"

namespace statectl::capacity {

// What the operator plans for. Sizes are bytes; connections 0 means "the workload's default".
struct PlanInput {
  std::uint64_t ram = 0;
  int cpus = 0;
  std::string storage = "ssd";  // ssd | hdd | nvme | san
  std::string workload = "web"; // web | oltp | dw | mixed | desktop
  int connections = 0;
  std::uint64_t data_size = 0;  // 0: unknown (pgtune's default class, 1x-3x RAM)
  std::uint64_t growth_per_month = 0;
  std::uint64_t disk = 0;       // volume the data lives on; 0 = the tier's storage
};

// The valid values of the enum-like inputs, in help order.
const std::vector<std::string>& storage_kinds();
const std::vector<std::string>& workload_kinds();

// max_connections pgtune uses for a workload when --connections is not given.
int default_max_connections(const std::string& workload);

// pgtune's "total data size" class of the inputs: "less_ram" (data smaller than RAM), "mid_ram"
// (1x-3x RAM, also when data_size is 0 = unknown) or "greater_ram" (more than 3x RAM).
std::string data_size_class(const PlanInput& in);

// One postgresql.conf line, value already in postgresql.conf units ("4GB", "20560kB", "1.1").
struct Setting {
  std::string name;
  std::string value;
};

// One row of the seed sizing table: the largest inputs a tier serves and what it costs.
struct Tier {
  std::string name;             // small | medium | large | xlarge
  int vcpus;
  std::uint64_t ram;
  std::uint64_t storage;
  std::string postgres_instance; // AWS RDS class
  std::string redis_node;        // AWS ElastiCache node type
  int monthly_cost_usd;          // primary + standby + Redis master + replica + storage, us-east-1 on demand
};

// The seed sizing table, smallest first.
const std::vector<Tier>& tiers();

// A finding of the HA timing lint. severity: "error" (a rule is broken: failover will not
// behave as configured), "warning" (works, but risky) or "advice".
struct LintFinding {
  std::string severity;
  std::string component; // patroni | sentinel | redis
  std::string message;
};

// HA timings read from the config and what they imply.
struct HaTimings {
  int ttl = 0, loop_wait = 0, retry_timeout = 0;
  int patroni_rto_worst_s = 0;  // ttl + loop_wait + promotion allowance
  int sentinels = 0, quorum = 0;
  std::int64_t down_after_ms = 0;
  std::int64_t failover_timeout_ms = 0;
  double sentinel_rto_worst_s = 0; // down-after + agreement/election/promotion allowance
  int min_replicas_to_write = 0;
  std::string state_backend;
  std::string redis_mode;
  std::string postgres_ha;
};

// The whole plan.
struct Plan {
  PlanInput input;
  int max_connections = 0;
  std::vector<Setting> postgresql;
  // Plain numbers behind the settings (kB, as PostgreSQL counts them), for tests and JSON.
  std::uint64_t shared_buffers_kb = 0, effective_cache_size_kb = 0, maintenance_work_mem_kb = 0,
                work_mem_kb = 0, wal_buffers_kb = 0;
  int max_worker_processes = 0;
  std::vector<Setting> pgbouncer;
  int pool_size = 0, reserve_pool_size = 0, max_client_conn = 0, max_db_connections = 0;
  std::uint64_t redis_maxmemory = 0; // bytes
  std::uint64_t redis_cow_headroom = 0;
  Tier tier;
  bool tier_fits = true; // false when the inputs exceed the largest tier
  std::uint64_t disk = 0;
  std::optional<double> months_until_full; // nullopt: no growth given (never full)
  HaTimings ha;
  std::vector<LintFinding> lint;

  bool has_lint_errors() const;
};

// Throws Error(usage) on invalid inputs (ram 0, cpus < 1, unknown storage/workload).
void validate(const PlanInput& in);

// The PostgreSQL/PgBouncer/Redis sizing of the inputs (pure, no config).
Plan compute_sizing(const PlanInput& in);

// Reads the HA timings of a config and lints them.
HaTimings read_ha_timings(const config::Config& cfg);
std::vector<LintFinding> lint_ha(const HaTimings& ha);

// compute_sizing + HA timings + lint of cfg.
Plan make_plan(const PlanInput& in, const config::Config& cfg);

// Formats a kB amount the way pgtune does: "4GB" when whole gigabytes, "512MB", else "20560kB".
std::string format_kb(std::uint64_t kb);

// The plan as JSON (stable snake_case keys), as aligned text, and as a postgresql.conf snippet.
nlohmann::json to_json(const Plan& plan);
std::string to_text(const Plan& plan);
std::string to_postgresql_conf(const Plan& plan);

} // namespace statectl::capacity

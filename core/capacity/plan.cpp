#include "core/capacity/plan.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/output/printer.h"
#include "core/util/strings.h"

namespace statectl::capacity {

namespace {

constexpr std::uint64_t k_kib = 1024;
constexpr std::uint64_t k_mib = 1024 * k_kib;
constexpr std::uint64_t k_gib = 1024 * k_mib;
constexpr std::uint64_t k_tib = 1024 * k_gib;

// PostgreSQL's own max_worker_processes default, used in the work_mem divisor when there are
// too few CPUs for the plan to set parallel workers.
constexpr int k_pg_default_worker_processes = 8;
// Connections PgBouncer must leave to others: superuser_reserved_connections (3) and the
// replication senders (max_wal_senders 10).
constexpr int k_reserved_connections = 13;
// Seconds allowed for promoting the new primary/master once the election is decided.
constexpr int k_promotion_allowance_s = 1;

bool is_one_of(const std::string& v, const std::vector<std::string>& list)
{
  return std::find(list.begin(), list.end(), v) != list.end();
}

std::string format_double(double v)
{
  std::string s = fmt::format("{:.2f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

} // namespace

const std::vector<std::string>& storage_kinds()
{
  static const std::vector<std::string> k = {"ssd", "hdd", "nvme", "san"};
  return k;
}

const std::vector<std::string>& workload_kinds()
{
  static const std::vector<std::string> k = {"web", "oltp", "dw", "mixed", "desktop"};
  return k;
}

int default_max_connections(const std::string& workload)
{
  if (workload == "oltp") return 300;
  if (workload == "dw") return 40;
  if (workload == "mixed") return 100;
  if (workload == "desktop") return 20;
  return 200;
}

std::string data_size_class(const PlanInput& in)
{
  // pgtune's "Total Data Size" choice: less than RAM, 1x-3x RAM (its default) or more.
  if (in.data_size == 0) return "mid_ram";
  if (in.data_size < in.ram) return "less_ram";
  if (in.data_size <= 3 * in.ram) return "mid_ram";
  return "greater_ram";
}

const std::vector<Tier>& tiers()
{
  // The seed sizing table: AWS r6g (memory-optimised Graviton) classes, because a state store's
  // working set should live in RAM. Monthly costs are us-east-1 on-demand estimates for a
  // Multi-AZ RDS primary + standby, an ElastiCache master + replica and gp3 storage.
  static const std::vector<Tier> t = {
    {"small", 2, 16 * k_gib, 100 * k_gib, "db.r6g.large", "cache.r6g.large", 850},
    {"medium", 4, 32 * k_gib, 500 * k_gib, "db.r6g.xlarge", "cache.r6g.xlarge", 1750},
    {"large", 8, 64 * k_gib, 2 * k_tib, "db.r6g.2xlarge", "cache.r6g.2xlarge", 3600},
    {"xlarge", 16, 128 * k_gib, 8 * k_tib, "db.r6g.4xlarge", "cache.r6g.4xlarge", 7800},
  };
  return t;
}

bool Plan::has_lint_errors() const
{
  return std::any_of(lint.begin(), lint.end(), [](const LintFinding& f) { return f.severity == "error"; });
}

std::string format_kb(std::uint64_t kb)
{
  if (kb >= k_mib && kb % k_mib == 0) return fmt::format("{}GB", kb / k_mib);
  if (kb >= k_kib && kb % k_kib == 0) return fmt::format("{}MB", kb / k_kib);
  return fmt::format("{}kB", kb);
}

void validate(const PlanInput& in)
{
  if (in.ram < 256 * k_mib)
    throw Error(ExitCode::usage, "invalid --ram", fmt::format("{} is below the 256 MiB a PostgreSQL server needs", util::format_size(in.ram)),
                "give the RAM of one database server, e.g. --ram 16GB");
  if (in.cpus < 1 || in.cpus > 1024)
    throw Error(ExitCode::usage, "invalid --cpus", fmt::format("must be between 1 and 1024, got {}", in.cpus));
  if (!is_one_of(in.storage, storage_kinds()))
    throw Error(ExitCode::usage, "invalid --storage", fmt::format("'{}' is not one of {}", in.storage, util::join(storage_kinds(), ", ")));
  if (!is_one_of(in.workload, workload_kinds()))
    throw Error(ExitCode::usage, "invalid --workload", fmt::format("'{}' is not one of {}", in.workload, util::join(workload_kinds(), ", ")));
  if (in.connections < 0 || in.connections > 100000)
    throw Error(ExitCode::usage, "invalid --connections", fmt::format("must be between 1 and 100000, got {}", in.connections));
}

Plan compute_sizing(const PlanInput& in)
{
  validate(in);
  Plan p;
  p.input = in;
  const std::uint64_t ram_kb = in.ram / k_kib;
  const bool dw = in.workload == "dw";
  p.max_connections = in.connections > 0 ? in.connections : default_max_connections(in.workload);

  const bool desktop = in.workload == "desktop";
  const std::string size_class = data_size_class(in);

  // pgtune (PostgreSQL 15, Linux): a quarter of RAM for shared_buffers and three quarters
  // assumed to be OS cache; a desktop shares the machine, so a sixteenth and a quarter.
  p.shared_buffers_kb = desktop ? ram_kb / 16 : ram_kb / 4;
  p.effective_cache_size_kb = desktop ? ram_kb / 4 : ram_kb * 3 / 4;
  p.maintenance_work_mem_kb = std::min<std::uint64_t>(dw ? ram_kb / 8 : ram_kb / 16, 8 * k_mib);

  // wal_buffers: 3% of shared_buffers, at most one 16 MB WAL segment (pgtune rounds values
  // just under 16 MB up to it), at least 32 kB.
  std::uint64_t wal = p.shared_buffers_kb * 3 / 100;
  if (wal > 14 * k_kib) wal = 16 * k_kib;
  p.wal_buffers_kb = std::max<std::uint64_t>(wal, 32);

  // Parallel workers only pay off with 4 or more CPUs; below that PostgreSQL's defaults stay.
  const bool parallel = in.cpus >= 4;
  p.max_worker_processes = parallel ? in.cpus : k_pg_default_worker_processes;
  int per_gather = (in.cpus + 1) / 2;
  if (!dw) per_gather = std::min(per_gather, 4);
  int maint_workers = std::min((in.cpus + 1) / 2, 4);

  // work_mem: what is left after shared_buffers, shared by every backend and worker with three
  // sort/hash nodes each; analytical and mixed workloads run bigger plans, so half of that, a
  // desktop a sixth. A database that fits in RAM leaves page cache unused (30% more); one over
  // three times RAM needs a wider margin against the OOM killer (10% less).
  std::uint64_t divisor = static_cast<std::uint64_t>(p.max_connections + p.max_worker_processes) * 3;
  std::uint64_t work = (ram_kb - p.shared_buffers_kb) / divisor;
  if (dw || in.workload == "mixed") work /= 2;
  if (desktop) work /= 6;
  if (size_class == "less_ram") work = static_cast<std::uint64_t>(std::floor(static_cast<double>(work) * 1.3));
  if (size_class == "greater_ram") work = static_cast<std::uint64_t>(std::floor(static_cast<double>(work) * 0.9));
  p.work_mem_kb = std::max<std::uint64_t>(work, 4 * k_kib);

  const bool hdd = in.storage == "hdd";
  int io = in.storage == "ssd" ? 200 : hdd ? 2 : in.storage == "nvme" ? 1000 : 300;
  // random_page_cost: a database served from RAM never seeks; a disk that seeks does; a data
  // warehouse larger than RAM keeps the default 4 so the planner does not pick index scans
  // over large ranges (pgtune's reasoning).
  std::string random_page_cost = size_class == "less_ram" ? "1.1" : hdd || dw ? "4" : "1.1";
  std::string min_wal = in.workload == "oltp" ? "2GB" : dw ? "4GB" : desktop ? "100MB" : "1GB";
  std::string max_wal = in.workload == "oltp" ? "8GB" : dw ? "16GB" : desktop ? "2GB" : "4GB";

  auto& s = p.postgresql;
  s.push_back({"max_connections", std::to_string(p.max_connections)});
  s.push_back({"shared_buffers", format_kb(p.shared_buffers_kb)});
  s.push_back({"effective_cache_size", format_kb(p.effective_cache_size_kb)});
  s.push_back({"maintenance_work_mem", format_kb(p.maintenance_work_mem_kb)});
  s.push_back({"checkpoint_completion_target", "0.9"});
  s.push_back({"wal_buffers", format_kb(p.wal_buffers_kb)});
  s.push_back({"default_statistics_target", dw ? "500" : "100"});
  s.push_back({"random_page_cost", random_page_cost});
  s.push_back({"effective_io_concurrency", std::to_string(io)});
  s.push_back({"work_mem", format_kb(p.work_mem_kb)});
  // Huge pages pay off once the shared memory is large; "try" still starts without them.
  s.push_back({"huge_pages", p.shared_buffers_kb >= 2 * k_mib ? "try" : "off"});
  // JIT costs planning time and CPU spikes on short queries; analytical ones keep the default.
  if (in.workload == "web" || in.workload == "oltp" || in.workload == "mixed") s.push_back({"jit", "off"});
  // PostgreSQL 15 compresses full-page images with lz4 (Debian's build has it).
  s.push_back({"wal_compression", "lz4"});
  if (in.cpus >= 16) s.push_back({"autovacuum_max_workers", in.cpus >= 32 ? "5" : "4"});
  // Each autovacuum worker may use maintenance_work_mem; cap it at 2 GB per worker.
  if (p.maintenance_work_mem_kb >= 2 * k_mib) s.push_back({"autovacuum_work_mem", format_kb(2 * k_mib)});
  s.push_back({"min_wal_size", min_wal});
  s.push_back({"max_wal_size", max_wal});
  if (parallel) {
    s.push_back({"max_worker_processes", std::to_string(in.cpus)});
    s.push_back({"max_parallel_workers_per_gather", std::to_string(per_gather)});
    s.push_back({"max_parallel_workers", std::to_string(in.cpus)});
    s.push_back({"max_parallel_maintenance_workers", std::to_string(maint_workers)});
  }
  if (desktop) {
    s.push_back({"wal_level", "minimal"});
    s.push_back({"max_wal_senders", "0"});
  }

  // PgBouncer: the server pool follows the PostgreSQL wiki's cores × 2 + effective spindles
  // (one for SSD/NVMe/SAN, two for spinning disks), bounded by what PostgreSQL leaves after
  // its reserved connections; clients may outnumber server connections five to one.
  p.max_db_connections = std::max(1, p.max_connections - k_reserved_connections);
  p.pool_size = std::min(in.cpus * 2 + (hdd ? 2 : 1), p.max_db_connections);
  p.reserve_pool_size = std::max(1, (p.pool_size + 3) / 4);
  p.max_client_conn = p.max_connections * 5;
  p.pgbouncer = {
    {"pool_mode", "transaction"},
    {"max_client_conn", std::to_string(p.max_client_conn)},
    {"default_pool_size", std::to_string(p.pool_size)},
    {"reserve_pool_size", std::to_string(p.reserve_pool_size)},
    {"max_db_connections", std::to_string(p.max_db_connections)},
  };

  // Redis: 10% of RAM for the OS and client buffers; the rest split in two so that a BGSAVE or
  // AOF rewrite whose fork copies every page on write still fits.
  std::uint64_t usable = in.ram / 10 * 9;
  p.redis_maxmemory = usable / 2 / k_mib * k_mib;
  p.redis_cow_headroom = usable - p.redis_maxmemory;

  // The smallest tier that holds the inputs and a year of growth.
  std::uint64_t data_in_a_year = in.data_size + 12 * in.growth_per_month;
  p.tier = tiers().back();
  p.tier_fits = false;
  for (const auto& t : tiers()) {
    if (in.cpus <= t.vcpus && in.ram <= t.ram && data_in_a_year <= t.storage) {
      p.tier = t;
      p.tier_fits = true;
      break;
    }
  }

  p.disk = in.disk > 0 ? in.disk : p.tier.storage;
  if (in.growth_per_month > 0) {
    double left = in.data_size >= p.disk ? 0.0 : static_cast<double>(p.disk - in.data_size);
    p.months_until_full = std::floor(left / static_cast<double>(in.growth_per_month) * 10.0) / 10.0;
  }
  return p;
}

HaTimings read_ha_timings(const config::Config& cfg)
{
  HaTimings h;
  h.ttl = static_cast<int>(config::settings(cfg).postgres.ttl);
  h.loop_wait = static_cast<int>(config::settings(cfg).postgres.loop_wait);
  h.retry_timeout = static_cast<int>(config::settings(cfg).postgres.retry_timeout);
  // Worst case: the leader dies just after renewing its lease, the lease runs out (ttl) and a
  // replica notices on its next HA loop (loop_wait), then promotes.
  h.patroni_rto_worst_s = h.ttl + h.loop_wait + k_promotion_allowance_s;
  h.sentinels = static_cast<int>(config::settings(cfg).redis.sentinels);
  h.quorum = static_cast<int>(config::settings(cfg).redis.quorum);
  h.down_after_ms = config::settings(cfg).redis.down_after.count();
  h.failover_timeout_ms = config::settings(cfg).redis.failover_timeout.count();
  // SDOWN after down-after, about a second to reach ODOWN and elect a leader Sentinel, then
  // promotion of the replica.
  h.sentinel_rto_worst_s = static_cast<double>(h.down_after_ms) / 1000.0 + 1.0 + k_promotion_allowance_s;
  h.min_replicas_to_write = static_cast<int>(config::settings(cfg).redis.min_replicas_to_write);
  h.state_backend = config::settings(cfg).state.backend;
  h.redis_mode = config::settings(cfg).redis.mode;
  h.postgres_ha = config::settings(cfg).postgres.ha;
  return h;
}

std::vector<LintFinding> lint_ha(const HaTimings& h)
{
  std::vector<LintFinding> out;
  int needed = h.loop_wait + 2 * h.retry_timeout;
  if (needed > h.ttl)
    out.push_back({"error", "patroni",
                   fmt::format("loop_wait + 2 x retry_timeout = {} s exceeds ttl {} s: the leader can lose its lease while "
                               "still retrying the DCS; raise [postgres] ttl to at least {} or lower the others",
                               needed, h.ttl, needed)});
  if (h.ttl < 20)
    out.push_back({"advice", "patroni",
                   fmt::format("ttl {} s is below 20 s: a short DCS or network stall demotes a healthy leader; 20-30 s is "
                               "the usual trade-off against failover time",
                               h.ttl)});

  if (h.redis_mode == "sentinel") {
    int majority = h.sentinels / 2 + 1;
    if (h.quorum > h.sentinels)
      out.push_back({"error", "sentinel",
                     fmt::format("quorum {} exceeds the {} Sentinels: the master can never be agreed down, so no failover "
                                 "happens; set [redis] quorum to {}",
                                 h.quorum, h.sentinels, majority)});
    else if (h.quorum < majority)
      out.push_back({"warning", "sentinel",
                     fmt::format("quorum {} is below a majority of the {} Sentinels ({}): a partitioned minority can flag the "
                                 "master down (failover still needs {} Sentinels to authorise it)",
                                 h.quorum, h.sentinels, majority, majority)});
    if (h.sentinels < 3)
      out.push_back({"warning", "sentinel",
                     fmt::format("{} Sentinel(s): losing one Sentinel or its host stops failover; run at least 3 on separate "
                                 "hosts",
                                 h.sentinels)});
    else if (h.sentinels % 2 == 0)
      out.push_back({"advice", "sentinel",
                     fmt::format("{} Sentinels tolerate no more failures than {}; use an odd number", h.sentinels,
                                 h.sentinels - 1)});
    if (h.down_after_ms < 1000)
      out.push_back({"warning", "sentinel",
                     fmt::format("down-after-milliseconds {} is below 1000: ordinary latency spikes will trigger failovers",
                                 h.down_after_ms)});
    if (h.failover_timeout_ms < h.down_after_ms)
      out.push_back({"advice", "sentinel",
                     fmt::format("failover-timeout {} ms is shorter than down-after-milliseconds {} ms: a slow failover is "
                                 "abandoned and retried before the master is even re-checked",
                                 h.failover_timeout_ms, h.down_after_ms)});
  }
  if (h.state_backend == "redis" && h.min_replicas_to_write == 0)
    out.push_back({"warning", "redis",
                   "min-replicas-to-write is 0 while locks use Redis: a lock acquired just before a failover can vanish "
                   "with the old master and two holders run at once; set [redis] min_replicas_to_write = 1"});
  return out;
}

Plan make_plan(const PlanInput& in, const config::Config& cfg)
{
  Plan p = compute_sizing(in);
  p.ha = read_ha_timings(cfg);
  p.lint = lint_ha(p.ha);
  if (in.workload == "desktop")
    p.lint.push_back({"warning", "postgres",
                      "the desktop workload sets wal_level = minimal and max_wal_senders = 0 (as pgtune does): the stack's "
                      "standbys, WAL archive and backups need wal_level = replica, so use it only for a single development "
                      "server"});
  return p;
}

nlohmann::json to_json(const Plan& p)
{
  // A plain number ("200", "1.1") is a JSON number; a value with a unit ("4GB") or a word
  // ("try", "transaction") stays the postgresql.conf / pgbouncer.ini text.
  auto value = [](const std::string& text) -> nlohmann::json {
    bool numeric = !text.empty() && text.find_first_not_of("0123456789.") == std::string::npos &&
                   std::count(text.begin(), text.end(), '.') <= 1 && text.front() != '.' && text.back() != '.';
    if (!numeric) return text;
    if (text.find('.') == std::string::npos) return std::stoll(text);
    return std::stod(text);
  };
  nlohmann::json pg = nlohmann::json::object(), bouncer = nlohmann::json::object();
  for (const auto& s : p.postgresql) pg[s.name] = value(s.value);
  for (const auto& s : p.pgbouncer) bouncer[s.name] = value(s.value);
  nlohmann::json lint = nlohmann::json::array();
  for (const auto& f : p.lint) lint.push_back({{"severity", f.severity}, {"component", f.component}, {"message", f.message}});
  return {
    {"input",
     {{"ram_bytes", p.input.ram},
      {"cpus", p.input.cpus},
      {"storage", p.input.storage},
      {"workload", p.input.workload},
      {"data_size_class", data_size_class(p.input)},
      {"connections", p.max_connections},
      {"data_size_bytes", p.input.data_size},
      {"growth_bytes_per_month", p.input.growth_per_month}}},
    {"postgresql", pg},
    {"pgbouncer", bouncer},
    {"redis",
     {{"maxmemory", fmt::format("{}mb", p.redis_maxmemory / k_mib)},
      {"maxmemory_bytes", p.redis_maxmemory},
      {"cow_headroom_bytes", p.redis_cow_headroom},
      {"maxmemory_policy", "allkeys-lru"}}},
    {"tier",
     {{"name", p.tier.name},
      {"fits", p.tier_fits},
      {"vcpus", p.tier.vcpus},
      {"ram_bytes", p.tier.ram},
      {"storage_bytes", p.tier.storage},
      {"postgres_instance", p.tier.postgres_instance},
      {"redis_node", p.tier.redis_node},
      {"monthly_cost_usd", p.tier.monthly_cost_usd}}},
    {"storage",
     {{"disk_bytes", p.disk},
      {"data_size_bytes", p.input.data_size},
      {"growth_bytes_per_month", p.input.growth_per_month},
      {"months_until_full", p.months_until_full ? nlohmann::json(*p.months_until_full) : nlohmann::json(nullptr)}}},
    {"ha",
     {{"patroni",
       {{"ttl", p.ha.ttl}, {"loop_wait", p.ha.loop_wait}, {"retry_timeout", p.ha.retry_timeout},
        {"rto_worst_seconds", p.ha.patroni_rto_worst_s}, {"enabled", p.ha.postgres_ha == "patroni"}}},
      {"sentinel",
       {{"sentinels", p.ha.sentinels}, {"quorum", p.ha.quorum}, {"down_after_ms", p.ha.down_after_ms},
        {"failover_timeout_ms", p.ha.failover_timeout_ms}, {"rto_worst_seconds", p.ha.sentinel_rto_worst_s},
        {"enabled", p.ha.redis_mode == "sentinel"}}},
      {"min_replicas_to_write", p.ha.min_replicas_to_write}}},
    {"lint", lint},
  };
}

std::string to_text(const Plan& p)
{
  std::string out = fmt::format("Plan for {} RAM, {} CPUs, {} storage, {} workload, {} connections\n\n",
                                util::format_size(p.input.ram), p.input.cpus, p.input.storage, p.input.workload,
                                p.max_connections);
  output::Table pg{{"POSTGRESQL", "VALUE"}, {}};
  for (const auto& s : p.postgresql) pg.rows.push_back({s.name, s.value});
  out += pg.render() + "\n";
  output::Table pb{{"PGBOUNCER", "VALUE"}, {}};
  for (const auto& s : p.pgbouncer) pb.rows.push_back({s.name, s.value});
  out += pb.render() + "\n";
  output::Table rd{{"REDIS", "VALUE"}, {}};
  rd.rows.push_back({"maxmemory", fmt::format("{}mb", p.redis_maxmemory / k_mib)});
  rd.rows.push_back({"maxmemory-policy", "allkeys-lru"});
  rd.rows.push_back({"fork headroom", util::format_size(p.redis_cow_headroom)});
  out += rd.render() + "\n";

  out += fmt::format("Tier: {}{} - PostgreSQL {}, Redis {}, {} vCPU, {} RAM, {} storage, about ${}/month\n",
                     p.tier.name, p.tier_fits ? "" : " (inputs exceed the largest tier: shard or scale out)",
                     p.tier.postgres_instance, p.tier.redis_node, p.tier.vcpus, util::format_size(p.tier.ram),
                     util::format_size(p.tier.storage), p.tier.monthly_cost_usd);
  if (p.months_until_full)
    out += fmt::format("Storage: {} of {} used, full in {} months at {}/month\n", util::format_size(p.input.data_size),
                       util::format_size(p.disk), format_double(*p.months_until_full),
                       util::format_size(p.input.growth_per_month));
  else
    out += fmt::format("Storage: {} of {} used (give --growth for months until full)\n",
                       util::format_size(p.input.data_size), util::format_size(p.disk));
  out += fmt::format("HA: Patroni ttl {} s, loop_wait {} s, retry_timeout {} s: worst-case RTO {} s{}\n", p.ha.ttl,
                     p.ha.loop_wait, p.ha.retry_timeout, p.ha.patroni_rto_worst_s,
                     p.ha.postgres_ha == "patroni" ? "" : " (Patroni not enabled)");
  if (p.ha.redis_mode == "sentinel")
    out += fmt::format("HA: {} Sentinels, quorum {}, down-after {} ms: worst-case RTO {} s\n", p.ha.sentinels,
                       p.ha.quorum, p.ha.down_after_ms, format_double(p.ha.sentinel_rto_worst_s));
  if (p.lint.empty()) out += "Lint: no findings\n";
  for (const auto& f : p.lint) out += fmt::format("{}: {}: {}\n", f.severity, f.component, f.message);
  return out;
}

std::string to_postgresql_conf(const Plan& p)
{
  std::string out = fmt::format("# statectl capacity plan: {} RAM, {} CPUs, {} storage, {} workload\n",
                                util::format_size(p.input.ram), p.input.cpus, p.input.storage, p.input.workload);
  for (const auto& s : p.postgresql) out += fmt::format("{} = {}\n", s.name, s.value);
  return out;
}

} // namespace statectl::capacity

#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"

namespace statectl::failover {

// What `failover test` is asked to do.
struct TestOptions {
  std::string backend = "postgres"; // postgres | redis
  std::string target = "local";     // [project] target (the report names the one run_test used)
  int rate = 200;                   // probe writes per second
  int threads = 4;                  // probe threads sharing the schedule
  int trials = 1;
  std::chrono::milliseconds warmup{2000};         // probe writes before the fault
  std::chrono::milliseconds settle{2000};         // probe writes after recovery, before the read-back
  std::chrono::milliseconds write_timeout{1000};  // a write without answer by then is "unknown"
  std::chrono::milliseconds timeout{60000};       // for recovery and for healing
  std::optional<std::chrono::milliseconds> max_rto;
  std::optional<std::int64_t> max_lost; // default: 0 when the backend is configured lossless
  bool heal = true;
};

// One injected failure and what the probe saw.
struct Trial {
  int number = 0;
  std::string old_primary;
  std::string new_primary;
  std::string fault;     // what was done ("SIGKILL postgres-0 (postmaster 1234)")
  std::int64_t detect_ms = -1;  // fault -> first write that failed
  std::int64_t promote_ms = -1; // fault -> a new primary/master is in charge
  std::int64_t rto_ms = -1;     // fault -> first acknowledged write on the new primary
  std::uint64_t attempted = 0;
  std::uint64_t acked = 0;
  std::uint64_t failed = 0;
  std::uint64_t lost = 0;            // acknowledged but missing after the settle
  bool read_back = false;            // the read-back answered: lost is known (else it is not 0, but unknown)
  std::uint64_t unknown = 0;         // timed out / connection lost while in flight
  std::uint64_t unknown_found = 0;
  std::uint64_t unknown_missing = 0;
  std::vector<std::uint64_t> lost_seqs; // the first few, for the report
  std::string heal;      // "pg_basebackup", "patroni", "sentinel", "platform", "skipped"
  std::int64_t heal_ms = -1;
  bool healthy_after = false;
  std::vector<std::string> problems; // why this trial did not pass
  nlohmann::json to_json() const;
};

struct TestReport {
  std::string backend;
  std::string target;
  std::string mode;          // bare, patroni, sentinel, standalone
  bool lossless = false;     // configured so that acknowledged writes survive a failover
  std::string lossless_how;  // "synchronous replication (ANY 1 standby)", "min-replicas-to-write 1", or why not
  std::int64_t max_lost = 0;
  std::optional<std::int64_t> max_rto_ms;
  std::vector<Trial> trials;
  std::int64_t rto_ms_p50 = -1;
  std::int64_t rto_ms_max = -1;
  std::uint64_t lost_total = 0;
  bool lost_known = false;    // every trial's read-back answered (lost_total is not a count otherwise)
  bool passed = false;
  std::vector<std::string> reasons; // why it did not pass
  nlohmann::json to_json() const;
  std::string to_text() const;
};

// Runs opts.trials failover trials on the configured stack and measures each. Throws Error when
// the stack is not ready (not deployed, unhealthy, probe cannot write during warm-up); a trial
// over the limits is reported (passed = false), not thrown.
TestReport run_test(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const TestOptions& opts);

// Fills p50/max/lost_total/passed/reasons from the trials and limits.
void summarize(TestReport& report);

// The p50 (lower median) of values; -1 when empty.
std::int64_t percentile50(std::vector<std::int64_t> values);

// `failover promote`: the bare-mode runbook. Picks the standby with the highest replay LSN
// (or `member`), promotes it, repoints PgBouncer (RELOAD) and keeps the old primary fenced
// (stopped, recorded as a standby to re-make). Without force it refuses (Error(usage), nothing
// changed) while the old primary still answers as a primary.
struct PromoteResult {
  std::string old_primary;
  std::string new_primary;
  std::string replay_lsn;
  std::int64_t took_ms = 0;
  std::vector<std::pair<std::string, std::string>> candidates; // member, replay LSN
  nlohmann::json to_json() const;
};
PromoteResult promote(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const std::string& member,
                      bool force = false);

// Rejoins a fenced former primary as a standby: pg_rewind when possible, else a fresh
// pg_basebackup. Returns the method used.
std::string rejoin(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const std::string& member);

// `failover switchover`.
struct SwitchoverOptions {
  std::string backend = "postgres";
  std::string to; // member name; empty = the most caught-up standby
  int rate = 100;
  std::chrono::milliseconds timeout{60000};
};
struct SwitchoverReport {
  std::string backend;
  std::string mode;
  std::string old_primary;
  std::string new_primary;
  std::int64_t pause_ms = -1;  // writes held (PgBouncer PAUSE -> RESUME; or the probe's longest gap)
  std::int64_t took_ms = 0;
  std::uint64_t acked = 0;
  std::uint64_t lost = 0;
  std::uint64_t unknown = 0;
  std::string rejoin;  // how the old primary came back
  bool healthy = false;
  bool passed = false;
  std::vector<std::string> reasons;
  nlohmann::json to_json() const;
  std::string to_text() const;
};
SwitchoverReport switchover(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const SwitchoverOptions& opts);

} // namespace statectl::failover

#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/clients/postgres.h"
#include "core/clients/redis.h"

namespace statectl::failover {

using Clock = std::chrono::steady_clock;

// What became of one probe write.
enum class Outcome { acked, failed, unknown };

// One sequence-numbered write of the probe.
struct WriteRecord {
  std::uint64_t seq = 0;
  Clock::time_point started{};
  Clock::time_point finished{};
  Outcome outcome = Outcome::failed;
  std::string server; // which server acknowledged it ("127.0.0.1:15433"); empty unless acked
  std::string error;  // first line of the error (failed/unknown)
};

// Where and how a probe connection writes. One Writer per probe thread; it connects lazily and
// reconnects (re-resolving the address) after an error.
class Writer {
public:
  virtual ~Writer() = default;
  // Writes sequence number seq within timeout; fills outcome, server and error.
  virtual void write(std::uint64_t seq, std::chrono::milliseconds timeout, WriteRecord& rec) = 0;
};

// Connection settings of the PostgreSQL probe: the client's parameters (host, port, user,
// database or a URL; the password passed to libpq separately, never in a string that could be
// logged).
using PgTarget = clients::PgParams;

// The Redis probe resolves the master through Sentinels (re-resolving after each error) or
// writes to a fixed address when no Sentinel is given.
struct RedisTarget {
  std::vector<std::pair<std::string, int>> sentinels;
  std::string master_name;
  std::string host = "127.0.0.1"; // fixed master when sentinels is empty
  int port = 0;
  std::string user; // ACL user, empty = default
  std::string password;
  clients::AddressMap nat; // announced master addresses -> reachable ones (stack::Endpoints::redis_nat)
  std::vector<std::pair<std::string, int>> cluster; // Redis Cluster nodes (seeds); non-empty = cluster mode
  clients::RedisTls tls;   // of the master and the Sentinels (stack::Endpoints::redis_tls)
};

// The probe table and key: one per run, so trials never see each other's writes.
std::string pg_probe_table();
std::string redis_probe_key(const std::string& run_id);
// The Redis Cluster slot of every run's probe key (its hash tag is {failover}): the master of this
// slot is the one a cluster failover test kills.
int redis_probe_slot();

// Creates the probe table when missing (through the clients' path), then waits (within timeout)
// until every streaming standby has replayed it, so a promoted standby has it too. Passing answers
// (PgBouncer's "server login has been failing ... (server_login_retry)", a server starting up)
// are retried within the timeout; throws Error(unavailable) when it cannot connect, Error(failed)
// when the table cannot be created.
void pg_prepare(const PgTarget& target, std::chrono::milliseconds timeout);
// True when the server at target (a standby too) has the probe table.
bool pg_has_probe_table(const PgTarget& target, std::chrono::milliseconds timeout);
// Sequence numbers of run_id that the server holds; throws Error(unavailable) when it cannot
// read them.
std::set<std::uint64_t> pg_read_back(const PgTarget& target, const std::string& run_id, std::chrono::milliseconds timeout);
// Deletes the rows of run_id (best effort).
void pg_cleanup(const PgTarget& target, const std::string& run_id);

std::set<std::uint64_t> redis_read_back(const RedisTarget& target, const std::string& run_id, std::chrono::milliseconds timeout);
void redis_cleanup(const RedisTarget& target, const std::string& run_id);
// The master Sentinels report now ("127.0.0.1", port): asks each Sentinel in turn; on a cluster,
// the master of redis_probe_slot().
std::optional<std::pair<std::string, int>> redis_master(const RedisTarget& target, std::chrono::milliseconds timeout);
// The master's host and port as the Sentinels announce them (before the NAT: the address the
// other servers reach it on); nullopt without Sentinels or an answer.
std::optional<std::pair<std::string, int>> redis_master_announced(const RedisTarget& target, std::chrono::milliseconds timeout);
// What each Sentinel reports as the master (port, 0 when it does not answer).
std::vector<int> redis_sentinel_views(const RedisTarget& target, std::chrono::milliseconds timeout);

std::unique_ptr<Writer> make_pg_writer(const PgTarget& target, const std::string& run_id);
std::unique_ptr<Writer> make_redis_writer(const RedisTarget& target, const std::string& run_id);

// The write probe: `threads` threads share one schedule of `rate` writes per second (a thread
// whose write hangs does not stop the others), each write sequence-numbered from 1.
class Probe {
public:
  using Factory = std::function<std::unique_ptr<Writer>()>;
  Probe(Factory factory, int rate, int threads, std::chrono::milliseconds write_timeout);
  ~Probe();
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  void start();
  // Stops issuing writes and waits for the threads (each finishes its write in flight).
  void stop();
  // A copy of the records so far, in sequence order (finished writes only).
  std::vector<WriteRecord> records() const;
  // The first acknowledged write that started at or after t on a server other than `not_server`.
  std::optional<WriteRecord> first_ack_after(Clock::time_point t, const std::string& not_server) const;
  // The first write that finished at or after t without an acknowledgement.
  std::optional<WriteRecord> first_error_after(Clock::time_point t) const;
  // The server that acknowledged the latest write, empty when none.
  std::string last_acked_server() const;
  std::uint64_t acked() const;

private:
  void run();
  Factory m_factory;
  int m_rate;
  int m_threads;
  std::chrono::milliseconds m_timeout;
  std::atomic<bool> m_stop{false};
  std::atomic<std::uint64_t> m_next{1};
  Clock::time_point m_t0{};
  std::vector<std::thread> m_workers;
  mutable std::mutex m_mutex;
  std::vector<WriteRecord> m_records;
};

} // namespace statectl::failover

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"

namespace statectl::state {

using Millis = std::chrono::milliseconds;

// Options of one put. metadata is JSON text (already validated by the caller), empty = none.
struct PutOptions {
  std::optional<Millis> ttl;
  std::string metadata;
  bool if_absent = false;
};

// One line of a batch: the same fields as a single put (if_absent is not supported in batches).
struct BatchItem {
  std::string key;
  std::string value;
  std::optional<Millis> ttl;
  std::string metadata;
};

// A batch read item by item: put --batch streams its input through this.
class BatchSource {
public:
  virtual ~BatchSource() = default;
  // The next item; false at the end. Throws Error(usage) for a malformed line.
  virtual bool next(BatchItem& item) = 0;
  // Starts again from the first item (to retry a write that rolled back); false when the input
  // cannot be read twice (a pipe).
  virtual bool rewind() = 0;
  // Reads every item once, validating each without keeping it, then starts again from the first
  // one; returns how many there are. Throws Error(usage) for the first malformed item, so a
  // caller that cannot undo its writes (Redis) calls this before writing anything. An input that
  // cannot be read twice is kept on the side while it is read (BatchReader: an unlinked 0600
  // temporary file), so memory does not grow with the input.
  virtual std::uint64_t prescan()
  {
    std::uint64_t n = 0;
    for (BatchItem item; next(item);) ++n;
    if (!rewind()) throw std::logic_error("BatchSource::prescan: the source cannot be read twice");
    return n;
  }
};

// The items of a vector as a BatchSource.
class ItemsSource final : public BatchSource {
public:
  explicit ItemsSource(const std::vector<BatchItem>& items) : m_items(items) {}
  bool next(BatchItem& item) override
  {
    if (m_next == m_items.size()) return false;
    item = m_items[m_next++];
    return true;
  }
  bool rewind() override
  {
    m_next = 0;
    return true;
  }
  // A vector is read twice as it is: nothing to copy aside, and its items were validated by the
  // caller (Backend::put_batch).
  std::uint64_t prescan() override { return m_items.size(); }

private:
  const std::vector<BatchItem>& m_items;
  std::size_t m_next = 0;
};

// One row of `keys`: size of the value in bytes, remaining TTL (nullopt = no expiry), and the
// last write as milliseconds since the Unix epoch (0 when the backend does not know it).
struct KeyInfo {
  std::string key;
  std::uint64_t size = 0;
  std::optional<Millis> ttl;
  std::int64_t updated_at_ms = 0;
};

// The answer of `ttl`: whether the key exists and, when it does, its remaining lifetime.
struct TtlInfo {
  bool exists = false;
  std::optional<Millis> remaining; // nullopt = no expiry
};

// One lease holder: name, owner ("host:pid"), fencing token, remaining lease time.
struct LockInfo {
  std::string name;
  std::string owner;
  std::int64_t token = 0;
  Millis expires_in{0};
};

// One checkpoint of a backend's whole key space.
struct CheckpointInfo {
  std::string id;
  std::string name;
  std::int64_t created_ms = 0; // milliseconds since the Unix epoch
  std::uint64_t keys = 0;
  std::uint64_t bytes = 0;
};

// The state backend: one connection, used by one thread only (not thread-safe; create one
// backend per thread). Every call has the [state] timeout; a lost connection is re-established
// once per call. Failures throw statectl::Error: ExitCode::unavailable when the server cannot be
// reached, ExitCode::failed for a server error, ExitCode::usage for a value over
// [state] max_value_size.
class Backend {
public:
  virtual ~Backend() = default;

  // "postgres" or "redis".
  virtual std::string kind() const = 0;
  // The address connected to ("127.0.0.1:16432"), for messages; never contains a password.
  virtual std::string address() const = 0;

  // The value, or nullopt when the key is absent or expired.
  virtual std::optional<std::string> get(const std::string& key) = 0;
  // Stores a value. Returns false only when options.if_absent is set and the key already
  // exists (checked and written atomically).
  virtual bool put(const std::string& key, const std::string& value, const PutOptions& options = {}) = 0;
  // Deletes keys; returns how many existed.
  virtual std::uint64_t del(const std::vector<std::string>& keys) = 0;
  // Hands the live keys starting with prefix to sink, sorted by key, at most limit (0 = all),
  // page by page (memory does not grow with the key count on PostgreSQL; Redis holds the key
  // names to sort them, nothing else); returns how many. Each page is one call with the
  // [state] timeout, so a long listing is not cut short by it. Not a snapshot: a key written
  // during the listing may or may not appear (as with SCAN).
  virtual std::uint64_t keys(const std::string& prefix, std::uint64_t limit, const std::function<void(const KeyInfo&)>& sink) = 0;
  // The same, collected (for small listings and tests).
  std::vector<KeyInfo> keys(const std::string& prefix, std::uint64_t limit)
  {
    std::vector<KeyInfo> out;
    keys(prefix, limit, [&out](const KeyInfo& k) { out.push_back(k); });
    return out;
  }
  virtual TtlInfo ttl(const std::string& key) = 0;
  // Deletes expired entries; returns how many were deleted (Redis expires natively: 0).
  virtual std::uint64_t gc() = 0;
  // Writes every item (all-or-nothing on PostgreSQL, pipelined on Redis); returns how many were
  // written. The caller validates the input first.
  std::uint64_t put_batch(const std::vector<BatchItem>& items)
  {
    ItemsSource source(items);
    return put_batch_stream(source);
  }
  // Writes the items of source as put_batch does, with memory that does not grow with the batch;
  // returns how many were read. A malformed line (Error usage from source) leaves nothing
  // written: PostgreSQL writes while it reads, in one transaction, and rolls it back; Redis,
  // which cannot undo a write, reads and validates the whole source first (source.prescan()),
  // then reads it again and writes it in windows.
  virtual std::uint64_t put_batch_stream(BatchSource& source) = 0;

  // Grants the lease `name` to owner for ttl when it is free or expired; returns the fencing
  // token (strictly greater than every token granted before for that name, also across a
  // failover: Redis returns only once the lease and the token are on every replica, else
  // throws Error(unavailable)), nullopt when held.
  virtual std::optional<std::int64_t> lock_acquire(const std::string& name, const std::string& owner, Millis ttl) = 0;
  // Extends the lease only while it is still ours (compare-and-set on owner and token); false
  // when lost. Throws Error when the answer is unknown (the caller retries until the lease ends).
  virtual bool lock_renew(const std::string& name, const std::string& owner, std::int64_t token, Millis ttl) = 0;
  // Releases the lease only while it is still ours (compare-and-delete on owner and token).
  virtual void lock_release(const std::string& name, const std::string& owner, std::int64_t token) = 0;
  // Current, unexpired holders sorted by name.
  virtual std::vector<LockInfo> locks() = 0;

  // Snapshots every live key; returns the new checkpoint.
  virtual CheckpointInfo checkpoint_create(const std::string& name) = 0;
  // Checkpoints, oldest first.
  virtual std::vector<CheckpointInfo> checkpoint_list() = 0;
  // Replaces the key space with the checkpoint (atomically on PostgreSQL, in one Lua script on
  // Redis); throws Error(failed) when the id is unknown.
  virtual CheckpointInfo checkpoint_restore(const std::string& id) = 0;
};

// Connects to the backend named "postgres" or "redis" with the addresses of stack::resolve(cfg)
// and the password from the secret store (else PGPASSWORD/PGPASSFILE, REDISCLI_AUTH), retrying
// per [state] connect_retries / retry_initial / retry_max; then throws Error(unavailable) naming
// the address. Creates or migrates the PostgreSQL schema on first use.
std::unique_ptr<Backend> make_backend(const config::Config& cfg, const std::string& backend);

} // namespace statectl::state

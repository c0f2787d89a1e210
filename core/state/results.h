#pragma once

// The results of the state commands (get, put, del, keys, ttl, gc, locks, checkpoint): each is one
// value rendered by the printer as JSON (to_json) or text (to_text). Binary keys and values go
// into JSON as "<field>_b64" when they are not text.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/state/backend.h"

namespace statectl::output {
class Printer;
}

namespace statectl::state {

// `get -o json`: the key and its value (text mode prints the raw value instead).
struct GetResult {
  std::string key;
  std::string value;
};

// `put KEY`: the key written and the size of its value.
struct PutResult {
  std::string key;
  std::uint64_t bytes = 0;
};

// `put --batch`: how many keys were written, and whether the batch failed.
struct BatchResult {
  std::uint64_t written = 0;
  std::uint64_t errors = 0;
};

// `del` and `gc`: how many keys were deleted (gc: expired ones).
struct DeleteResult {
  std::uint64_t deleted = 0;
  bool expired = false; // gc: the text says "expired keys"
};


// `ttl KEY`: the remaining lifetime, nullopt when the key does not expire.
struct TtlResult {
  std::string key;
  std::optional<Millis> remaining;
};

// `checkpoint create` / `checkpoint restore`: the checkpoint and what was done with it.
struct CheckpointResult {
  CheckpointInfo checkpoint;
  bool restored = false;
};

// `checkpoint list`: every checkpoint, oldest first.
struct CheckpointList {
  std::vector<CheckpointInfo> checkpoints;
};

// `locks`: the current lease holders.
struct LockList {
  std::vector<LockInfo> locks;
};

void to_json(nlohmann::json& j, const GetResult& r);
void to_json(nlohmann::json& j, const PutResult& r);
void to_json(nlohmann::json& j, const BatchResult& r);
void to_json(nlohmann::json& j, const DeleteResult& r);
void to_json(nlohmann::json& j, const TtlResult& r);
void to_json(nlohmann::json& j, const CheckpointInfo& r);
void to_json(nlohmann::json& j, const CheckpointResult& r);
void to_json(nlohmann::json& j, const CheckpointList& r);
void to_json(nlohmann::json& j, const LockList& r);

// The raw value, no newline added.
std::string to_text(const GetResult& r);
// Nothing: a successful put is silent.
std::string to_text(const PutResult& r);
// "written N, errors E".
std::string to_text(const BatchResult& r);
// "deleted N" (gc: "deleted N expired keys").
std::string to_text(const DeleteResult& r);
// Seconds with millisecond precision, or "none".
std::string to_text(const TtlResult& r);
// "created checkpoint ID (N keys, SIZE)" / "restored checkpoint ID (N keys)".
std::string to_text(const CheckpointResult& r);
// The ID / NAME / CREATED / KEYS / BYTES table, or "no checkpoints".
std::string to_text(const CheckpointList& r);
// The NAME / OWNER / TOKEN / EXPIRES_IN table, or "no locks held".
std::string to_text(const LockList& r);

// `keys`, written row by row as the backend pages through them, so memory does not grow with the
// key count: text is one key per line; JSON is {"keys": [{key, size, ttl, updated_at}, ...]},
// laid out as the printer lays out every document, and stays one document when an error cuts the
// listing short (the rows so far, then "error").
class KeyListWriter {
public:
  explicit KeyListWriter(output::Printer& printer);
  void row(const KeyInfo& k);
  // Ends the listing (closes the JSON document).
  void finish();

private:
  output::Printer& m_printer;
  std::ostream& m_out;
  bool m_json;
  std::uint64_t m_rows = 0;
};

} // namespace statectl::state

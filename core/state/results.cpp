#include "core/state/results.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/output/printer.h"
#include "core/state/common.h"
#include "core/util/strings.h"

namespace statectl::state {

namespace {

void put_bytes(nlohmann::json& j, const std::string& field, const std::string& bytes)
{
  if (is_text(bytes)) j[field] = bytes;
  else j[field + "_b64"] = to_base64(bytes);
}

nlohmann::json seconds(const std::optional<Millis>& ms)
{
  if (!ms) return nullptr;
  return static_cast<double>(ms->count()) / 1000.0;
}

} // namespace

void to_json(nlohmann::json& j, const GetResult& r)
{
  j = nlohmann::json::object();
  put_bytes(j, "key", r.key);
  put_bytes(j, "value", r.value);
}

std::string to_text(const GetResult& r) { return r.value; }

void to_json(nlohmann::json& j, const PutResult& r)
{
  j = {{"written", true}, {"bytes", r.bytes}};
  put_bytes(j, "key", r.key);
}

std::string to_text(const PutResult&) { return {}; }

void to_json(nlohmann::json& j, const BatchResult& r) { j = {{"written", r.written}, {"errors", r.errors}}; }

std::string to_text(const BatchResult& r) { return fmt::format("written {}, errors {}\n", r.written, r.errors); }

void to_json(nlohmann::json& j, const DeleteResult& r) { j = {{"deleted", r.deleted}}; }

std::string to_text(const DeleteResult& r) { return fmt::format("deleted {}{}\n", r.deleted, r.expired ? " expired keys" : ""); }

void to_json(nlohmann::json& j, const KeyList& r)
{
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& k : r.keys) {
    nlohmann::json row;
    put_bytes(row, "key", k.key);
    row["size"] = k.size;
    row["ttl"] = seconds(k.ttl);
    row["updated_at"] = k.updated_at_ms ? nlohmann::json(format_time_ms(k.updated_at_ms)) : nlohmann::json(nullptr);
    arr.push_back(std::move(row));
  }
  j = {{"keys", arr}};
}

std::string to_text(const KeyList& r)
{
  std::string out;
  for (const auto& k : r.keys) out += k.key + "\n";
  return out;
}

void to_json(nlohmann::json& j, const TtlResult& r)
{
  j = {{"ttl", seconds(r.remaining)}};
  put_bytes(j, "key", r.key);
}

std::string to_text(const TtlResult& r)
{
  if (!r.remaining) return "none\n";
  return fmt::format("{:.3f}\n", static_cast<double>(r.remaining->count()) / 1000.0);
}

void to_json(nlohmann::json& j, const CheckpointInfo& r)
{
  j = {{"id", r.id}, {"name", r.name}, {"created", format_time_ms(r.created_ms)}, {"keys", r.keys}, {"bytes", r.bytes}};
}

void to_json(nlohmann::json& j, const CheckpointResult& r) { to_json(j, r.checkpoint); }

std::string to_text(const CheckpointResult& r)
{
  const auto& c = r.checkpoint;
  if (r.restored) return fmt::format("restored checkpoint {} ({} keys)\n", c.id, c.keys);
  return fmt::format("created checkpoint {} ({} keys, {})\n", c.id, c.keys, util::format_size(c.bytes));
}

void to_json(nlohmann::json& j, const CheckpointList& r) { j = {{"checkpoints", r.checkpoints}}; }

std::string to_text(const CheckpointList& r)
{
  if (r.checkpoints.empty()) return "no checkpoints\n";
  output::Table t{{"ID", "NAME", "CREATED", "KEYS", "BYTES"}, {}};
  for (const auto& c : r.checkpoints)
    t.rows.push_back({c.id, c.name, format_time_ms(c.created_ms), std::to_string(c.keys), std::to_string(c.bytes)});
  return t.render();
}

void to_json(nlohmann::json& j, const LockList& r)
{
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& l : r.locks)
    arr.push_back({{"name", l.name}, {"owner", l.owner}, {"token", l.token}, {"expires_in", static_cast<double>(l.expires_in.count()) / 1000.0}});
  j = {{"locks", arr}};
}

std::string to_text(const LockList& r)
{
  if (r.locks.empty()) return "no locks held\n";
  output::Table t{{"NAME", "OWNER", "TOKEN", "EXPIRES_IN"}, {}};
  for (const auto& l : r.locks) t.rows.push_back({l.name, l.owner, std::to_string(l.token), util::format_duration(l.expires_in)});
  return t.render();
}

} // namespace statectl::state

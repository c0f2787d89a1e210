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

namespace {

nlohmann::json key_row(const KeyInfo& k)
{
  nlohmann::json row;
  put_bytes(row, "key", k.key);
  row["size"] = k.size;
  row["ttl"] = seconds(k.ttl);
  row["updated_at"] = k.updated_at_ms ? nlohmann::json(format_time_ms(k.updated_at_ms)) : nlohmann::json(nullptr);
  return row;
}

// Writes text with every line but the first indented by `by` spaces (the first follows what
// is already on the line).
void write_indented(std::ostream& out, const std::string& text, const char* by)
{
  std::size_t start = 0;
  while (true) {
    auto end = text.find('\n', start);
    out << std::string_view(text).substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (end == std::string::npos) break;
    out << '\n' << by;
    start = end + 1;
  }
}

} // namespace

KeyListWriter::KeyListWriter(output::Printer& printer)
  : m_printer(printer), m_out(printer.begin_stream([this](std::ostream& out, const Error& e) {
      if (!m_json) return;
      out << (m_rows ? "\n  ],\n  \"error\": " : "],\n  \"error\": ");
      write_indented(out, output::error_json(e)["error"].dump(2), "  ");
      out << "\n}\n";
    })),
    m_json(printer.json())
{
  if (m_json) m_out << "{\n  \"keys\": [";
}

void KeyListWriter::row(const KeyInfo& k)
{
  if (!m_json) {
    m_out << k.key << '\n';
  } else {
    m_out << (m_rows ? ",\n    " : "\n    ");
    write_indented(m_out, key_row(k).dump(2), "    ");
  }
  ++m_rows;
}

void KeyListWriter::finish()
{
  if (m_json) m_out << (m_rows ? "\n  ]\n}\n" : "]\n}\n");
  m_printer.end_stream();
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

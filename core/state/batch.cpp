#include "core/state/batch.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::state {
namespace {

// The deepest nesting of arrays and objects in JSON text (strings skipped), counted without
// parsing: nlohmann's dump() and PostgreSQL's jsonb input both recurse per level, so a document
// nested 100,000 deep must be refused before either sees it. Stops counting past limit + 1.
std::size_t json_depth(std::string_view text, std::size_t limit)
{
  std::size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string depth_problem(std::string_view text, std::size_t limit)
{
  if (json_depth(text, limit) > limit) return fmt::format("metadata is nested more than {} levels deep", k_max_metadata_depth);
  return {};
}

// Why metadata is unacceptable, or empty.
std::string metadata_problem(const nlohmann::json& j)
{
  if (!j.is_object()) return "metadata must be a JSON object";
  if (j.dump().find("\\u0000") != std::string::npos) return "metadata must not contain \\u0000";
  return {};
}

std::string ttl_problem(const std::string& text, Millis& out)
{
  auto d = util::parse_duration(text);
  if (!d) return d.error();
  if (d->count() <= 0) return fmt::format("ttl must be positive, got '{}'", text);
  out = *d;
  return {};
}

} // namespace

Millis parse_ttl(const std::string& text, const std::string& option)
{
  Millis out{0};
  if (auto why = ttl_problem(text, out); !why.empty()) throw Error(ExitCode::usage, "invalid " + option, why);
  return out;
}

std::string normalize_metadata(const std::string& text)
{
  if (auto why = depth_problem(text, k_max_metadata_depth); !why.empty()) throw Error(ExitCode::usage, "invalid --metadata", why);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error(ExitCode::usage, "invalid --metadata", "not valid JSON", R"(pass a JSON object, e.g. --metadata '{"owner":"billing"}')");
  if (auto why = metadata_problem(j); !why.empty()) throw Error(ExitCode::usage, "invalid --metadata", why);
  return j.dump();
}

std::vector<BatchItem> parse_batch(std::string_view input, BatchFormat format, const Settings& settings)
{
  std::vector<BatchItem> items;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  auto bad = [&](const std::string& why) {
    return Error(ExitCode::usage, "invalid batch input", fmt::format("line {}: {}", line_no, why), "nothing was written; fix the line and run again");
  };
  while (pos < input.size()) {
    std::size_t nl = input.find('\n', pos);
    std::string_view line = input.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? input.size() : nl + 1;
    ++line_no;
    // A file written on Windows ends its lines with CRLF: the \r belongs to the line break.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    BatchItem item;
    if (format == BatchFormat::tsv) {
      auto tab = line.find('\t');
      if (tab == std::string_view::npos) throw bad("expected key<TAB>value, found no tab");
      if (tab == 0) throw bad("empty key");
      item.key.assign(line.substr(0, tab));
      item.value.assign(line.substr(tab + 1));
    } else {
      // The line's own object is one level above its metadata.
      if (auto why = depth_problem(line, k_max_metadata_depth + 1); !why.empty()) throw bad(why);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) throw bad("not valid JSON");
      if (!j.is_object()) throw bad("expected a JSON object");
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key() != "key" && it.key() != "value" && it.key() != "value_b64" && it.key() != "ttl" && it.key() != "metadata")
          throw bad(fmt::format("unknown field \"{}\" (expected key, value or value_b64, ttl, metadata)", it.key()));
      if (!j.contains("key") || !j["key"].is_string()) throw bad("\"key\" must be a string");
      item.key = j["key"].get<std::string>();
      if (item.key.empty()) throw bad("empty key");
      bool has_value = j.contains("value"), has_b64 = j.contains("value_b64");
      if (has_value == has_b64) throw bad("exactly one of \"value\" and \"value_b64\" is required");
      if (has_value) {
        if (!j["value"].is_string()) throw bad("\"value\" must be a string");
        item.value = j["value"].get<std::string>();
      } else {
        if (!j["value_b64"].is_string() || !from_base64(j["value_b64"].get<std::string>(), item.value))
          throw bad("\"value_b64\" must be base64");
      }
      if (j.contains("ttl") && !j["ttl"].is_null()) {
        Millis ttl{0};
        std::string text;
        if (j["ttl"].is_string()) text = j["ttl"].get<std::string>();
        else if (j["ttl"].is_number()) text = j["ttl"].dump() + "s";
        else throw bad("\"ttl\" must be a duration string or a number of seconds");
        if (auto why = ttl_problem(text, ttl); !why.empty()) throw bad(why);
        item.ttl = ttl;
      }
      if (j.contains("metadata") && !j["metadata"].is_null()) {
        if (auto why = metadata_problem(j["metadata"]); !why.empty()) throw bad(why);
        item.metadata = j["metadata"].dump();
      }
    }
    if (auto why = key_problem(item.key); !why.empty()) throw bad(why);
    if (item.value.size() > settings.max_value_size)
      throw bad(fmt::format("value of {} bytes is over [state] max_value_size {}", item.value.size(), util::format_size(settings.max_value_size)));
    items.push_back(std::move(item));
  }
  return items;
}

} // namespace statectl::state

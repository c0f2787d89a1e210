#include "core/config/keys.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::config {

const char* type_name(KeyType type)
{
  switch (type) {
  case KeyType::string: return "string";
  case KeyType::integer: return "integer";
  case KeyType::boolean: return "boolean";
  case KeyType::duration: return "duration";
  case KeyType::size: return "size";
  case KeyType::list: return "array of strings";
  case KeyType::url: return "url";
  }
  return "value";
}

std::string KeySpec::section() const { return name.substr(0, name.find('.')); }
std::string KeySpec::key() const { return name.substr(name.find('.') + 1); }

std::string KeySpec::env_var() const
{
  std::string out = "STATECTL_";
  for (char c : name) out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// The run-time rows, built once from the constant table so that both have the same order and
// index (Key::index() indexes either).
const std::vector<KeySpec>& key_table()
{
  static const std::vector<KeySpec> table = [] {
    std::vector<KeySpec> out;
    out.reserve(k_key_rows.size());
    for (const auto& row : k_key_rows) {
      KeySpec spec{std::string(row.name), row.type, std::string(row.default_value), {}, row.min, row.max,
                   std::string(row.help), row.secret};
      for (auto value : row.allowed)
        if (!value.empty()) spec.allowed.emplace_back(value);
      out.push_back(std::move(spec));
    }
    return out;
  }();
  return table;
}

const std::vector<std::string>& section_names()
{
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& k : key_table())
      if (std::find(out.begin(), out.end(), k.section()) == out.end()) out.push_back(k.section());
    return out;
  }();
  return names;
}

const KeySpec* find_key(std::string_view full_name)
{
  for (const auto& k : key_table())
    if (k.name == full_name) return &k;
  return nullptr;
}

Key Key::lookup(std::string_view name)
{
  for (std::size_t i = 0; i < k_key_rows.size(); ++i)
    if (k_key_rows[i].name == name) return Key(i, 0);
  std::vector<std::string> names;
  for (const auto& k : key_table()) names.push_back(k.name);
  auto guess = util::closest_match(std::string(name), names);
  throw Error(ExitCode::usage, fmt::format("unknown config key '{}'", name), "",
              guess ? fmt::format("did you mean '{}'?", *guess) : "'statectl config keys' lists every key");
}

void wrong_key_type(Key key, KeyType expected)
{
  throw Error(ExitCode::usage, fmt::format("config key '{}' is of type {}, not {}", key.name(), type_name(key.type()), type_name(expected)));
}

} // namespace statectl::config

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace statectl::config {

// The kinds of value a config key holds. duration and size are TOML strings ("30s", "4gb")
// validated at load time; url is a string whose password part is redacted on display.
enum class KeyType { string, integer, boolean, duration, size, list, url };

const char* type_name(KeyType type);

// One row of the declarative key table that drives parsing, validation, `init`, `config show`
// and the README's config reference.
struct KeySpec {
  std::string name;                 // "postgres.replicas": section.key
  KeyType type;
  std::string default_value;        // textual default, read like an environment value
  std::vector<std::string> allowed; // allowed values of an enum-like string; empty = any
  std::int64_t min = 0;             // integer bounds, used when min < max; a duration's least milliseconds when > 0
  std::int64_t max = 0;
  std::string help;
  bool secret = false;              // shown as **** by `config show`

  std::string section() const;
  std::string key() const;
  // STATECTL_<SECTION>_<KEY>, upper-cased: postgres.replicas -> STATECTL_POSTGRES_REPLICAS.
  std::string env_var() const;
};

// Every known key, in display order.
const std::vector<KeySpec>& key_table();

// The known section names ("project", "postgres", ...), in display order.
const std::vector<std::string>& section_names();

// Looks a key up by its full dotted name; nullptr when unknown.
const KeySpec* find_key(std::string_view full_name);

} // namespace statectl::config

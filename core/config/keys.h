#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/key_table.h"

namespace statectl::config {

const char* type_name(KeyType type);

// One row of the declarative key table that drives parsing, validation, `init`, `config show`
// and the README's config reference (the run-time form of a KeyRow of key_table.h).
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

// Every known key, in display order (the same order and index as k_key_rows).
const std::vector<KeySpec>& key_table();

// The known section names ("project", "postgres", ...), in display order.
const std::vector<std::string>& section_names();

// Looks a key up by its full dotted name; nullptr when unknown.
const KeySpec* find_key(std::string_view full_name);

namespace detail {

// Never defined: a consteval Key constructor reaches a call of one of these only for a literal
// that is not in the key table (or is read as another type), and because they are not
// constexpr the compiler rejects that call site, naming the function in its error.
void config_key_is_not_in_the_key_table_see_core_config_key_table_h();
void config_key_is_read_as_another_type_than_the_key_table_says();

// The index of name in k_key_rows; a compile error when absent.
consteval std::size_t key_index(std::string_view name)
{
  for (std::size_t i = 0; i < k_key_rows.size(); ++i)
    if (k_key_rows[i].name == name) return i;
  config_key_is_not_in_the_key_table_see_core_config_key_table_h();
  return 0;
}

} // namespace detail

// Whether the key table has a key of that name (usable in static_assert).
constexpr bool is_known_key(std::string_view name)
{
  for (const auto& row : k_key_rows)
    if (row.name == name) return true;
  return false;
}

// A key of the table. A string literal converts to it only at compile time and only when the
// table has that key, so `cfg.get_string("k8s.namespace")` cannot name an unknown key at run
// time. A key computed at run time needs the explicit Key::lookup / Key::of instead.
class Key {
public:
  consteval Key(const char* name) : m_index(detail::key_index(name)) {}

  // The key named at run time: throws statectl::Error (exit 2, "unknown config key 'x'", with
  // a "did you mean" hint) when the table has no such key.
  static Key lookup(std::string_view name);
  // The key of a row of key_table().
  static Key of(const KeySpec& spec) { return lookup(spec.name); }

  constexpr std::size_t index() const { return m_index; }
  constexpr std::string_view name() const { return k_key_rows[m_index].name; }
  constexpr KeyType type() const { return k_key_rows[m_index].type; }
  const KeySpec& spec() const { return key_table()[m_index]; }

private:
  explicit Key(std::size_t index, int /*unchecked*/) : m_index(index) {}

  std::size_t m_index;
};

// A key whose table type is Type: what the typed getters (get_int, get_bool, ...) take, so a
// literal naming a key of another type does not compile either.
template <KeyType Type>
class TypedKey {
public:
  consteval TypedKey(const char* name) : m_key(name)
  {
    if (m_key.type() != Type) detail::config_key_is_read_as_another_type_than_the_key_table_says();
  }

  // The key named at run time: throws statectl::Error (exit 2) when it is unknown or of another
  // type than Type.
  static TypedKey lookup(std::string_view name) { return TypedKey(Key::lookup(name)); }
  // The key of a row of key_table() (exit 2 when the row is of another type).
  static TypedKey of(const KeySpec& spec) { return lookup(spec.name); }

  constexpr operator Key() const { return m_key; }
  constexpr std::string_view name() const { return m_key.name(); }

private:
  explicit TypedKey(Key key);

  Key m_key;
};

using IntKey = TypedKey<KeyType::integer>;
using BoolKey = TypedKey<KeyType::boolean>;
using DurationKey = TypedKey<KeyType::duration>;
using SizeKey = TypedKey<KeyType::size>;
using ListKey = TypedKey<KeyType::list>;

// Throws statectl::Error (exit 2) saying that key is not of type expected.
[[noreturn]] void wrong_key_type(Key key, KeyType expected);

template <KeyType Type>
TypedKey<Type>::TypedKey(Key key) : m_key(key)
{
  if (key.type() != Type) wrong_key_type(key, Type);
}

} // namespace statectl::config

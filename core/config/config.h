#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/keys.h"
#include "core/config/url.h"

namespace statectl::config {

struct Settings;

// Where an effective value came from, lowest precedence first.
enum class Origin { builtin, file, profile, env, flag };

const char* origin_name(Origin origin);

// One effective value: its text (lists are stored joined by ','), origin and source location.
struct Value {
  std::string text;
  std::vector<std::string> list;
  Origin origin = Origin::builtin;
  std::string location; // "FILE:LINE:COL" for file/profile values, the variable for env
};

// What `Config::load` reads. Environment values are passed in (never read globally) so tests
// can control precedence exactly.
struct LoadOptions {
  std::optional<std::filesystem::path> file;     // explicit -c/--config or STATECTL_CONFIG
  std::string profile;                           // -e/--env or STATECTL_ENV
  std::map<std::string, std::string> environment; // STATECTL_* variables
  std::map<std::string, std::string> flags;       // key -> value from command-line flags
  std::filesystem::path cwd;                      // where ./statectl.toml is looked for
};

// The effective configuration: built-in < file < [env.NAME] < STATECTL_* < flags.
// Every failure throws statectl::Error with ExitCode::usage and a FILE:LINE:COL location.
class Config {
public:
  // The built-in defaults only (a local stack).
  Config();

  static Config load(const LoadOptions& options);

  // Parses TOML text as if it were the file `display_name` (used by tests and `config validate`).
  static Config from_string(const std::string& toml_text, const std::string& display_name,
                            const std::string& profile = {});

  // The typed getters. A literal key is checked against the key table at compile time (an
  // unknown key, or one of another type than the getter reads, does not compile); a key known
  // only at run time is passed as Key::lookup(name) / IntKey::of(spec), which exit 2 when the
  // table has no such key. get_string reads any key's text.
  std::string get_string(Key key) const;
  std::int64_t get_int(IntKey key) const;
  bool get_bool(BoolKey key) const;
  std::chrono::milliseconds get_duration(DurationKey key) const;
  std::uint64_t get_size(SizeKey key) const;
  std::vector<std::string> get_list(ListKey key) const;

  // True when the key was set anywhere above the built-in default.
  bool is_set(Key key) const;
  // The effective value of a key: its text, list, origin and location.
  const Value& value(Key key) const;

  // Sets a value from a command-line flag (validated; throws Error usage on a bad value).
  void set_flag(Key key, const std::string& text);

  // The config file that was read, if any, and the directory relative paths resolve against.
  const std::optional<std::filesystem::path>& file() const { return m_file; }
  std::filesystem::path base_dir() const { return m_base_dir; }
  const std::string& profile() const { return m_profile; }

  // The state directory: [local] dir, else .statectl beside the config, else
  // $XDG_STATE_HOME/statectl, else /var/lib/statectl for root, else ~/.local/state/statectl.
  std::filesystem::path state_dir() const;

  // Resolves a path-valued key against base_dir(); empty when the key is empty.
  std::filesystem::path path(Key key) const;

  // The effective config as JSON {section: {key: value}}; secrets and URL passwords as ****.
  nlohmann::json to_json() const;
  // The effective config as TOML text with the same redaction, and the origin of each value
  // as a trailing comment when with_origin is set.
  std::string to_toml(bool with_origin) const;

private:
  void apply_table(const void* table, Origin origin, const std::string& display_name, const std::string& prefix);
  void set_value(const KeySpec& spec, const std::string& text, std::vector<std::string> list,
                 Origin origin, const std::string& location);
  // Rebuilds m_settings from the values: once at the end of every public change (the constructor,
  // from_string, load, set_flag), not per value set while a file is read.
  void refresh_settings();
  friend const Settings& settings(const Config& cfg);

  std::vector<Value> m_values; // indexed by Key::index()
  std::optional<std::filesystem::path> m_file;
  std::filesystem::path m_base_dir;
  std::string m_profile;
  std::shared_ptr<const Settings> m_settings; // the typed copy of the values (settings.h)
};

// Validates a textual value against a key's type, bounds and allowed values; returns an error
// message without location ("must be an integer between 0 and 15, got 99"), empty when valid.
std::string validate_value(const KeySpec& spec, const std::string& text);

// The commented statectl.toml that `init --target T` writes.
std::string init_template(const std::string& target);

} // namespace statectl::config

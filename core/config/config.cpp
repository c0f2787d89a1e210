#include "core/config/config.h"
#include "core/config/settings.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>
#include <unistd.h>

#include "core/error.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::config {

namespace fs = std::filesystem;

const char* origin_name(Origin origin)
{
  switch (origin) {
  case Origin::builtin: return "default";
  case Origin::file: return "file";
  case Origin::profile: return "profile";
  case Origin::env: return "env";
  case Origin::flag: return "flag";
  }
  return "?";
}

static std::string location_of(const std::string& file, const toml::source_region& src)
{
  return fmt::format("{}:{}:{}", file, src.begin.line, src.begin.column);
}

[[noreturn]] static void config_error(const std::string& location, const std::string& why, const std::string& hint = {})
{
  throw Error(ExitCode::usage, location, why, hint);
}

// "" when port is a decimal TCP port (1-65535), else why not.
static std::string port_problem(const std::string& port, const std::string& what)
{
  bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535)
    return fmt::format("has an invalid port '{}' in '{}' (a number from 1 to 65535)", port, what);
  return {};
}

static std::string validate_host_port(const std::string& address)
{
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return fmt::format("must be host:port addresses, got '{}'", address);
  std::string host = address.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host.find_first_of(" /@[]") != std::string::npos)
    return fmt::format("must be host:port addresses, got '{}'", address);
  return port_problem(address.substr(colon + 1), address);
}

// URL keys live in the section of the server they point at: [postgres] url takes
// postgresql:// (libpq's URI), [redis] url takes redis:// or rediss://.
static std::string validate_url(const KeySpec& spec, const std::string& text)
{
  bool pg = spec.section() == "postgres";
  std::vector<std::string> schemes = pg ? std::vector<std::string>{"postgresql", "postgres"} : std::vector<std::string>{"redis", "rediss"};
  std::string example = pg ? "postgresql://user:password@host:5432/db" : "redis://:password@host:6379/0";
  auto sep = text.find("://");
  std::string scheme = sep == std::string::npos ? std::string() : util::to_lower(text.substr(0, sep));
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end())
    return fmt::format("must be a {}:// URL like {}, got '{}'", schemes.front(), example, redact_url(text));
  std::string authority = text.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  // libpq accepts several comma-separated hosts; each may carry a port.
  for (const auto& host : util::split(authority, ',')) {
    std::string port;
    if (!host.empty() && host.front() == '[') {
      auto close = host.find(']');
      if (close == std::string::npos) return fmt::format("has an unterminated [IPv6] host in '{}'", redact_url(text));
      if (close + 1 < host.size()) {
        if (host[close + 1] != ':') return fmt::format("is not a valid URL: '{}'", redact_url(text));
        port = host.substr(close + 2);
        if (auto why = port_problem(port, redact_url(text)); !why.empty()) return why;
      }
      continue;
    }
    if (auto colon = host.rfind(':'); colon != std::string::npos)
      if (auto why = port_problem(host.substr(colon + 1), redact_url(text)); !why.empty()) return why;
  }
  if (!pg && authority.empty()) return fmt::format("needs a host, like {}, got '{}'", example, redact_url(text));
  return {};
}

// PostgreSQL role and database names statectl writes into pg_hba.conf, PgBouncer's hba and auth
// files, connection strings and SQL: lower-case identifiers that need no quoting anywhere
// (PostgreSQL folds unquoted names to lower case), not a keyword of pg_hba.conf's columns (a
// role called "all" would match every role there) and not a reserved pg_ role.
static std::string validate_pg_name(std::string_view key, const std::string& text)
{
  if (key != "postgres.superuser" && key != "postgres.app_user" && key != "postgres.database") return {};
  bool ok = !text.empty() && text.size() <= 63 && (std::islower(static_cast<unsigned char>(text[0])) || text[0] == '_');
  for (char c : text) ok = ok && (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_');
  if (!ok) return fmt::format("must be a lower-case identifier (a-z, 0-9, _; not starting with a digit; at most 63 characters), got '{}'", text);
  for (const char* word : {"all", "sameuser", "samerole", "replication", "public", "none"})
    if (text == word) return fmt::format("'{}' is a keyword of pg_hba.conf or a reserved name; choose another", text);
  if (key != "postgres.database" && text.rfind("pg_", 0) == 0) return fmt::format("role names starting with pg_ are reserved, got '{}'", text);
  return {};
}

std::string validate_value(const KeySpec& spec, const std::string& text)
{
  switch (spec.type) {
  case KeyType::integer: {
    std::int64_t v = 0;
    std::size_t used = 0;
    try {
      v = std::stoll(text, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != text.size()) return fmt::format("must be an integer, got '{}'", text);
    if (spec.min < spec.max && (v < spec.min || v > spec.max))
      return fmt::format("must be between {} and {}, got {}", spec.min, spec.max, v);
    return {};
  }
  case KeyType::boolean:
    if (text != "true" && text != "false" && text != "1" && text != "0" && text != "yes" && text != "no")
      return fmt::format("must be true or false, got '{}'", text);
    return {};
  case KeyType::duration: {
    auto d = util::parse_duration(text);
    if (!d) return d.error();
    if (d->count() < 0) return "must not be negative";
    // A duration key's min, when set, is its smallest sensible value in milliseconds.
    if (spec.min > 0 && d->count() < spec.min)
      return fmt::format("must be at least {}, got '{}'", util::format_duration(std::chrono::milliseconds(spec.min)), text);
    return {};
  }
  case KeyType::size: {
    auto s = util::parse_size(text);
    if (!s) return s.error();
    return {};
  }
  case KeyType::url:
    return text.empty() ? std::string() : validate_url(spec, text);
  case KeyType::list:
    if (util::ends_with(spec.name, "_addrs") && !text.empty())
      for (const auto& a : util::split(text, ','))
        if (auto why = validate_host_port(a); !why.empty()) return why;
    break;
  case KeyType::string:
    if (auto why = validate_pg_name(spec.name, text); !why.empty()) return why;
    break;
  }
  if (!spec.allowed.empty()) {
    for (const auto& a : spec.allowed)
      if (a == text) return {};
    return fmt::format("must be one of {}, got '{}'", util::join(spec.allowed, ", "), text);
  }
  return {};
}

// "postgres.replicas must be ..." reads as a sentence; other reasons ("invalid duration ...")
// follow the key after a colon.
static std::string key_problem(const std::string& key, const std::string& why)
{
  bool sentence = why.rfind("must", 0) == 0 || why.rfind("has ", 0) == 0 || why.rfind("needs ", 0) == 0;
  return key + (sentence ? " " : ": ") + why;
}

std::string redact_url(const std::string& url)
{
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "****" + url.substr(at);
}

Config::Config() : m_base_dir(fs::current_path())
{
  m_values.reserve(key_table().size());
  for (const auto& spec : key_table()) {
    Value v;
    v.text = spec.default_value;
    if (spec.type == KeyType::list && !v.text.empty()) v.list = util::split(v.text, ',');
    m_values.push_back(std::move(v));
  }
  refresh_settings();
}

void Config::refresh_settings() { m_settings = std::make_shared<const Settings>(make_settings(*this)); }

const Settings& settings(const Config& cfg) { return *cfg.m_settings; }

void Config::set_value(const KeySpec& spec, const std::string& text, std::vector<std::string> list,
                       Origin origin, const std::string& location)
{
  Value& v = m_values[Key::of(spec).index()];
  v.text = text;
  v.list = std::move(list);
  v.origin = origin;
  v.location = location;
}

static std::string toml_type_name(const toml::node& n)
{
  switch (n.type()) {
  case toml::node_type::string: return "string";
  case toml::node_type::integer: return "integer";
  case toml::node_type::floating_point: return "float";
  case toml::node_type::boolean: return "boolean";
  case toml::node_type::array: return "array";
  case toml::node_type::table: return "table";
  default: return "date/time";
  }
}

void Config::apply_table(const void* table_ptr, Origin origin, const std::string& display_name, const std::string& prefix)
{
  const auto& root = *static_cast<const toml::table*>(table_ptr);
  for (const auto& [section_key, section_node] : root) {
    std::string section(section_key.str());
    if (prefix.empty() && section == "env") continue; // profiles are applied separately
    bool known = false;
    for (const auto& s : section_names()) known = known || s == section;
    if (!known) {
      auto guess = util::closest_match(section, section_names());
      config_error(location_of(display_name, section_key.source()),
                   fmt::format("unknown section [{}{}]", prefix, section),
                   guess ? fmt::format("did you mean [{}{}]?", prefix, *guess) : "known sections: " + util::join(section_names(), ", "));
    }
    const toml::table* tbl = section_node.as_table();
    if (!tbl)
      config_error(location_of(display_name, section_node.source()),
                   fmt::format("[{}] must be a table, got {}", section, toml_type_name(section_node)));
    for (const auto& [key, node] : *tbl) {
      std::string full = section + "." + std::string(key.str());
      const KeySpec* spec = find_key(full);
      if (!spec) {
        std::vector<std::string> candidates;
        for (const auto& k : key_table())
          if (k.section() == section) candidates.push_back(k.key());
        auto guess = util::closest_match(key.str(), candidates);
        config_error(location_of(display_name, key.source()),
                     fmt::format("unknown key '{}' in [{}{}]", key.str(), prefix, section),
                     guess ? fmt::format("did you mean '{}'?", *guess) : std::string{});
      }
      std::string loc = location_of(display_name, node.source());
      std::string text;
      std::vector<std::string> list;
      auto wrong_type = [&](const char* expected) {
        config_error(loc, fmt::format("{} must be {}, got {}", full, expected, toml_type_name(node)));
      };
      switch (spec->type) {
      case KeyType::integer:
        if (!node.is_integer()) wrong_type("an integer");
        text = std::to_string(node.as_integer()->get());
        break;
      case KeyType::boolean:
        if (!node.is_boolean()) wrong_type("a boolean");
        text = node.as_boolean()->get() ? "true" : "false";
        break;
      case KeyType::list:
        if (!node.is_array()) wrong_type("an array of strings");
        for (const auto& el : *node.as_array()) {
          if (!el.is_string())
            config_error(location_of(display_name, el.source()), fmt::format("{} must be an array of strings, got an element of type {}", full, toml_type_name(el)));
          list.push_back(el.as_string()->get());
        }
        text = util::join(list, ",");
        break;
      case KeyType::duration:
        if (node.is_integer()) wrong_type("a duration string like \"30s\"");
        [[fallthrough]];
      default:
        if (!node.is_string()) wrong_type("a string");
        text = node.as_string()->get();
      }
      if (auto why = validate_value(*spec, text); !why.empty())
        config_error(loc, key_problem(full, why));
      set_value(*spec, text, std::move(list), origin, loc);
    }
  }
}

static toml::table parse_toml(const std::string& text, const std::string& display_name)
{
  try {
    return toml::parse(text, display_name);
  } catch (const toml::parse_error& e) {
    std::string why(e.description());
    if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
    config_error(location_of(display_name, e.source()), why, "see https://toml.io for the syntax");
  }
}

Config Config::from_string(const std::string& toml_text, const std::string& display_name, const std::string& profile)
{
  Config cfg;
  toml::table root = parse_toml(toml_text, display_name);
  cfg.apply_table(&root, Origin::file, display_name, "");
  // Every profile is validated, not only the selected one, so a typo in [env.prod] fails in dev too.
  std::vector<std::string> profiles;
  if (auto* env_node = root.get("env")) {
    const toml::table* envs = env_node->as_table();
    if (!envs) config_error(location_of(display_name, env_node->source()), "[env] must contain [env.NAME] tables");
    for (const auto& [name, node] : *envs) {
      const toml::table* t = node.as_table();
      if (!t) config_error(location_of(display_name, node.source()), fmt::format("[env.{}] must be a table", name.str()));
      profiles.emplace_back(name.str());
      Config scratch;
      scratch.apply_table(t, Origin::profile, display_name, fmt::format("env.{}.", name.str()));
      if (name.str() == profile) cfg.apply_table(t, Origin::profile, display_name, fmt::format("env.{}.", name.str()));
    }
  }
  if (!profile.empty()) {
    bool found = false;
    for (const auto& p : profiles) found = found || p == profile;
    if (!found)
      throw Error(ExitCode::usage, fmt::format("profile '{}' not found in {}", profile, display_name), "",
                  profiles.empty() ? "add an [env." + profile + "] table" : "profiles in this file: " + util::join(profiles, ", "));
  }
  cfg.m_profile = profile;
  cfg.refresh_settings();
  return cfg;
}

Config Config::load(const LoadOptions& options)
{
  Config cfg;
  fs::path cwd = options.cwd.empty() ? fs::current_path() : options.cwd;
  std::optional<fs::path> file = options.file;
  if (file && file->is_relative()) file = cwd / *file;
  if (!file && fs::exists(cwd / "statectl.toml")) file = cwd / "statectl.toml";
  if (file) {
    std::error_code ec;
    if (fs::is_directory(*file, ec))
      throw Error(ExitCode::usage, fmt::format("cannot read config {}", file->string()), "it is a directory",
                  "pass the statectl.toml inside it: -c " + (*file / "statectl.toml").string());
    if (!fs::is_regular_file(*file, ec))
      throw Error(ExitCode::usage, fmt::format("cannot read config {}", file->string()),
                  ec && ec != std::errc::no_such_file_or_directory ? ec.message() : "no such file",
                  "run 'statectl init' to write one, or drop -c to use the built-in local stack");
    auto text = util::read_file(*file);
    if (!text) throw Error(ExitCode::usage, "cannot read config", text.error());
    std::string display = options.file ? options.file->string() : "statectl.toml";
    cfg = from_string(*text, display, options.profile);
    cfg.m_file = fs::absolute(*file).lexically_normal();
    cfg.m_base_dir = cfg.m_file->parent_path();
  } else {
    if (!options.profile.empty())
      throw Error(ExitCode::usage, fmt::format("profile '{}' needs a config file", options.profile), "no statectl.toml found",
                  "run 'statectl init' or pass -c FILE");
    cfg.m_base_dir = cwd;
  }
  for (const auto& spec : key_table()) {
    auto it = options.environment.find(spec.env_var());
    if (it == options.environment.end()) continue;
    if (auto why = validate_value(spec, it->second); !why.empty())
      throw Error(ExitCode::usage, it->first, key_problem(spec.name, why));
    cfg.set_value(spec, it->second, spec.type == KeyType::list ? util::split(it->second, ',') : std::vector<std::string>{},
                  Origin::env, it->first);
  }
  for (const auto& [key, text] : options.flags) cfg.set_flag(Key::lookup(key), text);
  cfg.refresh_settings();
  return cfg;
}

void Config::set_flag(Key key, const std::string& text)
{
  const KeySpec& spec = key.spec();
  if (auto why = validate_value(spec, text); !why.empty())
    throw Error(ExitCode::usage, "invalid value", key_problem(spec.name, why));
  set_value(spec, text, spec.type == KeyType::list ? util::split(text, ',') : std::vector<std::string>{}, Origin::flag, "flag");
  refresh_settings();
}

// Every value was validated against its key's type when it was set, so the conversions below
// cannot fail, and a Key always indexes a value: there is no "unknown key" at this point.
const Value& Config::value(Key key) const { return m_values[key.index()]; }

std::string Config::get_string(Key key) const { return value(key).text; }

std::int64_t Config::get_int(IntKey key) const { return std::stoll(value(key).text); }

static bool is_true(const std::string& text) { return text == "true" || text == "1" || text == "yes"; }

bool Config::get_bool(BoolKey key) const { return is_true(value(key).text); }

std::chrono::milliseconds Config::get_duration(DurationKey key) const
{
  return *util::parse_duration(value(key).text);
}

std::uint64_t Config::get_size(SizeKey key) const { return *util::parse_size(value(key).text); }

std::vector<std::string> Config::get_list(ListKey key) const { return value(key).list; }

bool Config::is_set(Key key) const { return value(key).origin != Origin::builtin; }

fs::path Config::state_dir() const
{
  auto dir = get_string("local.dir");
  if (!dir.empty()) return util::resolve_path(dir, m_base_dir);
  if (m_file) return m_base_dir / ".statectl";
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg && *xdg) return fs::path(xdg) / "statectl";
  // root's home is private (0700), so the unprivileged user the local servers run as could not
  // reach a state directory below it: root keeps the state where system daemons keep theirs.
  if (::geteuid() == 0) return "/var/lib/statectl";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/tmp") / ".local/state/statectl";
}

fs::path Config::path(Key key) const
{
  auto text = get_string(key);
  if (text.empty()) return {};
  return util::resolve_path(text, m_base_dir);
}

static std::string display_text(const KeySpec& spec, const std::string& text)
{
  if (spec.secret && !text.empty()) return "****";
  if (spec.type == KeyType::url) return redact_url(text);
  return text;
}

nlohmann::json Config::to_json() const
{
  nlohmann::json out = nlohmann::json::object();
  for (std::size_t i = 0; i < key_table().size(); ++i) {
    const KeySpec& spec = key_table()[i];
    const Value& v = m_values[i];
    nlohmann::json& slot = out[spec.section()][spec.key()];
    std::string shown = display_text(spec, v.text);
    switch (spec.type) {
    case KeyType::integer: slot = std::stoll(v.text); break;
    case KeyType::boolean: slot = is_true(v.text); break;
    case KeyType::list: slot = v.list; break;
    default: slot = shown;
    }
  }
  return out;
}

static std::string toml_literal(const KeySpec& spec, const Value& v)
{
  switch (spec.type) {
  case KeyType::integer: return v.text;
  case KeyType::boolean: return v.text == "true" || v.text == "1" || v.text == "yes" ? "true" : "false";
  case KeyType::list: {
    std::vector<std::string> q;
    for (const auto& s : v.list) q.push_back(nlohmann::json(s).dump());
    return "[" + util::join(q, ", ") + "]";
  }
  default: return nlohmann::json(display_text(spec, v.text)).dump();
  }
}

std::string Config::to_toml(bool with_origin) const
{
  std::string out;
  std::string section;
  for (std::size_t i = 0; i < key_table().size(); ++i) {
    const KeySpec& spec = key_table()[i];
    if (spec.section() != section) {
      section = spec.section();
      out += fmt::format("{}[{}]\n", out.empty() ? "" : "\n", section);
    }
    const Value& v = m_values[i];
    std::string line = fmt::format("{} = {}", spec.key(), toml_literal(spec, v));
    if (with_origin && v.origin != Origin::builtin)
      line = fmt::format("{:<40} # {}{}", line, origin_name(v.origin), v.location.empty() ? "" : " " + v.location);
    out += line + "\n";
  }
  return out;
}

std::string init_template(const std::string& target)
{
  std::string out = fmt::format(
    "# statectl configuration for the '{}' target.\n"
    "# Every key is shown with its built-in default; uncomment to change it.\n"
    "# Precedence: built-in < this file < [env.NAME] < STATECTL_* variables < flags.\n"
    "# Passwords never go here: `statectl secrets generate` keeps them in the secret store.\n",
    target);
  std::string section;
  for (const auto& spec : key_table()) {
    if (spec.section() != section) {
      section = spec.section();
      out += fmt::format("\n[{}]\n", section);
    }
    std::string doc = spec.help;
    if (!spec.allowed.empty()) doc += " (" + util::join(spec.allowed, " | ") + ")";
    else if (spec.min < spec.max) doc += fmt::format(" ({}..{})", spec.min, spec.max);
    out += "# " + doc + "\n";
    Value v;
    v.text = spec.default_value;
    if (spec.type == KeyType::list && !v.text.empty()) v.list = util::split(v.text, ',');
    std::string literal = toml_literal(spec, v);
    if (spec.name == "project.target") {
      out += fmt::format("target = \"{}\"\n", target);
    } else if (spec.name == "postgres.replicas" && target == "k8s") {
      out += "replicas = 2\n";
    } else {
      out += fmt::format("# {} = {}\n", spec.key(), literal);
    }
  }
  out += "\n# Profiles override any key above, e.g.:\n# [env.prod.postgres]\n# replicas = 3\n";
  return out;
}

} // namespace statectl::config

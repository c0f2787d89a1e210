#include "core/render/recorded.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/config/config.h"
#include "core/error.h"
#include "core/util/fs.h"

namespace statectl::render {

namespace fs = std::filesystem;

fs::path recorded_counts_file(const config::Config& cfg) { return cfg.state_dir() / "scale.json"; }

namespace {

nlohmann::json load(const fs::path& file)
{
  std::error_code ec;
  if (!fs::exists(file, ec)) return nlohmann::json::object();
  auto text = util::read_file(file);
  if (!text) throw Error(ExitCode::failed, "cannot read recorded scale", text.error());
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    throw Error(ExitCode::usage, fmt::format("{} is not valid JSON", file.string()), "",
                "delete it to forget the counts recorded by `statectl scale`");
  return doc;
}

} // namespace

std::map<std::string, std::int64_t> recorded_counts(const config::Config& cfg, const std::string& target)
{
  std::map<std::string, std::int64_t> out;
  auto doc = load(recorded_counts_file(cfg));
  if (!doc.contains(target) || !doc[target].is_object()) return out;
  for (const auto& [key, entry] : doc[target].items()) {
    const config::KeySpec* spec = config::find_key(key); // the file may name keys of an older statectl
    if (!spec || !entry.is_object() || !entry.contains("count") || !entry["count"].is_number_integer()) continue;
    if (entry.value("config", std::string()) != cfg.value(config::Key::of(*spec)).text) continue; // the config changed since: it wins
    out[key] = entry["count"].get<std::int64_t>();
  }
  return out;
}

void record_count(const config::Config& cfg, const std::string& target, const std::string& key, std::int64_t count)
{
  fs::path file = recorded_counts_file(cfg);
  auto doc = load(file);
  doc[target][key] = {{"count", count}, {"config", cfg.value(config::Key::lookup(key)).text}};
  if (auto r = util::make_dirs(file.parent_path(), 0700); !r) throw Error(ExitCode::failed, "cannot create the state directory", r.error());
  if (auto r = util::write_file_atomic(file, doc.dump(2) + "\n", 0644); !r) throw Error(ExitCode::failed, "cannot record the new count", r.error());
}

void forget_counts(const config::Config& cfg, const std::string& target)
{
  fs::path file = recorded_counts_file(cfg);
  std::error_code ec;
  if (!fs::exists(file, ec)) return;
  auto doc = load(file);
  if (!doc.is_object() || !doc.contains(target)) return;
  doc.erase(target);
  if (auto r = util::write_file_atomic(file, doc.dump(2) + "\n", 0644); !r) throw Error(ExitCode::failed, "cannot forget the recorded counts", r.error());
}

} // namespace statectl::render

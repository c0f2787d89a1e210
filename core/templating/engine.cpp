#include "core/templating/engine.h"

#include "core/build_info.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
// kainjow's header trips GCC 12's -Wnull-dereference inside std::vector code it instantiates
// (a false positive after inlining); silence only that warning, only in this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <kainjow/mustache.hpp>
#include <map>
#include <set>
#include <system_error>

#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::templating {

namespace fs = std::filesystem;
namespace mu = kainjow::mustache;

namespace {

mu::data to_data(const nlohmann::json& j)
{
  switch (j.type()) {
  case nlohmann::json::value_t::object: {
    mu::data d{mu::data::type::object};
    for (const auto& [k, v] : j.items()) d.set(k, to_data(v));
    return d;
  }
  case nlohmann::json::value_t::array: {
    mu::data d{mu::data::type::list};
    for (const auto& v : j) d.push_back(to_data(v));
    return d;
  }
  case nlohmann::json::value_t::boolean: return mu::data{j.get<bool>()};
  case nlohmann::json::value_t::string: return mu::data{j.get<std::string>()};
  case nlohmann::json::value_t::null: return mu::data{false};
  default: return mu::data{j.dump()};
  }
}

// kainjow renders a name it cannot resolve as "": this context remembers every such lookup so
// the render can be refused instead.
class CheckingContext : public mu::context<std::string> {
public:
  explicit CheckingContext(const mu::data* root) : mu::context<std::string>(root) {}

  const mu::data* get(const std::string& name) const override
  {
    const mu::data* found = mu::context<std::string>::get(name);
    if (!found) m_missing.insert(name);
    return found;
  }

  const std::set<std::string>& missing() const { return m_missing; }

private:
  mutable std::set<std::string> m_missing;
};

} // namespace

std::string render_string(const std::string& text, const std::string& display_path, const nlohmann::json& values)
{
  mu::mustache tmpl{text};
  if (!tmpl.is_valid())
    throw Error(ExitCode::usage, fmt::format("cannot parse template {}", display_path), util::to_lower(tmpl.error_message()),
                "fix the template's mustache syntax");
  tmpl.set_custom_escape([](const std::string& s) { return s; });
  mu::data root = to_data(values);
  CheckingContext ctx{&root};
  std::string out = tmpl.render(ctx);
  if (!tmpl.is_valid())
    throw Error(ExitCode::usage, fmt::format("cannot render template {}", display_path), util::to_lower(tmpl.error_message()));
  if (!ctx.missing().empty()) {
    std::vector<std::string> names(ctx.missing().begin(), ctx.missing().end());
    throw Error(ExitCode::usage, fmt::format("cannot render template {}", display_path),
                fmt::format("no value for {} '{}'", names.size() == 1 ? "name" : "names", util::join(names, "', '")),
                "use a name `statectl render` provides (see README: Render and deploy) or a config key as section.key");
  }
  return out;
}

fs::path builtin_template_dir()
{
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  fs::path exe_dir = ec ? fs::path() : exe.parent_path();
  std::string build_dir = fs::path(STATECTL_BUILD_DIR).lexically_normal().string();
  std::vector<fs::path> candidates;
  if (!exe_dir.empty() && (exe_dir.string() == build_dir || exe_dir.string().rfind(build_dir + "/", 0) == 0))
    candidates.push_back(fs::path(STATECTL_SOURCE_DIR) / "templates");
  if (!exe_dir.empty()) candidates.push_back((exe_dir / ".." / "share" / "statectl" / "templates").lexically_normal());
  candidates.push_back(fs::path(STATECTL_DATADIR) / "templates");
  for (const auto& c : candidates)
    if (fs::is_directory(c, ec)) return c;
  return {};
}

std::vector<fs::path> template_roots(const fs::path& override_dir)
{
  std::vector<fs::path> roots;
  if (!override_dir.empty()) roots.push_back(override_dir);
  if (auto builtin = builtin_template_dir(); !builtin.empty()) roots.push_back(builtin);
  return roots;
}

std::vector<TemplateFile> find_templates(const std::vector<fs::path>& roots, const std::string& target_dir)
{
  std::map<std::string, fs::path> files;
  bool any = false;
  std::error_code ec;
  for (const auto& root : roots) {
    fs::path dir = root / target_dir;
    if (!fs::is_directory(dir, ec)) continue;
    any = true;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      std::string rel = fs::relative(it->path(), root, ec).generic_string();
      auto name = it->path().filename().string();
      if (name.empty() || name[0] == '.' || name.back() == '~') continue; // editor and hidden files
      files.emplace(rel, it->path()); // emplace keeps the first (highest-priority) root
    }
  }
  if (!any) {
    std::vector<std::string> shown;
    for (const auto& r : roots) shown.push_back(r.string());
    throw Error(ExitCode::usage, fmt::format("no templates for '{}'", target_dir),
                fmt::format("looked in {}", shown.empty() ? std::string("no template directory") : util::join(shown, ", ")),
                "set [templates] dir or --templates DIR to a directory with the templates, or reinstall statectl");
  }
  std::vector<TemplateFile> out;
  for (auto& [rel, src] : files) out.push_back({rel, src});
  return out;
}

} // namespace statectl::templating

#pragma GCC diagnostic pop

#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace statectl::templating {

// Renders one mustache template (kainjow) with values from a JSON object. Nothing is HTML-escaped
// (the outputs are YAML, HCL and config files). Every name the template looks up must exist in
// the values, section names included: a missing one throws Error(usage) naming `display_path`
// and the missing names, instead of rendering an empty string. A template syntax error throws
// Error(usage) with the parser's message.
std::string render_string(const std::string& text, const std::string& display_path, const nlohmann::json& values);

// Where templates are looked up, first match wins per relative path:
//   1. the override directory ([templates] dir / --templates DIR), when set;
//   2. the built-in templates (builtin_template_dir()).
// Directories that do not exist are skipped.
std::vector<std::filesystem::path> template_roots(const std::filesystem::path& override_dir);

// The built-in templates of this binary: for a build-tree binary (one below the build
// directory) the source tree's templates/, so it renders what it was built with; otherwise
// <dir of the binary>/../share/statectl/templates (the .deb's /usr/bin -> /usr/share, also when
// the package is unpacked elsewhere), else the configured install prefix's. Empty when none exists.
std::filesystem::path builtin_template_dir();

// One template found for a target: its path relative to the templates root
// ("k8s/postgres.yaml") and the file it is read from.
struct TemplateFile {
  std::string relative;
  std::filesystem::path source;
};

// Every template file under <root>/<target_dir> of every root, merged by relative path (earlier
// roots override later ones), sorted by relative path. Throws Error(usage) when no root has the
// target directory.
std::vector<TemplateFile> find_templates(const std::vector<std::filesystem::path>& roots, const std::string& target_dir);

} // namespace statectl::templating

#include "commands/version.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/build_info.h"
#include "core/output/printer.h"
#include "core/templating/engine.h"
#include "core/util/libraries.h"

namespace statectl::commands {

VersionInfo version_info()
{
  std::string compiler =
#if defined(__clang__)
    fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    "unknown";
#endif
  return {STATECTL_VERSION,
          STATECTL_GIT_COMMIT,
          compiler,
          templating::builtin_template_dir().string(),
          util::linked_library_versions()};
}

void to_json(nlohmann::json& j, const VersionInfo& v)
{
  j = {{"version", v.version}, {"git_commit", v.git_commit}, {"compiler", v.compiler}, {"templates_dir", v.templates_dir}, {"libraries", v.libraries}};
}

std::string to_text(const VersionInfo& v)
{
  std::string out = fmt::format("statectl {} (commit {}, {})\ntemplates: {}\n", v.version, v.git_commit, v.compiler,
                                v.templates_dir.empty() ? "none found" : v.templates_dir);
  output::Table t{{"LIBRARY", "VERSION"}, {}};
  for (const auto& [name, version] : v.libraries) t.rows.push_back({name, version});
  return out + t.render();
}

void setup_version(CLI::App& sub, Context& ctx)
{
  sub.callback([&ctx] { ctx.printer().result(version_info()); });
}

} // namespace statectl::commands

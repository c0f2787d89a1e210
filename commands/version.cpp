#include "commands/version.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <toml++/toml.h>
#include <zstd.h>

#include "core/build_info.h"
#include "core/output/printer.h"
#include "core/render/engine.h"

namespace statectl::commands {

nlohmann::json version_info()
{
  int pq = PQlibVersion();
  std::string compiler =
#if defined(__clang__)
    fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    "unknown";
#endif
  return {
    {"version", STATECTL_VERSION},
    {"git_commit", STATECTL_GIT_COMMIT},
    {"compiler", compiler},
    {"templates_dir", render::builtin_template_dir().string()},
    {"libraries",
     {
       {"libpq", pq >= 100000 ? fmt::format("{}.{}", pq / 10000, pq % 10000) : std::to_string(pq)},
       {"hiredis", fmt::format("{}.{}.{}", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH)},
       {"openssl", OpenSSL_version(OPENSSL_VERSION)},
       {"zstd", ZSTD_versionString()},
       {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
       {"tomlplusplus", fmt::format("{}.{}.{}", TOML_LIB_MAJOR, TOML_LIB_MINOR, TOML_LIB_PATCH)},
     }},
  };
}

void setup_version(CLI::App& sub, Context& ctx)
{
  sub.callback([&ctx] {
    auto info = version_info();
    ctx.printer().result(info, [&] {
      std::string out = fmt::format("statectl {} (commit {}, {})\ntemplates: {}\n", info["version"].get<std::string>(),
                                    info["git_commit"].get<std::string>(), info["compiler"].get<std::string>(),
                                    info["templates_dir"].get<std::string>().empty() ? "none found" : info["templates_dir"].get<std::string>());
      output::Table t{{"LIBRARY", "VERSION"}, {}};
      for (auto& [k, v] : info["libraries"].items()) t.rows.push_back({k, v.get<std::string>()});
      return out + t.render();
    });
  });
}

} // namespace statectl::commands

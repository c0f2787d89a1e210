#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config/config.h"
#include "core/config/settings.h"

using statectl::config::Config;
using statectl::config::LoadOptions;
using statectl::config::settings;

TEST_CASE("config settings: the typed copy follows the built-in defaults, the file, the profile, the environment and flags")
{
  Config builtin;
  CHECK(settings(builtin).local.postgres_port == builtin.get_int("local.postgres_port"));
  CHECK(settings(builtin).redis.mode == "sentinel");
  CHECK(settings(builtin).tls.enabled);
  CHECK_FALSE(settings(builtin).tls.enabled_set);
  CHECK(settings(builtin).state.max_value_size == builtin.get_size("state.max_value_size"));
  CHECK(settings(builtin).state_dir == builtin.state_dir());

  Config file = Config::from_string("[postgres]\nreplicas = 3\n[redis]\nmode = \"cluster\"\n[k8s]\nnamespace = \"orders\"\n"
                                    "[monitoring]\nscrape_interval = \"1m\"\n",
                                    "statectl.toml");
  CHECK(settings(file).postgres.replicas == 3);
  CHECK(settings(file).postgres.replicas_set);
  CHECK(settings(file).k8s.namespace_ == "orders");
  CHECK(settings(file).monitoring.scrape_interval == std::chrono::minutes(1));
  CHECK(settings(file).monitoring.scrape_interval_text == "1m");
  // [tls] enabled is on by default in cluster mode too.
  CHECK(settings(file).tls.enabled);
  CHECK_FALSE(settings(file).tls.enabled_set);

  LoadOptions o;
  o.cwd = std::filesystem::temp_directory_path();
  o.environment = {{"STATECTL_REDIS_QUORUM", "3"}};
  o.flags = {{"postgres.replicas", "5"}, {"templates.dir", "tpl"}};
  Config loaded = Config::load(o);
  CHECK(settings(loaded).redis.quorum == 3);
  CHECK(settings(loaded).postgres.replicas == 5);
  CHECK(settings(loaded).templates.dir == "tpl");
  CHECK(settings(loaded).templates.dir_path == loaded.path("templates.dir"));

  // A copy changed later keeps its own typed values; the original is unchanged.
  Config copy = loaded;
  copy.set_flag("postgres.replicas", "1");
  CHECK(settings(copy).postgres.replicas == 1);
  CHECK(settings(loaded).postgres.replicas == 5);
}

TEST_CASE("config settings: every key of the table has its line in settings.cpp")
{
  std::ifstream in(std::filesystem::path(STATECTL_TEST_SOURCE_DIR) / "core/config/settings.cpp");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& spec : statectl::config::key_table()) {
    INFO(spec.name);
    std::string line = "(\"";
    line.append(spec.name).append("\");");
    CHECK(text.str().find(line) != std::string::npos);
  }
}

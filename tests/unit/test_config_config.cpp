#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/config/config.h"
#include "core/error.h"

using statectl::Error;
using statectl::ExitCode;
using statectl::config::Config;
using statectl::config::LoadOptions;

namespace {
// The printed form of the error a config text produces ("FILE:L:C: why").
std::string error_of(const std::string& text, const std::string& profile = {})
{
  try {
    Config::from_string(text, "statectl.toml", profile);
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    return e.message() + (e.hint().empty() ? "" : " | hint: " + e.hint());
  }
  return "no error";
}
} // namespace

TEST_CASE("config: built-in defaults describe a local stack")
{
  Config cfg;
  CHECK(cfg.get_string("project.target") == "local");
  CHECK(cfg.get_int("postgres.replicas") == 1);
  CHECK(cfg.get_string("pgbouncer.pool_mode") == "transaction");
  CHECK(cfg.get_int("pgbouncer.max_client_conn") == 1000);
  CHECK(cfg.get_int("pgbouncer.default_pool_size") == 20);
  CHECK(cfg.get_string("redis.image") == "redis:8.2.1-bookworm");
  CHECK(cfg.get_size("redis.maxmemory") == 4ull * 1024 * 1024 * 1024);
  CHECK(cfg.get_string("redis.maxmemory_policy") == "allkeys-lru");
  CHECK(cfg.get_int("redis.quorum") == 2);
  CHECK(cfg.get_int("backup.retention_daily") == 7);
  CHECK(cfg.get_int("backup.retention_weekly") == 4);
  CHECK(cfg.get_int("backup.retention_monthly") == 12);
  CHECK(cfg.get_duration("state.retry_initial").count() == 100);
  CHECK_FALSE(cfg.is_set("postgres.replicas"));
}

TEST_CASE("config: a syntax error names its line")
{
  CHECK(error_of("[project]\nname = \"x\"\nname = = 1\n").rfind("statectl.toml:3:", 0) == 0);
}

TEST_CASE("config: an unknown key is named with its line and a suggestion")
{
  CHECK(error_of("[project]\nname = \"x\"\n[postgres]\nreplicaz = 3\n") ==
        "statectl.toml:4:1: unknown key 'replicaz' in [postgres] | hint: did you mean 'replicas'?");
}

TEST_CASE("config: an unknown section is named")
{
  CHECK(error_of("[postgress]\nreplicas = 3\n") ==
        "statectl.toml:1:2: unknown section [postgress] | hint: did you mean [postgres]?");
}

TEST_CASE("config: a wrong type is named with its location")
{
  CHECK(error_of("[postgres]\nreplicas = \"three\"\n") ==
        "statectl.toml:2:12: postgres.replicas must be an integer, got string");
  CHECK(error_of("[postgres]\nsynchronous = 1\n") == "statectl.toml:2:15: postgres.synchronous must be a boolean, got integer");
  CHECK(error_of("[redis]\ndown_after = 1000\n") ==
        "statectl.toml:2:14: redis.down_after must be a duration string like \"30s\", got integer");
}

TEST_CASE("config: out-of-range and disallowed values are rejected")
{
  CHECK(error_of("[postgres]\nreplicas = 99\n") == "statectl.toml:2:12: postgres.replicas must be between 0 and 15, got 99");
  CHECK(error_of("[redis]\nmode = \"clustered\"\n") ==
        "statectl.toml:2:8: redis.mode must be one of standalone, sentinel, cluster, got 'clustered'");
  CHECK(error_of("[state]\ntimeout = \"10 parsecs\"\n") ==
        "statectl.toml:2:11: state.timeout: invalid duration '10 parsecs': unknown unit 'parsecs' (use ms, s, m, h, d)");
}

TEST_CASE("config: PostgreSQL role and database names must be identifiers that need no quoting in hba files, ini files and SQL")
{
  CHECK(error_of("[postgres]\napp_user = \"orders_app2\"\n") == "no error");
  CHECK(error_of("[postgres]\napp_user = \"a b\"\n").find("postgres.app_user must be a lower-case identifier") != std::string::npos);
  CHECK(error_of("[postgres]\nsuperuser = \"Admin\"\n").find("postgres.superuser must be a lower-case identifier") != std::string::npos);
  CHECK(error_of("[postgres]\ndatabase = \"9db\"\n").find("postgres.database must be a lower-case identifier") != std::string::npos);
  CHECK(error_of("[postgres]\napp_user = \"x\\\"; DROP\"\n").find("must be a lower-case identifier") != std::string::npos);
  CHECK(error_of("[postgres]\napp_user = \"all\"\n").find("'all' is a keyword of pg_hba.conf") != std::string::npos);
  CHECK(error_of("[postgres]\ndatabase = \"replication\"\n").find("keyword of pg_hba.conf") != std::string::npos);
  CHECK(error_of("[postgres]\nsuperuser = \"pg_monitor\"\n").find("starting with pg_ are reserved") != std::string::npos);
  CHECK(error_of("[postgres]\napp_user = \"" + std::string(64, 'a') + "\"\n").find("at most 63 characters") != std::string::npos);
}

TEST_CASE("config: profiles are validated even when not selected")
{
  CHECK(error_of("[env.prod.postgres]\nreplicas = 300\n") ==
        "statectl.toml:2:12: postgres.replicas must be between 0 and 15, got 300");
  CHECK(error_of("[postgres]\nreplicas = 2\n", "staging") ==
        "profile 'staging' not found in statectl.toml | hint: add an [env.staging] table");
}

TEST_CASE("config: precedence is built-in < file < profile < env < flags")
{
  const std::string text = "[postgres]\nreplicas = 2\nha = \"none\"\n[env.prod.postgres]\nreplicas = 3\n";
  CHECK(Config::from_string(text, "f.toml").get_int("postgres.replicas") == 2);
  CHECK(Config::from_string(text, "f.toml", "prod").get_int("postgres.replicas") == 3);

  auto dir = std::filesystem::temp_directory_path() / "statectl-unit-config";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "statectl.toml") << text;
  }
  LoadOptions opts;
  opts.cwd = dir;
  opts.profile = "prod";
  CHECK(Config::load(opts).get_int("postgres.replicas") == 3);
  CHECK(Config::load(opts).value("postgres.replicas").location == "statectl.toml:5:12");
  opts.environment["STATECTL_POSTGRES_REPLICAS"] = "4";
  CHECK(Config::load(opts).get_int("postgres.replicas") == 4);
  opts.flags["postgres.replicas"] = "5";
  Config cfg = Config::load(opts);
  CHECK(cfg.get_int("postgres.replicas") == 5);
  CHECK(cfg.value("postgres.replicas").origin == statectl::config::Origin::flag);
  CHECK(cfg.state_dir() == dir / ".statectl");

  opts.flags.clear();
  opts.environment["STATECTL_POSTGRES_REPLICAS"] = "many";
  try {
    Config::load(opts);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.message() == "STATECTL_POSTGRES_REPLICAS: postgres.replicas must be an integer, got 'many'");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("config: TLS is on by default in every mode, and explicit values win")
{
  Config cfg;
  CHECK(cfg.get_bool("tls.enabled"));
  CHECK_FALSE(cfg.is_set("tls.enabled"));

  Config cluster = Config::from_string("[redis]\nmode = \"cluster\"\n", "f.toml");
  CHECK(cluster.get_bool("tls.enabled"));
  CHECK_FALSE(cluster.is_set("tls.enabled"));
  CHECK(cluster.value("tls.enabled").origin == statectl::config::Origin::builtin);

  CHECK_FALSE(Config::from_string("[redis]\nmode = \"cluster\"\n[tls]\nenabled = false\n", "f.toml").get_bool("tls.enabled"));
  cluster.set_flag("tls.enabled", "false");
  CHECK_FALSE(cluster.get_bool("tls.enabled"));
  CHECK(cluster.is_set("tls.enabled"));

  auto dir = std::filesystem::temp_directory_path() / "statectl-unit-config-tls";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "statectl.toml") << "[redis]\nmode = \"cluster\"\n";
  }
  LoadOptions opts;
  opts.cwd = dir;
  CHECK(Config::load(opts).get_bool("tls.enabled"));
  opts.environment["STATECTL_TLS_ENABLED"] = "false";
  CHECK_FALSE(Config::load(opts).get_bool("tls.enabled"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("config: secrets in URLs are redacted in show")
{
  Config cfg = Config::from_string("[postgres]\nurl = \"postgresql://app:hunter22@db:5432/app\"\n", "f.toml");
  CHECK(cfg.to_json()["postgres"]["url"] == "postgresql://app:****@db:5432/app");
  CHECK(cfg.to_toml(false).find("hunter22") == std::string::npos);
  CHECK(statectl::config::redact_url("redis://:pw123456@h:6379") == "redis://:****@h:6379");
  CHECK(statectl::config::redact_url("redis://h:6379") == "redis://h:6379");
}

TEST_CASE("config: init templates are valid configs for every target")
{
  for (const char* target : {"local", "compose", "k8s", "terraform"}) {
    CAPTURE(target);
    Config cfg = Config::from_string(statectl::config::init_template(target), "init.toml");
    CHECK(cfg.get_string("project.target") == target);
  }
  CHECK(Config::from_string(statectl::config::init_template("k8s"), "i.toml").get_int("postgres.replicas") == 2);
}

TEST_CASE("config: every key has an env var name and help")
{
  for (const auto& k : statectl::config::key_table()) {
    CAPTURE(k.name);
    CHECK_FALSE(k.help.empty());
    CHECK(statectl::config::validate_value(k, k.default_value).empty());
  }
  CHECK(statectl::config::find_key("postgres.replicas")->env_var() == "STATECTL_POSTGRES_REPLICAS");
}

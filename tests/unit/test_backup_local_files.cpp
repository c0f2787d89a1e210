#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/backup/local_files.h"
#include "core/error.h"

using namespace statectl::backup;
namespace fs = std::filesystem;

TEST_CASE("backup local files: what a base backup leaves out, by pg_basebackup's rules")
{
  auto none = [](const std::string&) { return false; };
  auto unlogged = [](const std::string& node) { return node == "16400"; };
  CHECK(backup_exclusion("base/1/1259", false, none) == Exclusion::none);
  CHECK(backup_exclusion("global/pg_control", false, none) == Exclusion::none);
  CHECK(backup_exclusion("postgresql.auto.conf", false, none) == Exclusion::none);
  CHECK(backup_exclusion("log", true, none) == Exclusion::none);
  CHECK(backup_exclusion("postmaster.pid", false, none) == Exclusion::entry);
  CHECK(backup_exclusion("postmaster.opts", false, none) == Exclusion::entry);
  CHECK(backup_exclusion("backup_label", false, none) == Exclusion::entry);
  CHECK(backup_exclusion("postgresql.auto.conf.tmp", false, none) == Exclusion::entry);
  CHECK(backup_exclusion("global/pg_internal.init", false, none) == Exclusion::entry);
  CHECK(backup_exclusion("base/1/pg_internal.init.1234", false, none) == Exclusion::entry);
  CHECK(backup_exclusion("base/pgsql_tmp", true, none) == Exclusion::entry);
  CHECK(backup_exclusion("base/pgsql_tmp/pgsql_tmp123.0", false, none) == Exclusion::entry);
  // Directories kept empty.
  for (std::string d : {"pg_wal", "pg_stat_tmp", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_subtrans"}) {
    CHECK(backup_exclusion(d, true, none) == Exclusion::contents);
    CHECK(backup_exclusion(d + "/x", false, none) == Exclusion::entry);
  }
  CHECK(backup_exclusion("pg_wal/archive_status", true, none) == Exclusion::entry);
  CHECK(backup_exclusion("pg_xact/0000", false, none) == Exclusion::none);
  // Temporary relations, and the forks of unlogged ones except their init fork.
  CHECK(backup_exclusion("base/5/t3_16384", false, none) == Exclusion::entry);
  CHECK(backup_exclusion("base/5/t3_16384_fsm.1", false, none) == Exclusion::entry);
  CHECK(backup_exclusion("base/5/16400", false, unlogged) == Exclusion::entry);
  CHECK(backup_exclusion("base/5/16400.1", false, unlogged) == Exclusion::entry);
  CHECK(backup_exclusion("base/5/16400_vm", false, unlogged) == Exclusion::entry);
  CHECK(backup_exclusion("base/5/16400_init", false, unlogged) == Exclusion::none);
  CHECK(backup_exclusion("base/5/16401", false, unlogged) == Exclusion::none);
  CHECK(backup_exclusion("base/5/PG_VERSION", false, unlogged) == Exclusion::none);
  CHECK(backup_exclusion("global/16400", false, unlogged) == Exclusion::none);
}

TEST_CASE("backup local files: the walk lists directories, links and files, reads only wanted ones, pg_control last")
{
  fs::path dir = fs::temp_directory_path() / ("statectl-walk-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  for (auto d : {"base/5", "global", "pg_wal/archive_status", "pg_notify", "pg_tblspc"}) fs::create_directories(dir / d);
  std::ofstream(dir / "PG_VERSION") << "15\n";
  std::ofstream(dir / "base/5/16384") << "changed";
  std::ofstream(dir / "base/5/16385") << "same";
  std::ofstream(dir / "base/5/16400") << "unlogged main";
  std::ofstream(dir / "base/5/16400_init") << "";
  std::ofstream(dir / "global/pg_control") << "control";
  std::ofstream(dir / "pg_wal/000000010000000000000001") << "wal";
  std::ofstream(dir / "pg_notify/0000") << "n";
  std::ofstream(dir / "postmaster.pid") << "1\n";
  std::vector<std::string> order;
  std::map<std::string, std::string> read;
  std::string current;
  walk_data_directory(
    dir,
    [&](const TarEntry& e) {
      order.push_back(std::string(1, e.type) + " " + e.path);
      current = e.path;
      return e.path != "base/5/16385";
    },
    [&](std::string_view d) { read[current].append(d); }, [&](const TarEntry&) {});
  CHECK(order == std::vector<std::string>{"0 PG_VERSION", "5 base", "5 base/5", "0 base/5/16384", "0 base/5/16385", "0 base/5/16400_init", "5 global",
                                          "5 pg_notify", "5 pg_tblspc", "5 pg_wal", "5 pg_wal/archive_status", "0 global/pg_control"});
  CHECK(read["base/5/16384"] == "changed");
  CHECK(read.count("base/5/16385") == 0);
  CHECK(read["global/pg_control"] == "control");
  fs::remove_all(dir);
}

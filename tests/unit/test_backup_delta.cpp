#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/backup/delta.h"
#include "core/backup/stream.h"
#include "core/error.h"

using namespace statectl::backup;
namespace fs = std::filesystem;

namespace {

using Kind = ExistingEntry::Kind;

ContentFile content(const std::string& path, std::uint64_t size, const std::string& sha)
{
  ContentFile c;
  c.path = path;
  c.size = size;
  c.sha256 = sha;
  return c;
}

ExistingEntry entry(const std::string& path, Kind kind, std::uint64_t size = 0)
{
  ExistingEntry e;
  e.path = path;
  e.kind = kind;
  e.size = size;
  e.mode = kind == Kind::directory ? 0700 : 0600;
  return e;
}

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

} // namespace

TEST_CASE("backup delta: files with the backup's size and SHA-256 are kept, the others rewritten, strays removed")
{
  std::vector<ContentFile> contents = {
    content("PG_VERSION", 3, "v"),       content("base/1/1259", 8192, "same"), content("base/1/2619", 8192, "new"),
    content("base/1/2620", 16384, "grown"), content("base/1/2621", 10, "gone"), content("global/pg_control", 8192, "ctl"),
  };
  std::vector<ExistingEntry> existing = {
    entry("PG_VERSION", Kind::file, 3),
    entry("base", Kind::directory),
    entry("base/1", Kind::directory),
    entry("base/1/1259", Kind::file, 8192),      // same bytes
    entry("base/1/2619", Kind::file, 8192),      // same size, other bytes
    entry("base/1/2620", Kind::file, 8192),      // other size: not even hashed
    entry("base/1/99999", Kind::file, 100),      // not in the backup
    entry("global", Kind::directory),
    entry("global/pg_control", Kind::file, 8192), // never kept, even when equal
    entry("pg_wal", Kind::directory),
    entry("pg_wal/000000010000000000000003", Kind::file, 16u << 20),
    entry("stray_dir", Kind::directory),           // left for the sweep
  };
  std::map<std::string, std::string> on_disk = {
    {"PG_VERSION", "v"}, {"base/1/1259", "same"}, {"base/1/2619", "old"}, {"global/pg_control", "ctl"}};
  std::atomic<int> hashed{0};
  auto plan = plan_delta(
    contents, existing,
    [&](const std::string& p) {
      ++hashed;
      return on_disk.at(p);
    },
    1);
  CHECK(as_set(plan.keep) == std::set<std::string>{"PG_VERSION", "base/1/1259"});
  CHECK(as_set(plan.remove) ==
        std::set<std::string>{"base/1/2619", "base/1/2620", "base/1/99999", "global/pg_control", "pg_wal/000000010000000000000003"});
  CHECK(as_set(plan.write) == std::set<std::string>{"base/1/2619", "base/1/2620", "base/1/2621", "global/pg_control"});
  CHECK(plan.kept_bytes == 3 + 8192);
  CHECK(plan.hashed_files == 3);
  CHECK(hashed.load() == 3);
}

TEST_CASE("backup delta: something that is not a regular file where the backup has one is removed with what is below it")
{
  std::vector<ContentFile> contents = {content("a", 1, "x"), content("b", 1, "y")};
  std::vector<ExistingEntry> existing = {
    entry("a", Kind::directory), entry("a/inner", Kind::file, 1), entry("a/inner2", Kind::directory), entry("b", Kind::symlink),
  };
  auto plan = plan_delta(contents, existing, [](const std::string&) -> std::string { throw std::logic_error("nothing may be hashed"); }, 2);
  CHECK(plan.keep.empty());
  CHECK(plan.remove == std::vector<std::string>{"a", "b"});
  CHECK(as_set(plan.write) == std::set<std::string>{"a", "b"});
}

TEST_CASE("backup delta: an empty directory gets every file written and nothing removed")
{
  std::vector<ContentFile> contents = {content("PG_VERSION", 3, "v"), content("base/1/1", 5, "z")};
  auto plan = plan_delta(contents, {}, [](const std::string&) { return std::string(); }, 4);
  CHECK(plan.keep.empty());
  CHECK(plan.remove.empty());
  CHECK(plan.write == std::vector<std::string>{"PG_VERSION", "base/1/1"});
}

TEST_CASE("backup delta: the sweep removes what a fresh restore would not have, topmost only")
{
  std::vector<ContentFile> contents = {content("base/1/1259", 1, "x"), content("postgresql.auto.conf", 1, "y")};
  std::set<std::string> expected = {"pg_wal", "pg_wal/archive_status", "pg_tblspc", "pg_tblspc/16500"};
  std::vector<ExistingEntry> existing = {
    entry("base", Kind::directory),          // holds a file of the backup, not listed in its archive
    entry("base/1", Kind::directory),
    entry("base/1/1259", Kind::file, 1),
    entry("log", Kind::directory),           // not in the backup
    entry("log/restore.log", Kind::file, 9),
    entry("pg_tblspc", Kind::directory),
    entry("pg_tblspc/16500", Kind::symlink), // listed
    entry("pg_tblspc/16501", Kind::symlink), // not listed
    entry("pg_wal", Kind::directory),
    entry("pg_wal/archive_status", Kind::directory),
    entry("postgresql.auto.conf", Kind::file, 1),
    entry("recovery.signal", Kind::file, 0),
  };
  CHECK(sweep_strays(contents, expected, existing) == std::vector<std::string>{"log", "pg_tblspc/16501", "recovery.signal"});
}

TEST_CASE("backup delta: scan, marker and the SHA-256 of a file")
{
  fs::path dir = fs::temp_directory_path() / ("statectl-delta-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "base" / "1");
  fs::create_directories(dir / "global");
  std::ofstream(dir / "base" / "1" / "1259") << "hello";
  std::ofstream(dir / k_pg_control_staged) << "staged";
  fs::create_symlink("/nowhere", dir / "link");
  CHECK_FALSE(restore_incomplete(dir));
  std::ofstream(dir / k_restore_marker) << "in progress";
  CHECK(restore_incomplete(dir));
  std::map<std::string, ExistingEntry> got;
  std::vector<std::string> order;
  for (const auto& e : scan_data_dir(dir)) {
    got[e.path] = e;
    order.push_back(e.path);
  }
  // The restore's own files are not part of the directory it plans over.
  CHECK(as_set(order) == std::set<std::string>{"base", "base/1", "base/1/1259", "global", "link"});
  CHECK(got["base/1/1259"].kind == Kind::file);
  CHECK(got["base/1/1259"].size == 5);
  CHECK(got["base"].kind == Kind::directory);
  CHECK(got["link"].kind == Kind::symlink);
  auto pos = [&](const std::string& p) { return std::find(order.begin(), order.end(), p) - order.begin(); };
  CHECK(pos("base") < pos("base/1"));
  CHECK(pos("base/1") < pos("base/1/1259"));
  CHECK(sha256_of_file(dir / "base" / "1" / "1259") == sha256_hex("hello"));
  CHECK_THROWS_AS(sha256_of_file(dir / "absent"), statectl::Error);
  fs::remove_all(dir);
}

TEST_CASE("backup delta: a directory a server runs on, or that is not a data directory, is refused before anything changes")
{
  fs::path dir = fs::temp_directory_path() / ("statectl-delta-target-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "somefile") << "x";
  auto message = [&] {
    try {
      check_delta_target(dir);
    } catch (const statectl::Error& e) {
      CHECK(e.code() == statectl::ExitCode::usage);
      return e.why();
    }
    return std::string("accepted");
  };
  CHECK(message() == "it is not a PostgreSQL data directory (no PG_VERSION)");
  std::ofstream(dir / "PG_VERSION") << "15\n";
  CHECK(message() == "accepted");
  std::ofstream(dir / "postmaster.pid") << ::getpid() << "\n" << dir.string() << "\n";
  CHECK(message() == "PostgreSQL is running on it (postmaster.pid: pid " + std::to_string(::getpid()) + ")");
  std::ofstream(dir / "postmaster.pid") << "999999999\n";
  CHECK(message() == "it holds a postmaster.pid (pid 999999999 is not running: a server that crashed?)");
  CHECK(fs::exists(dir / "somefile"));
  fs::remove_all(dir);
}

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/backup/results.h"
#include "core/output/printer.h"

using namespace statectl;
using namespace statectl::output;

namespace {
// What printer.result(r) writes to stdout in a format.
template <class R>
std::string printed(const R& r, Format format)
{
  std::ostringstream out, err;
  Printer p(out, err, format, Verbosity::normal, false);
  p.result(r);
  CHECK(err.str().empty());
  return out.str();
}

backup::BackupRow full_row()
{
  backup::BackupRow r;
  r.id = "20261122T033527F";
  r.type = "full";
  r.status = "valid";
  r.start_time = "2026-11-22T03:35:27.123456Z";
  r.stop_time = "2026-11-22T03:35:29.000001Z";
  r.size = 2u << 20;
  r.stored_size = 1u << 20;
  r.start_lsn = "0/2000028";
  r.stop_lsn = "0/2000100";
  r.timeline = 1;
  return r;
}
} // namespace

TEST_CASE("backup results: printer.result renders one JSON document or the text form")
{
  backup::BackupRow incr = full_row();
  incr.id = "20261122T043000I";
  incr.type = "incr";
  incr.size = 4096;
  incr.stored_size = 512;
  incr.depends_on = "20261122T033527F";
  incr.references = {"20261122T033527F"};
  incr.database_size = 3u << 20;
  backup::BackupList list{"/repo", {full_row(), incr}};
  auto j = nlohmann::json::parse(printed(list, Format::json));
  CHECK(j["repository"] == "/repo");
  REQUIRE(j["backups"].size() == 2);
  CHECK(j["backups"][0] == nlohmann::json::parse(R"({"id": "20261122T033527F", "type": "full", "status": "valid",
        "start_time": "2026-11-22T03:35:27.123456Z", "stop_time": "2026-11-22T03:35:29.000001Z", "size": 2097152,
        "stored_size": 1048576, "start_lsn": "0/2000028", "stop_lsn": "0/2000100", "timeline": 1,
        "depends_on": null, "references": [], "database_size": null})"));
  CHECK(j["backups"][1]["depends_on"] == "20261122T033527F");
  CHECK(j["backups"][1]["references"] == nlohmann::json::parse(R"(["20261122T033527F"])"));
  CHECK(j["backups"][1]["database_size"] == 3145728);
  CHECK(printed(list, Format::text) ==
        "ID                TYPE  STATUS  START                STOP                 SIZE     STORED   LSN RANGE              DEPENDS ON\n"
        "20261122T033527F  full  valid   2026-11-22 03:35:27  2026-11-22 03:35:29  2.0 MiB  1.0 MiB  0/2000028 - 0/2000100  -\n"
        "20261122T043000I  incr  valid   2026-11-22 03:35:27  2026-11-22 03:35:29  4.0 KiB  512 B    0/2000028 - 0/2000100  20261122T033527F\n");
  CHECK(printed(backup::BackupCreated{incr}, Format::text) ==
        "backup 20261122T043000I (incr) valid: 4.0 KiB stored as 512 B of a 3.0 MiB cluster, unchanged files in 20261122T033527F, "
        "WAL 0/2000028 - 0/2000100\n");
  CHECK(printed(backup::BackupList{"/repo", {}}, Format::text) == "no backups in /repo\n");
}

TEST_CASE("backup results: an incomplete backup has null fields, not absent ones")
{
  backup::BackupRow r;
  r.id = "20261122T040000L";
  r.type = "logical";
  r.status = "incomplete";
  r.stored_size = 10;
  nlohmann::json j = r;
  for (const char* key : {"start_time", "stop_time", "size", "start_lsn", "stop_lsn", "timeline"}) {
    CAPTURE(key);
    REQUIRE(j.contains(key));
    CHECK(j[key].is_null());
  }
  CHECK(j["stored_size"] == 10);
}

TEST_CASE("backup results: verify, prune and info keep their documented keys")
{
  backup::VerifyReport v;
  v.repository = "/repo";
  v.backups = {{"A", "valid", false, {"backups/A/base.tar.zst: missing"}}, {"B", "incomplete", false, {"backups/B: incomplete"}}};
  v.problems = {"backups/A/base.tar.zst: missing"};
  v.valid_backups = 1;
  v.incomplete_backups = 1;
  v.ok = false;
  auto vj = nlohmann::json::parse(printed(v, Format::json));
  CHECK(vj["ok"] == false);
  CHECK(vj["restore_test"].is_null());
  CHECK(vj["backups"][0] == nlohmann::json::parse(R"({"id": "A", "status": "valid", "ok": false, "problems": ["backups/A/base.tar.zst: missing"]})"));
  CHECK(vj["valid_backups"] == 1);
  CHECK(vj["incomplete_backups"] == 1);
  CHECK(printed(v, Format::text) == "A  DAMAGED\nB  INCOMPLETE\ndamaged: backups/A/base.tar.zst: missing\n");
  v.valid_backups = 0;
  CHECK(printed(v, Format::text).find("no valid backup: 1 incomplete (interrupted) backup(s)") != std::string::npos);

  backup::PruneReport p;
  p.dry_run = true;
  p.daily = 7;
  p.backups.push_back({"A", "full", "keep", "daily", {"daily"}});
  p.wal_removed_names = {"000000010000000000000001"};
  p.wal_removed_bytes = 100;
  auto pj = nlohmann::json::parse(printed(p, Format::json));
  CHECK(pj["wal_removed"] == 1);
  CHECK(pj["wal_kept_from"].is_null());
  CHECK(pj["rules"] == nlohmann::json::parse(R"({"daily": 7, "weekly": 0, "monthly": 0})"));
  CHECK(printed(p, Format::text) == "ID  TYPE  ACTION  WHY\nA   full  keep    daily\ndry run: 1 WAL files (100 B) would be removed\n");

  backup::RepositoryInfo info;
  info.repository = "/repo";
  info.newest_recovery_point = backup::RecoveryPoint{"A", "t", "0/3000000", 1};
  auto ij = nlohmann::json::parse(printed(info, Format::json));
  CHECK(ij["oldest_recovery_point"].is_null());
  CHECK(ij["newest_recovery_point"] == nlohmann::json::parse(R"({"backup": "A", "time": "t", "lsn": "0/3000000", "timeline": 1})"));
  CHECK(ij["last_failure"].is_null());
}

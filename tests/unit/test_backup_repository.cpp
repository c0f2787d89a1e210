#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "core/backup/repository.h"
#include "core/backup/retention.h"
#include "core/backup/stream.h"

using namespace statectl::backup;

TEST_CASE("backup: LSNs parse and format like PostgreSQL's")
{
  CHECK(parse_lsn("16/B374D848").value() == 0x16B374D848ULL);
  CHECK(parse_lsn("0/3000060").value() == 0x3000060ULL);
  CHECK(format_lsn(0x16B374D848ULL) == "16/B374D848");
  CHECK_FALSE(parse_lsn("3000060").has_value());
  CHECK_FALSE(parse_lsn("0/xyz").has_value());
}

TEST_CASE("backup: WAL segment names")
{
  CHECK(wal_segment_name(1, 0x3000060, 16u << 20) == "000000010000000000000003");
  CHECK(wal_segment_name(2, 0x1FF000000ULL, 16u << 20) == "0000000200000001000000FF");
  auto w = parse_wal_name("0000000200000001000000FF");
  REQUIRE(w);
  CHECK(w->timeline == 2);
  CHECK(w->segment == 0x1FF);
  CHECK(parse_wal_name("00000002.history")->kind == WalName::Kind::history);
  CHECK(parse_wal_name("000000010000000000000002.00000028.backup")->kind == WalName::Kind::backup);
  CHECK(parse_wal_name("000000010000000000000002.partial")->kind == WalName::Kind::partial);
  CHECK_FALSE(parse_wal_name("000000010000000000000002.tmp"));
  CHECK_FALSE(parse_wal_name("../etc/passwd"));
}

TEST_CASE("backup: target times read with and without offsets")
{
  auto utc = parse_time("2026-11-22 03:35:27.5+00");
  REQUIRE(utc);
  CHECK(format_time(*utc) == "2026-11-22T03:35:27.500000Z");
  CHECK(parse_time("2026-11-22T05:35:27.5+02:00") == utc);
  CHECK(parse_time("2026-11-22 03:35:27.5") == utc);
  CHECK(parse_time("2026-11-22T03:35:27.500000Z") == utc);
  CHECK_FALSE(parse_time("yesterday"));
  CHECK_FALSE(parse_time("2026-13-01"));
}

TEST_CASE("backup: retention keeps the newest backup of each of the last N days, weeks, months")
{
  const std::int64_t day = 86400LL * 1000000;
  std::int64_t t0 = *parse_time("2026-11-22 12:00:00");
  std::vector<std::pair<std::string, std::int64_t>> b = {
    {"a", t0 - 3 * day}, {"b", t0 - 2 * day}, {"c", t0 - 1000}, {"d", t0}};
  auto kept = select_kept(b, {2, 0, 0});
  CHECK(kept.size() == 2);
  CHECK(kept["d"] == std::vector<std::string>{"daily 2026-11-22"});
  CHECK(kept["b"] == std::vector<std::string>{"daily 2026-11-20"});
  auto none = select_kept(b, {0, 0, 0});
  CHECK(none.size() == 1);
  CHECK(none["d"] == std::vector<std::string>{"newest"});
  auto weekly = select_kept(b, {1, 2, 1});
  CHECK(weekly["d"] == std::vector<std::string>{"daily 2026-11-22", "weekly 2026-W47", "monthly 2026-11"});
  CHECK(weekly.size() == 1); // 2026-11-19 .. 22 are all in ISO week 47
}

TEST_CASE("backup: sha256 of a known string")
{
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("backup: a diff's manifest keeps its prior, references and each file's mtime and holder")
{
  Manifest m;
  m.id = "20261122-043000D";
  m.type = "diff";
  m.prior = "20261122-033512F";
  m.references = {"20261122-033512F"};
  m.contents = {{"base/1/1259", 8192, "aa", 1764551234, ""}, {"base/1/2619", 16384, "bb", 1764550000, "20261122-033512F"}};
  auto j = m.to_json();
  CHECK(j["contents"][0].contains("reference") == false);
  CHECK(j["contents"][1]["reference"] == "20261122-033512F");
  Manifest back = Manifest::from_json(j);
  CHECK(back.prior == m.prior);
  CHECK(back.references == m.references);
  REQUIRE(back.contents.size() == 2);
  CHECK(back.contents[1].mtime == 1764550000);
  CHECK(back.contents[1].reference == "20261122-033512F");
  CHECK(back.database_size() == 24576);
  CHECK(is_physical("incr"));
  CHECK_FALSE(is_physical("logical"));
  // A full's manifest has no prior: the keys are absent, not empty.
  Manifest full;
  full.type = "full";
  CHECK_FALSE(full.to_json().contains("prior"));
}

TEST_CASE("backup: wal_retention keeps the WAL stream from the newest backup before the window")
{
  const std::int64_t day = 86400LL * 1000000;
  std::int64_t now = 100 * day;
  std::vector<std::pair<std::string, std::int64_t>> b = {{"F1", now - 40 * day}, {"I1", now - 35 * day}, {"F2", now - 20 * day}, {"I2", now - day}};
  CHECK(wal_anchor(b, 30 * day, now) == std::optional<std::string>("I1"));
  CHECK(wal_anchor(b, 50 * day, now) == std::optional<std::string>("F1")); // nothing before the window: the oldest
  CHECK(wal_anchor(b, 0, now) == std::nullopt);                           // off: every WAL from the oldest backup
  CHECK(wal_anchor({}, 30 * day, now) == std::nullopt);
}

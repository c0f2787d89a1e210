#include <doctest/doctest.h>

#include <fcntl.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

#include "core/backup/repository.h"
#include "core/backup/retention.h"
#include "core/backup/stream.h"
#include "core/error.h"
#include "tests/support/temp_dir.h"

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

namespace {

// Reads raw bytes [begin, end) of a framed file through read_zstd_range.
std::string stream_test_range(const std::filesystem::path& p, const std::vector<FrameMark>& frames, std::uint64_t begin, std::uint64_t end,
                              const std::string& key = {})
{
  int fd = ::open(p.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  std::string out;
  try {
    read_zstd_range(fd, frames, begin, end, [&](std::string_view d) { out.append(d); }, key, "base.tar.zst");
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return out;
}

} // namespace

TEST_CASE("backup: a framed zstd file is one stream and each part of it reads alone, plain and sealed")
{
  statectl::testing::TempDir tmp;
  // Incompressible bytes, so that the sealed stream spans several 1 MiB records.
  std::string data(3'500'000, '\0');
  std::mt19937 rng(7);
  for (auto& c : data) c = static_cast<char>(rng());
  for (std::string key : {std::string(), std::string(32, 'k')}) {
    CAPTURE(key.size());
    auto p = tmp.path() / (key.empty() ? "plain.zst" : "sealed.zst");
    ZstdFileWriter w(p, 3, 1, 0640, key, 256 * 1024);
    w.write(std::string_view(data).substr(0, 1000));
    w.write(std::string_view(data).substr(1000)); // crosses many frame ends in one write
    auto st = w.finish();
    REQUIRE(st.frames.size() == data.size() / (256 * 1024) + 2);
    CHECK(st.frames.front() == FrameMark{0, 0});
    CHECK(st.frames[1].raw == 256 * 1024);
    CHECK(st.frames.back().raw == data.size());
    std::string whole;
    read_zstd_file(p, [&](std::string_view d) { whole.append(d); }, key);
    CHECK(whole == data);
    CHECK(stream_test_range(p, st.frames, 0, 10, key) == data.substr(0, 10));
    CHECK(stream_test_range(p, st.frames, 256 * 1024 - 5, 256 * 1024 + 5, key) == data.substr(256 * 1024 - 5, 10));
    CHECK(stream_test_range(p, st.frames, 1'100'000, 2'600'000, key) == data.substr(1'100'000, 1'500'000));
    CHECK(stream_test_range(p, st.frames, data.size() - 3, data.size(), key) == data.substr(data.size() - 3));
    CHECK(stream_test_range(p, st.frames, 0, data.size(), key) == data);
    // An index that does not match the frames is damage, not wrong bytes.
    auto wrong = st.frames;
    wrong[2].raw += 1;
    CHECK_THROWS_AS(stream_test_range(p, wrong, 300'000, 400'000, key), statectl::Error);
    CHECK_THROWS_AS(stream_test_range(p, st.frames, 0, data.size() + 1, key), statectl::Error);
  }
  // A flipped byte in a frame fails that frame's read (zstd's checksum or AES-GCM's tag).
  for (const char* name : {"plain.zst", "sealed.zst"}) {
    auto p = tmp.path() / name;
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(600'000);
    char c = 0;
    f.seekg(600'000);
    f.read(&c, 1);
    f.seekp(600'000);
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
    f.close();
  }
  ZstdFileWriter w(tmp.path() / "index.zst", 3, 1, 0640, {}, 256 * 1024);
  w.write(data);
  auto frames = w.finish().frames;
  CHECK_THROWS_AS(stream_test_range(tmp.path() / "plain.zst", frames, 0, data.size()), statectl::Error);
  CHECK_THROWS_AS(stream_test_range(tmp.path() / "sealed.zst", frames, 0, data.size(), std::string(32, 'k')), statectl::Error);
}

TEST_CASE("backup: a manifest keeps the frame index, file offsets and tree; one without them reads as before")
{
  Manifest m;
  m.id = "20261122-033512F";
  m.type = "full";
  m.files.push_back({"base.tar.zst", 100, 50, "a", "b", {{0, 0}, {64, 30}, {100, 50}}});
  m.contents.push_back({"base/1/1", 10, "c", 5, "", 1536});
  m.contents.push_back({"base/1/2", 10, "d", 5, "20261121-000000F", -1});
  m.tree = std::vector<TreeEntry>{{"base", '5', ""}, {"pg_tblspc/16384", '2', "/srv/ts"}};
  auto back = Manifest::from_json(m.to_json());
  CHECK(back.files.at(0).frames == m.files[0].frames);
  CHECK(back.contents.at(0).offset == 1536);
  CHECK(back.contents.at(1).offset == -1);
  REQUIRE(back.tree);
  CHECK(back.tree->size() == 2);
  CHECK(back.tree->at(1).type == '2');
  CHECK(back.tree->at(1).link_target == "/srv/ts");
  auto j = m.to_json();
  j["files"][0].erase("frames");
  j.erase("tree");
  j["contents"][0].erase("offset");
  auto old = Manifest::from_json(j);
  CHECK(old.files.at(0).frames.empty());
  CHECK(old.contents.at(0).offset == -1);
  CHECK_FALSE(old.tree.has_value());
}

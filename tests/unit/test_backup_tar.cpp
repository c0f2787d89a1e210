#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/backup/tar.h"

using namespace statectl::backup;

namespace {
// Every member the scanner reports for an archive fed in chunks of `step` bytes.
std::vector<std::pair<TarEntry, std::string>> scan(const std::string& archive, std::size_t step)
{
  std::vector<std::pair<TarEntry, std::string>> out;
  TarScanner t;
  t.on_begin = [&](const TarEntry& e) { out.push_back({e, ""}); };
  t.on_data = [&](std::string_view d) { out.back().second.append(d); };
  for (std::size_t i = 0; i < archive.size(); i += step) t.feed(std::string_view(archive).substr(i, step));
  CHECK(t.finished());
  return out;
}
} // namespace

TEST_CASE("backup tar: headers written by tar_header read back with path, size, mode, mtime and link")
{
  TarEntry dir{"base/16384", '5', 0, 0700, "", 1764550000};
  TarEntry file{"base/16384/2619", '0', 5, 0600, "", 1764551234};
  TarEntry link{"pg_tblspc/16500", '2', 0, 0777, "/srv/tablespace", 1764550001};
  std::string long_name = "base/" + std::string(120, 'x');
  TarEntry long_file{long_name, '0', 3, 0600, "", 1764551235};
  std::string archive = tar_header(dir) + tar_header(file) + "hello" + tar_padding(5) + tar_header(link) + tar_header(long_file) + "abc" +
                        tar_padding(3) + tar_end();
  CHECK(archive.size() % 512 == 0);
  for (std::size_t step : {1u, 7u, 512u, 100000u}) {
    auto m = scan(archive, step);
    REQUIRE(m.size() == 4);
    CHECK(m[0].first.path == "base/16384");
    CHECK(m[0].first.type == '5');
    CHECK(m[1].first.path == "base/16384/2619");
    CHECK(m[1].first.size == 5);
    CHECK(m[1].first.mode == 0600);
    CHECK(m[1].first.mtime == 1764551234);
    CHECK(m[1].second == "hello");
    CHECK(m[2].first.type == '2');
    CHECK(m[2].first.link_target == "/srv/tablespace");
    CHECK(m[3].first.path == long_name);
    CHECK(m[3].second == "abc");
  }
  CHECK(tar_padding(512).empty());
  CHECK(tar_padding(513).size() == 511);
}

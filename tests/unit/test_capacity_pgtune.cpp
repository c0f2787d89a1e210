// capacity plan against pgtune itself: tests/data/pgtune_grid.tsv holds pgtune's output for 1,320
// inputs (RAM 2-256 GB, 1-64 CPUs, every storage, DB type and data size class, some with explicit
// connections), and every PostgreSQL setting statectl plans must equal it, key by key, in order.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/capacity/plan.h"
#include "tests/support/units.h"
#include "core/util/strings.h"

using namespace statectl;
using namespace statectl::capacity;

namespace {

using statectl::test::GiB;

struct Row {
  int line = 0;
  PlanInput input;
  std::string data_class;
  std::vector<std::pair<std::string, std::string>> settings;
};

std::vector<Row> read_grid()
{
  std::ifstream in(std::filesystem::path(STATECTL_TEST_SOURCE_DIR) / "tests/data/pgtune_grid.tsv");
  REQUIRE(in.good());
  std::vector<Row> rows;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    auto cols = util::split(line, '\t');
    REQUIRE(cols.size() == 7);
    Row r;
    r.line = n;
    r.input.ram = std::stoull(cols[0]) * GiB;
    r.input.cpus = std::stoi(cols[1]);
    r.input.storage = cols[2];
    r.input.workload = cols[3];
    r.input.connections = std::stoi(cols[4]);
    r.data_class = cols[5];
    // A data size in pgtune's class: half the RAM, twice it, four times it.
    if (cols[5] == "less_ram") r.input.data_size = r.input.ram / 2;
    else if (cols[5] == "greater_ram") r.input.data_size = r.input.ram * 4;
    else r.input.data_size = r.input.ram * 2;
    for (const auto& kv : util::split(cols[6], ' ')) {
      auto eq = kv.find('=');
      REQUIRE(eq != std::string::npos);
      r.settings.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

} // namespace

TEST_CASE("capacity plan equals pgtune (PostgreSQL 15, Linux) on every row of the recorded grid")
{
  auto rows = read_grid();
  CHECK(rows.size() == 1320);
  int identical = 0;
  std::map<std::string, int> differing_keys;
  for (const auto& row : rows) {
    Plan p = compute_sizing(row.input);
    CHECK(data_size_class(row.input) == row.data_class);
    std::vector<std::pair<std::string, std::string>> ours;
    for (const auto& s : p.postgresql) ours.emplace_back(s.name, s.value);
    if (ours == row.settings) {
      ++identical;
      continue;
    }
    std::map<std::string, std::string> a(ours.begin(), ours.end()), b(row.settings.begin(), row.settings.end());
    std::string diff;
    for (const auto& [k, v] : b)
      if (!a.count(k) || a[k] != v) {
        diff += fmt::format(" {}: pgtune {} statectl {};", k, v, a.count(k) ? a[k] : "<absent>");
        ++differing_keys[k];
      }
    for (const auto& [k, v] : a)
      if (!b.count(k)) {
        diff += fmt::format(" {}: pgtune <absent> statectl {};", k, v);
        ++differing_keys[k];
      }
    if (diff.empty()) diff = " same settings in another order";
    CHECK_MESSAGE(ours == row.settings, "pgtune_grid.tsv line " << row.line << ":" << diff);
  }
  for (const auto& [key, count] : differing_keys) MESSAGE(key << " differs on " << count << " rows");
  CHECK(identical == static_cast<int>(rows.size()));
}

TEST_CASE("capacity plan: pgtune's data size classes from --data-size")
{
  PlanInput in;
  in.ram = 16 * GiB;
  in.cpus = 4;
  CHECK(data_size_class(in) == "mid_ram"); // unknown: pgtune's default
  in.data_size = 8 * GiB;
  CHECK(data_size_class(in) == "less_ram");
  in.data_size = 16 * GiB;
  CHECK(data_size_class(in) == "mid_ram");
  in.data_size = 48 * GiB;
  CHECK(data_size_class(in) == "mid_ram");
  in.data_size = 48 * GiB + 1;
  CHECK(data_size_class(in) == "greater_ram");
}

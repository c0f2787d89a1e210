// capacity check as a Nagios plugin: threshold ranges (the plugin guidelines' table), perfdata
// formatting parsed back with the guidelines' grammar, and the Prometheus exposition.
#include <doctest/doctest.h>

#include <limits>
#include <regex>

#include "core/capacity/check.h"
#include "core/output/prometheus.h"
#include "core/util/strings.h"

using namespace statectl;
using namespace statectl::capacity;

namespace {

// One perfdata item parsed back: 'label'=value[UOM];[warn];[crit];[min];[max].
struct Parsed {
  std::string label, value, uom, warn, crit, min, max;
};

// Splits the status line's perfdata (after '|') into items, honouring quoted labels, and parses
// each with the Nagios grammar; an item that does not match fails the test.
std::vector<Parsed> parse_perfdata(const std::string& output)
{
  std::string first = output.substr(0, output.find('\n'));
  auto bar = first.find('|');
  REQUIRE(bar != std::string::npos);
  std::string rest = util::trim(first.substr(bar + 1));
  static const std::regex item(R"('([^'=]+)'=(-?[0-9]+(?:\.[0-9]+)?)(s|us|ms|%|B|KB|MB|TB|c)?)"
                               R"((?:;([@~0-9.:-]*)(?:;([@~0-9.:-]*)(?:;(-?[0-9.]*)(?:;(-?[0-9.]*))?)?)?)?)");
  std::vector<Parsed> out;
  std::size_t i = 0;
  while (i < rest.size()) {
    // An item ends at the first space outside the quoted label.
    std::size_t end = i;
    bool quoted = false;
    while (end < rest.size() && (quoted || rest[end] != ' ')) {
      if (rest[end] == '\'') quoted = !quoted;
      ++end;
    }
    std::string text = rest.substr(i, end - i);
    std::smatch m;
    CAPTURE(text);
    REQUIRE(std::regex_match(text, m, item));
    out.push_back({m[1], m[2], m[3], m[4], m[5], m[6], m[7]});
    i = end + 1;
  }
  return out;
}

CheckResult check_with(const std::string& name, Status s, std::vector<Perf> perf)
{
  CheckResult c;
  c.name = name;
  c.component = "postgres";
  c.target = "127.0.0.1:15432";
  c.status = s;
  c.value = "v";
  c.perf = std::move(perf);
  return c;
}

} // namespace

TEST_CASE("capacity perfdata: Nagios threshold ranges alert beyond them, never when equal")
{
  // The plugin guidelines' table.
  auto r = Range::parse("10");
  REQUIRE(r);
  CHECK(r->alerts(-1));
  CHECK_FALSE(r->alerts(0));
  CHECK_FALSE(r->alerts(10));
  CHECK(r->alerts(10.5));
  r = Range::parse("10:");
  REQUIRE(r);
  CHECK(r->alerts(9.99));
  CHECK_FALSE(r->alerts(10));
  CHECK_FALSE(r->alerts(1e9));
  r = Range::parse("~:10");
  REQUIRE(r);
  CHECK_FALSE(r->alerts(-1e9));
  CHECK_FALSE(r->alerts(10));
  CHECK(r->alerts(11));
  r = Range::parse("10:20");
  REQUIRE(r);
  CHECK(r->alerts(9));
  CHECK_FALSE(r->alerts(10));
  CHECK_FALSE(r->alerts(20));
  CHECK(r->alerts(21));
  r = Range::parse("@10:20");
  REQUIRE(r);
  CHECK_FALSE(r->alerts(9));
  CHECK(r->alerts(10));
  CHECK(r->alerts(20));
  CHECK_FALSE(r->alerts(21));

  for (const char* text : {"10", "10:", "~:10", "10:20", "@10:20", "0.5", "@~:3"}) {
    CAPTURE(text);
    auto parsed = Range::parse(text);
    REQUIRE(parsed);
    CHECK(parsed->text() == text);
  }
  CHECK(Range::parse("0:10")->text() == "10");
  for (const char* bad : {"", "@", ":", ":10", "a", "10:x", "20:10", "1e", "~"}) {
    CAPTURE(bad);
    CHECK_FALSE(Range::parse(bad).has_value());
  }
  CHECK(Range::above(80).text() == "80");
  CHECK(Range::below(2).text() == "2:");
  CHECK(Range::above(80).scaled(2).text() == "160");
  CHECK(Range::parse("@10:20")->scaled(0.5).text() == "@5:10");
}

TEST_CASE("capacity perfdata: items follow 'label'=value[UOM];warn;crit;min;max")
{
  CHECK(format_perf({.label = "connections", .value = 6, .warn = Range::above(160), .crit = Range::above(180), .min = 0,
                     .max = 200}) == "'connections'=6;160;180;0;200");
  CHECK(format_perf({.label = "backup_age", .value = 12.3456, .uom = "s", .crit = Range::above(93600), .min = 0}) ==
        "'backup_age'=12.346s;;93600;0");
  CHECK(format_perf({.label = "redis_evicted_keys", .value = 0, .uom = "c"}) == "'redis_evicted_keys'=0c");
  CHECK(format_perf({.label = "replicas", .value = 1, .warn = Range::below(2), .crit = Range::below(1)}) == "'replicas'=1;2:;1:");
  // '=' and a single quote cannot appear in a label.
  CHECK(format_perf({.label = "a=b'c", .value = 1}) == "'a_b_c'=1");
  // No exponent, however large.
  CHECK(format_perf({.label = "bytes", .value = 1099511627776.0, .uom = "B"}) == "'bytes'=1099511627776B");
}

TEST_CASE("capacity perfdata: the status line carries every check's perfdata, also with -q, and parses back")
{
  CheckReport r;
  r.checks.push_back(check_with("connections", Status::ok,
                                {{.label = "connections", .value = 6, .warn = Range::above(160), .crit = Range::above(180),
                                  .min = 0, .max = 200},
                                 {.label = "connections_pct", .value = 3, .uom = "%", .warn = Range::above(80),
                                  .crit = Range::above(90), .min = 0, .max = 100}}));
  r.checks.push_back(check_with("replication_lag", Status::warning,
                                {{.label = "replication_lag 127.0.0.1:15433", .value = 20971520, .uom = "B",
                                  .warn = Range::above(16777216), .crit = Range::above(268435456), .min = 0},
                                 {.label = "replication_delay 127.0.0.1:15433", .value = 1.5, .uom = "s",
                                  .warn = Range::above(30), .crit = Range::above(300), .min = 0}}));
  r.checks.back().target = "127.0.0.1:15433";
  r.checks.push_back(check_with("redis_memory", Status::unknown, {}));

  for (bool quiet : {false, true}) {
    CAPTURE(quiet);
    std::string text = to_text(r, quiet);
    CHECK(util::starts_with(text, "CAPACITY UNKNOWN: 0 critical, 1 warning, 1 unknown, 1 ok | 'connections'=6;160;180;0;200 "));
    auto items = parse_perfdata(text);
    REQUIRE(items.size() == 4);
    CHECK(items[0].label == "connections");
    CHECK(items[0].value == "6");
    CHECK(items[0].warn == "160");
    CHECK(items[0].crit == "180");
    CHECK(items[0].min == "0");
    CHECK(items[0].max == "200");
    CHECK(items[1].uom == "%");
    CHECK(items[2].label == "replication_lag 127.0.0.1:15433");
    CHECK(items[2].value == "20971520");
    CHECK(items[2].uom == "B");
    CHECK(items[3].value == "1.5");
    CHECK(items[3].uom == "s");
    // Only the first line holds a '|'.
    CHECK(text.find('|', text.find('\n')) == std::string::npos);
  }
  CHECK(perfdata(r) == "'connections'=6;160;180;0;200 'connections_pct'=3%;80;90;0;100 "
                       "'replication_lag 127.0.0.1:15433'=20971520B;16777216;268435456;0 "
                       "'replication_delay 127.0.0.1:15433'=1.5s;30;300;0");
}

TEST_CASE("capacity perfdata: a '|' in a value cannot start the perfdata early")
{
  CheckReport r;
  r.checks.push_back(check_with("archive_failure", Status::critical, {}));
  r.checks.back().message = "archive_command failed: a | b";
  std::string text = to_text(r, false);
  CHECK(text.find('|') == std::string::npos);
  CHECK(text.find("a / b") != std::string::npos);
}

TEST_CASE("capacity prometheus: states and measurements as text exposition")
{
  CheckReport r;
  r.checks.push_back(check_with("connections", Status::warning,
                                {{.label = "connections", .value = 6, .min = 0, .max = 200, .metric = "postgres_connections",
                                  .help = "Client backends connected to PostgreSQL."},
                                 {.label = "connections_pct", .value = 3, .uom = "%"}}));
  r.checks.push_back(check_with("redis_evictions", Status::ok,
                                {{.label = "redis_evicted_keys", .value = 2, .uom = "c", .metric = "redis_evicted_keys_total",
                                  .help = "Keys Redis evicted."}}));
  r.checks.back().target = "127.0.0.1:6379";
  r.checks.back().component = "redis";
  CHECK(to_prometheus(r, 1700000000.5) ==
        "# HELP statectl_capacity_check_status State of a statectl capacity check: 0 OK, 1 WARNING, 2 CRITICAL, 3 "
        "UNKNOWN (Nagios plugin codes).\n"
        "# TYPE statectl_capacity_check_status gauge\n"
        "statectl_capacity_check_status{check=\"connections\",component=\"postgres\",target=\"127.0.0.1:15432\"} 1\n"
        "statectl_capacity_check_status{check=\"redis_evictions\",component=\"redis\",target=\"127.0.0.1:6379\"} 0\n"
        "# HELP statectl_postgres_connections Client backends connected to PostgreSQL.\n"
        "# TYPE statectl_postgres_connections gauge\n"
        "statectl_postgres_connections{target=\"127.0.0.1:15432\"} 6\n"
        "# HELP statectl_redis_evicted_keys_total Keys Redis evicted.\n"
        "# TYPE statectl_redis_evicted_keys_total counter\n"
        "statectl_redis_evicted_keys_total{target=\"127.0.0.1:6379\"} 2\n"
        "# HELP statectl_capacity_check_timestamp_seconds Unix time at which statectl capacity check ran.\n"
        "# TYPE statectl_capacity_check_timestamp_seconds gauge\n"
        "statectl_capacity_check_timestamp_seconds 1700000000.5\n");
}

TEST_CASE("prometheus writer: escaping and numbers")
{
  output::PromWriter w;
  w.add("x_bytes", "gauge", "a \\ b\nc", {{"path", "C:\\dir \"q\"\n"}}, 1.25);
  CHECK(w.render() == "# HELP x_bytes a \\\\ b\\nc\n# TYPE x_bytes gauge\nx_bytes{path=\"C:\\\\dir \\\"q\\\"\\n\"} 1.25\n");
  CHECK(output::prom_number(3) == "3");
  CHECK(output::prom_number(0.1) == "0.1");
  CHECK(output::prom_number(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(output::PromWriter().render().empty());
}

#include <doctest/doctest.h>

#include "core/util/strings.h"

using namespace statectl::util;

TEST_CASE("strings: durations")
{
  CHECK(parse_duration("300ms")->count() == 300);
  CHECK(parse_duration("30s")->count() == 30'000);
  CHECK(parse_duration("5m")->count() == 300'000);
  CHECK(parse_duration("1h")->count() == 3'600'000);
  CHECK(parse_duration("1h30m")->count() == 5'400'000);
  CHECK(parse_duration("2")->count() == 2000);
  CHECK(parse_duration("1.5s")->count() == 1500);
  CHECK(parse_duration("5x").error() == "invalid duration '5x': unknown unit 'x' (use ms, s, m, h, d)");
  CHECK(parse_duration("").error() == "empty duration");
  CHECK(parse_duration("s").error() == "invalid duration 's' (use e.g. 300ms, 30s, 5m, 1h)");
  CHECK(parse_duration("36500d")->count() == 3'153'600'000'000);
  CHECK(parse_duration("2562048h").error() == "duration '2562048h' is too large (at most 36500d, about 100 years)");
  CHECK(parse_duration("876001h").error() == "duration '876001h' is too large (at most 36500d, about 100 years)");
  CHECK(format_duration(std::chrono::milliseconds(5'400'000)) == "1h30m");
  CHECK(format_duration(std::chrono::milliseconds(250)) == "250ms");
  CHECK(format_duration(std::chrono::milliseconds(30'000)) == "30s");
}

TEST_CASE("strings: sizes")
{
  CHECK(*parse_size("4gb") == 4ull << 30);
  CHECK(*parse_size("256MB") == 256ull << 20);
  CHECK(*parse_size("1MiB") == 1ull << 20);
  CHECK(*parse_size("20Gi") == 20ull << 30);
  CHECK(*parse_size("512") == 512);
  CHECK(parse_size("4 parsecs").error() == "invalid size '4 parsecs': unknown unit 'parsecs' (use B, KB, MB, GB, TB)");
  CHECK(format_size(512) == "512 B");
  CHECK(format_size(1536) == "1.5 KiB");
}

TEST_CASE("strings: did-you-mean")
{
  std::vector<std::string> cmds = {"config", "completion", "deploy", "destroy", "status"};
  CHECK(closest_match("confg", cmds) == "config");
  CHECK(closest_match("statsu", cmds) == "status");
  CHECK_FALSE(closest_match("xyzzy", cmds).has_value());
  CHECK(levenshtein("kitten", "sitting") == 3);
}

TEST_CASE("strings: split, join, trim, quote")
{
  CHECK(split("a,,b", ',') == std::vector<std::string>{"a", "", "b"});
  CHECK(join({"a", "b"}, ", ") == "a, b");
  CHECK(trim("  x y \n") == "x y");
  CHECK(shell_quote("plain/path-1.txt") == "plain/path-1.txt");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("") == "''");
}

#include <doctest/doctest.h>

#include "core/error.h"
#include "core/state/batch.h"
#include "core/state/common.h"
#include "core/state/redis.h"
#include "tests/support/temp_dir.h"

#include <fstream>
#include <sys/stat.h>
#include <thread>

using namespace statectl;

namespace {

std::string error_of(const std::function<void()>& f)
{
  try {
    f();
  } catch (const Error& e) {
    return std::to_string(static_cast<int>(e.code())) + " " + e.message();
  }
  return "no error";
}

} // namespace

TEST_CASE("parse_batch reads key<TAB>value lines, the value being the rest of the line")
{
  state::Settings s;
  auto items = state::parse_batch("a\t1\n\nb\tx\ty\nc\t\n", state::BatchFormat::tsv, s);
  REQUIRE(items.size() == 3);
  CHECK(items[0].key == "a");
  CHECK(items[0].value == "1");
  CHECK(items[1].value == "x\ty");
  CHECK(items[2].value.empty());
}

TEST_CASE("parse_batch names the first malformed line")
{
  state::Settings s;
  CHECK(error_of([&] { state::parse_batch("a\t1\nbroken\n", state::BatchFormat::tsv, s); }) ==
        "2 invalid batch input: line 2: expected key<TAB>value, found no tab");
  CHECK(error_of([&] { state::parse_batch("\tv\n", state::BatchFormat::tsv, s); }) == "2 invalid batch input: line 1: empty key");
  s.max_value_size = 3;
  CHECK(error_of([&] { state::parse_batch("k\t1234\n", state::BatchFormat::tsv, s); }) ==
        "2 invalid batch input: line 1: value of 4 bytes is over [state] max_value_size 3 B");
}

TEST_CASE("parse_batch reads ndjson with value_b64, ttl and metadata")
{
  state::Settings s;
  auto items = state::parse_batch(R"({"key":"k","value_b64":"AAEC","ttl":"1m","metadata":{"a":1}})"
                                  "\n"
                                  R"({"key":"n","value":"v","ttl":2})",
                                  state::BatchFormat::ndjson, s);
  REQUIRE(items.size() == 2);
  CHECK(items[0].value == std::string("\0\1\2", 3));
  CHECK(items[0].ttl == state::Millis(60000));
  CHECK(items[0].metadata == R"({"a":1})");
  CHECK(items[1].ttl == state::Millis(2000));
  CHECK(error_of([&] { state::parse_batch(R"({"key":"k","value":"v","value_b64":"AA=="})", state::BatchFormat::ndjson, s); }) ==
        R"(2 invalid batch input: line 1: exactly one of "value" and "value_b64" is required)");
  CHECK(error_of([&] { state::parse_batch(R"({"key":"k","value":"v","metadata":[1]})", state::BatchFormat::ndjson, s); }) ==
        "2 invalid batch input: line 1: metadata must be a JSON object");
  CHECK(error_of([&] { state::parse_batch("{oops", state::BatchFormat::ndjson, s); }) == "2 invalid batch input: line 1: not valid JSON");
}

TEST_CASE("metadata and ttl validation")
{
  CHECK(state::normalize_metadata(R"({ "a" : [1, 2] })") == R"({"a":[1,2]})");
  CHECK(error_of([] { state::normalize_metadata("{"); }) == "2 invalid --metadata: not valid JSON");
  CHECK(error_of([] { state::normalize_metadata(R"({"a":"\u0000"})"); }) == "2 invalid --metadata: metadata must not contain \\u0000");
  CHECK(state::parse_ttl("300ms") == state::Millis(300));
  CHECK(state::parse_ttl("5m") == state::Millis(300000));
  CHECK(error_of([] { state::parse_ttl("0s"); }) == "2 invalid --ttl: ttl must be positive, got '0s'");
}

TEST_CASE("base64, text detection and glob escaping")
{
  std::string out;
  for (std::string s : {std::string(), std::string("f"), std::string("fo"), std::string("foo"), std::string("\0\xff\x10z", 4)}) {
    REQUIRE(state::from_base64(state::to_base64(s), out));
    CHECK(out == s);
  }
  CHECK(state::to_base64("foob") == "Zm9vYg==");
  CHECK_FALSE(state::from_base64("Zm9", out));
  CHECK(state::is_text("héllo"));
  CHECK_FALSE(state::is_text(std::string("a\0b", 3)));
  CHECK_FALSE(state::is_text("\xff"));
  CHECK(state::redis_glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\");
  CHECK(state::redis_internal_prefix("statectl:") == "statectl#statectl:");
  CHECK(state::format_time_ms(1700000000123) == "2023-11-14T22:13:20.123Z");
}

TEST_CASE("metadata nested deeper than k_max_metadata_depth is refused before it is parsed or printed")
{
  auto nested = [](std::size_t depth) {
    std::string text;
    for (std::size_t i = 1; i < depth; ++i) text += R"({"a":)";
    text += "{}";
    for (std::size_t i = 1; i < depth; ++i) text += "}";
    return text;
  };
  state::Settings s;
  // 100,000 levels crashed the recursive dump() (exit 139).
  CHECK(error_of([&] { state::parse_batch(R"({"key":"k","value":"v","metadata":)" + nested(100000) + "}", state::BatchFormat::ndjson, s); }) ==
        "2 invalid batch input: line 1: metadata is nested more than 128 levels deep");
  CHECK(error_of([&] { state::normalize_metadata(nested(100000)); }) == "2 invalid --metadata: metadata is nested more than 128 levels deep");
  CHECK(error_of([&] { state::normalize_metadata(nested(129)); }) == "2 invalid --metadata: metadata is nested more than 128 levels deep");
  // Brackets inside strings do not count; exactly the limit is accepted.
  CHECK(state::normalize_metadata(R"({"a":"[[[[{{{{\"[["})") == R"({"a":"[[[[{{{{\"[["})");
  CHECK(state::normalize_metadata(nested(128)).size() == nested(128).size());
  auto items = state::parse_batch(R"({"key":"k","value":"v","metadata":)" + nested(128) + "}", state::BatchFormat::ndjson, s);
  REQUIRE(items.size() == 1);
  CHECK(items[0].metadata == nested(128));
}

TEST_CASE("keys longer than k_max_key_size are refused on every backend")
{
  CHECK(error_of([] { state::check_key(std::string(state::k_max_key_size, 'k')); }) == "no error");
  CHECK(error_of([] { state::check_key(std::string(state::k_max_key_size + 1, 'k')); }) ==
        "2 invalid key: a key is at most 1024 bytes, this one has 1025");
  state::Settings s;
  CHECK(error_of([&] { state::parse_batch(std::string(3000, 'k').append("\tv\n"), state::BatchFormat::tsv, s); }) ==
        "2 invalid batch input: line 1: a key is at most 1024 bytes, this one has 3000");
}

TEST_CASE("BatchReader streams a file line by line, across its read chunks, and reads it again after rewind")
{
  testing::TempDir tmp("statectl-unit-batch");
  auto path = (tmp.path() / "b.tsv").string();
  // A 3 MiB value makes a line longer than the 1 MiB read buffer; the last line has no line break.
  std::string big(3u << 20, 'v');
  {
    std::ofstream f(path, std::ios::binary);
    f << "a\t1\r\n\nb\tx\ty\n" << "c\t" << big << "\n";
    for (int i = 0; i < 50000; ++i) f << "k" << i << "\tvalue-" << i << "\n";
    f << "last\tend";
  }
  state::Settings s;
  state::BatchReader r(path, state::BatchFormat::tsv, s);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<state::BatchItem> items;
    for (state::BatchItem it; r.next(it);) items.push_back(std::move(it));
    REQUIRE(items.size() == 50004);
    CHECK(items[0].value == "1");
    CHECK(items[1].value == "x\ty");
    CHECK(items[2].value == big);
    CHECK(items[3].key == "k0");
    CHECK(items[50002].value == "value-49999");
    CHECK(items[50003].key == "last");
    CHECK(items[50003].value == "end");
    CHECK(r.line() == 50005);
    REQUIRE(r.rewind());
  }
}

TEST_CASE("BatchReader names the malformed line when it reaches it, and refuses a directory")
{
  testing::TempDir tmp("statectl-unit-batch");
  auto path = (tmp.path() / "bad.ndjson").string();
  std::ofstream(path) << "{\"key\":\"a\",\"value\":\"1\"}\n{oops\n";
  state::Settings s;
  state::BatchReader r(path, state::BatchFormat::ndjson, s);
  state::BatchItem it;
  CHECK(r.next(it));
  CHECK(error_of([&] { r.next(it); }) == "2 invalid batch input: line 2: not valid JSON");
  CHECK(error_of([&] { state::BatchReader d(tmp.path().string(), state::BatchFormat::tsv, s); }) ==
        "2 cannot read " + tmp.path().string() + ": it is a directory");
}

TEST_CASE("BatchReader::prescan validates every line first and counts them; a FIFO is copied aside and read again")
{
  testing::TempDir tmp("statectl-unit-batch");
  state::Settings s;
  auto path = (tmp.path() / "b.tsv").string();
  std::ofstream(path) << "a\t1\n\nb\t2\nc\t3";
  state::BatchReader r(path, state::BatchFormat::tsv, s);
  CHECK(r.prescan() == 3);
  state::BatchItem it;
  REQUIRE(r.next(it));
  CHECK(it.key == "a");

  // A bad last line is found before anything is handed out.
  auto bad = (tmp.path() / "bad.tsv").string();
  std::ofstream(bad) << "a\t1\nb\t2\nbroken\n";
  state::BatchReader rb(bad, state::BatchFormat::tsv, s);
  CHECK(error_of([&] { rb.prescan(); }) == "2 invalid batch input: line 3: expected key<TAB>value, found no tab");

  // A FIFO cannot be read twice: prescan() keeps its bytes in an unlinked file and reads that.
  auto fifo = (tmp.path() / "in.fifo").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string lines;
  for (int i = 0; i < 300000; ++i) lines += "k" + std::to_string(i) + "\tvalue-" + std::to_string(i) + "\n"; // over the 1 MiB chunk
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << lines; });
  state::BatchReader rf(fifo, state::BatchFormat::tsv, s);
  CHECK(rf.prescan() == 300000);
  writer.join();
  std::size_t n = 0;
  std::string last;
  for (state::BatchItem item; rf.next(item); ++n) last = item.value;
  CHECK(n == 300000);
  CHECK(last == "value-299999");
  CHECK(rf.line() == 300000);
}

// KeyListWriter: `keys` streamed row by row prints exactly what the printer prints for the same
// document held whole, and an error half-way keeps stdout one JSON document.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/output/printer.h"
#include "core/state/results.h"

using namespace statectl;

namespace {

std::vector<state::KeyInfo> sample()
{
  state::KeyInfo a;
  a.key = "app/a";
  a.size = 3;
  state::KeyInfo b;
  b.key = std::string("bin\x01\xff", 5);
  b.size = 10;
  b.ttl = state::Millis(1500);
  b.updated_at_ms = 1700000000123;
  return {a, b};
}

std::string stream(output::Format format, const std::vector<state::KeyInfo>& rows)
{
  std::ostringstream out, err;
  output::Printer p(out, err, format, output::Verbosity::normal, false);
  state::KeyListWriter w(p);
  for (const auto& r : rows) w.row(r);
  w.finish();
  return out.str();
}

} // namespace

TEST_CASE("keys: the streamed JSON document is the one the printer lays out for the whole list")
{
  for (const auto& rows : {std::vector<state::KeyInfo>{}, sample()}) {
    std::string got = stream(output::Format::json, rows);
    nlohmann::json doc = nlohmann::json::parse(got); // one document, nothing after it
    CHECK(got == doc.dump(2) + "\n");
    REQUIRE(doc["keys"].size() == rows.size());
  }
  auto doc = nlohmann::json::parse(stream(output::Format::json, sample()));
  CHECK(doc["keys"][0] == nlohmann::json{{"key", "app/a"}, {"size", 3}, {"ttl", nullptr}, {"updated_at", nullptr}});
  CHECK(doc["keys"][1]["key_b64"] == "YmluAf8=");
  CHECK(doc["keys"][1]["ttl"] == 1.5);
  CHECK(doc["keys"][1]["updated_at"].is_string());
}

TEST_CASE("keys: text is one key per line")
{
  CHECK(stream(output::Format::text, {}) == "");
  CHECK(stream(output::Format::text, sample()) == "app/a\n" + std::string("bin\x01\xff", 5) + "\n");
}

TEST_CASE("keys: an error after some rows closes the JSON document with the error and prints no second one")
{
  for (int rows : {0, 2}) {
    std::ostringstream out, err;
    output::Printer p(out, err, output::Format::json, output::Verbosity::normal, false);
    {
      state::KeyListWriter w(p);
      auto all = sample();
      for (int i = 0; i < rows; ++i) w.row(all[static_cast<std::size_t>(i)]);
      p.error(Error(ExitCode::unavailable, "connection lost"));
    }
    CAPTURE(out.str());
    auto doc = nlohmann::json::parse(out.str());
    CHECK(doc["keys"].size() == static_cast<std::size_t>(rows));
    CHECK(doc["error"]["message"] == "connection lost");
    CHECK(doc["error"]["code"] == static_cast<int>(ExitCode::unavailable));
    CHECK(err.str() == "statectl: error: connection lost\n");
  }
}

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "core/exec/redact.h"
#include "core/output/printer.h"

using namespace statectl;
using namespace statectl::output;

TEST_CASE("printer: tables are aligned, two spaces apart, no trailing blanks")
{
  Table t{{"NAME", "ROLE", "PORT"}, {{"pg-0", "primary", "15432"}, {"pgbouncer", "pooler", ""}}};
  CHECK(t.render() ==
        "NAME       ROLE     PORT\n"
        "pg-0       primary  15432\n"
        "pgbouncer  pooler\n");
}

TEST_CASE("printer: errors print as statectl: error with a hint, and as JSON under -o json")
{
  std::ostringstream out, err;
  Printer p(out, err, Format::json, Verbosity::normal, false);
  p.error(Error(ExitCode::unavailable, "cannot connect to 127.0.0.1:6432", "connection refused", "run 'statectl deploy'"));
  CHECK(err.str() == "statectl: error: cannot connect to 127.0.0.1:6432: connection refused\nhint: run 'statectl deploy'\n");
  auto j = nlohmann::json::parse(out.str());
  CHECK(j["error"]["code"] == 3);
  CHECK(j["error"]["message"] == "cannot connect to 127.0.0.1:6432: connection refused");
  CHECK(j["error"]["hint"] == "run 'statectl deploy'");
}

TEST_CASE("printer: text errors do not touch stdout")
{
  std::ostringstream out, err;
  Printer p(out, err, Format::text, Verbosity::normal, false);
  p.error(Error(ExitCode::usage, "bad"));
  CHECK(out.str().empty());
  CHECK(err.str() == "statectl: error: bad\n");
}

TEST_CASE("printer: results go to stdout as JSON or text")
{
  std::ostringstream out, err;
  Printer json(out, err, Format::json, Verbosity::normal, false);
  json.result({{"a", 1}}, [] { return std::string("text\n"); });
  CHECK(out.str() == "{\n  \"a\": 1\n}\n");
  std::ostringstream out2;
  Printer text(out2, err, Format::text, Verbosity::normal, false);
  text.result({{"a", 1}}, [] { return std::string("text\n"); });
  CHECK(out2.str() == "text\n");
  CHECK(err.str().empty());
}

TEST_CASE("printer: quiet silences info, verbose shows detail, secrets are redacted")
{
  exec::clear_secrets();
  exec::register_secret("s3cr3t-value");
  std::ostringstream out, err;
  Printer quiet(out, err, Format::text, Verbosity::quiet, false);
  quiet.info("hello");
  quiet.detail("detail");
  CHECK(err.str().empty());
  Printer verbose(out, err, Format::text, Verbosity::verbose, false);
  verbose.info("password is s3cr3t-value");
  verbose.detail("+ psql");
  CHECK(err.str() == "password is ****\n+ psql\n");
  exec::clear_secrets();
}

TEST_CASE("printer: colour only when enabled")
{
  std::ostringstream out, err;
  Printer plain(out, err, Format::text, Verbosity::normal, false);
  CHECK(plain.paint("ok", Color::green) == "ok");
  Printer color(out, err, Format::text, Verbosity::normal, true);
  CHECK(color.paint("ok", Color::green) == "\033[32mok\033[0m");
}

TEST_CASE("printer: progress draws nothing off a TTY")
{
  std::ostringstream out, err;
  Printer p(out, err, Format::text, Verbosity::normal, false);
  {
    Progress prog(p, "backup", 100, false);
    prog.update(50);
    prog.finish();
  }
  CHECK(err.str().empty());
  {
    Progress prog(p, "backup", 100, true);
    prog.update(50);
  }
  CHECK(err.str().find("backup [###############...............]  50%") != std::string::npos);
}

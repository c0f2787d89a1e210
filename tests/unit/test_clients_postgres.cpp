#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "core/clients/postgres.h"
#include "core/error.h"
#include "core/stack/endpoints.h"

using namespace statectl;
using clients::PgFailure;
using clients::PgFailureKind;

namespace {

std::string joined(const clients::PgParams& p)
{
  std::string out;
  for (const auto& [k, v] : p.keywords()) out += k + "=" + v + ";";
  return out;
}

} // namespace

TEST_CASE("clients postgres: parameters of an endpoint, the password only in the parameter arrays")
{
  stack::PgEndpoint ep;
  ep.host = "127.0.0.1";
  ep.port = 15432;
  ep.user = "postgres";
  ep.database = "app";
  auto p = clients::PgParams::from(ep);
  p.password = "s3cret-Passw0rd";
  p.connect_timeout_s = 3;
  p.application_name = "statectl";
  CHECK(joined(p) == "host=127.0.0.1;port=15432;user=postgres;dbname=app;password=s3cret-Passw0rd;connect_timeout=3;"
                     "application_name=statectl;");
  CHECK(p.loggable_conninfo() == "host='127.0.0.1' port='15432' user='postgres' dbname='app' connect_timeout='3' "
                                 "application_name='statectl'");
  CHECK(p.loggable_conninfo().find("s3cret") == std::string::npos);
  CHECK(p.display() == "127.0.0.1:15432");

  p.dbname_override = "pgbouncer";
  p.tls.sslmode = "verify-full";
  p.tls.sslrootcert = "/etc/ca.pem";
  CHECK(joined(p) == "host=127.0.0.1;port=15432;user=postgres;dbname=pgbouncer;password=s3cret-Passw0rd;connect_timeout=3;"
                     "application_name=statectl;sslmode=verify-full;sslrootcert=/etc/ca.pem;");
}

TEST_CASE("clients postgres: an endpoint with TLS verifies the server (verify-full with its CA), one without keeps libpq's default")
{
  stack::PgEndpoint ep;
  ep.port = 16432;
  CHECK(clients::PgParams::from(ep).tls.sslmode.empty());
  ep.tls = {true, "/state/tls/ca.crt", ""};
  auto p = clients::PgParams::from(ep);
  CHECK(p.tls.sslmode == "verify-full");
  CHECK(p.tls.sslrootcert == "/state/tls/ca.crt");
  CHECK(clients::pg_tls(clients::ClientTls{}).sslmode == "disable");
}

TEST_CASE("clients postgres: a URL is expanded by libpq, later keywords override it, its password never shows")
{
  clients::PgParams p;
  p.url = "postgresql://app:urlSecret99@db.example:5432/app";
  p.dbname_override = "pgbouncer";
  p.application_name = "statectl capacity";
  CHECK(joined(p) == "dbname=postgresql://app:urlSecret99@db.example:5432/app;dbname=pgbouncer;application_name=statectl capacity;");
  CHECK(p.display() == "postgresql://app:****@db.example:5432/app");
  CHECK(p.loggable_conninfo().find("urlSecret99") == std::string::npos);
  CHECK(p.loggable_conninfo() == "dbname='postgresql://app:****@db.example:5432/app' dbname='pgbouncer' "
                                 "application_name='statectl capacity'");
}

TEST_CASE("clients postgres: connect_timeout is whole seconds rounded up, with a minimum")
{
  using std::chrono::milliseconds;
  CHECK(clients::timeout_seconds(milliseconds(10000)) == 10);
  CHECK(clients::timeout_seconds(milliseconds(2500)) == 3);
  CHECK(clients::timeout_seconds(milliseconds(500)) == 2);
  CHECK(clients::timeout_seconds(milliseconds(500), 1) == 1);
}

TEST_CASE("clients postgres: failures map to exit codes in one place")
{
  CHECK(clients::classify_connect_error("connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication "
                                        "failed for user \"postgres\"") == PgFailureKind::auth);
  CHECK(clients::classify_connect_error("connection to server at \"127.0.0.1\", port 5432 failed: fe_sendauth: no password supplied") ==
        PgFailureKind::auth);
  CHECK(clients::classify_connect_error("connection to server at \"127.0.0.1\", port 1 failed: Connection refused") ==
        PgFailureKind::connect);

  CHECK(clients::exit_code(PgFailure{PgFailureKind::connect, "", "refused"}) == ExitCode::unavailable);
  CHECK(clients::exit_code(PgFailure{PgFailureKind::timeout, "57014", "canceled"}) == ExitCode::unavailable);
  CHECK(clients::exit_code(PgFailure{PgFailureKind::broken, "", "lost"}) == ExitCode::unavailable);
  CHECK(clients::exit_code(PgFailure{PgFailureKind::in_doubt, "", "lost"}) == ExitCode::unavailable);
  CHECK(clients::exit_code(PgFailure{PgFailureKind::sql, "42601", "syntax"}) == ExitCode::failed);
  CHECK(clients::exit_code(PgFailure{PgFailureKind::sql, "42601", "syntax"}, ExitCode::external) == ExitCode::external);

  Error refused = clients::to_error(PgFailure{PgFailureKind::connect, "", "Connection refused"}, "cannot connect to PostgreSQL at h:1",
                                    "start the stack");
  CHECK(refused.code() == ExitCode::unavailable);
  CHECK(refused.message() == "cannot connect to PostgreSQL at h:1: Connection refused");
  CHECK(refused.hint() == "start the stack");
  Error auth = clients::to_error(PgFailure{PgFailureKind::auth, "", "password authentication failed"}, "cannot connect", "start the stack");
  CHECK(auth.code() == ExitCode::unavailable);
  CHECK(auth.hint().find("password") != std::string::npos);
  Error sql = clients::to_error(PgFailure{PgFailureKind::sql, "23505", "duplicate key"}, "ALTER ROLE app failed", "", ExitCode::external);
  CHECK(sql.code() == ExitCode::external);
}

TEST_CASE("clients postgres: a refused connection is PgError(connect), also with a deadline")
{
  clients::PgParams p;
  p.port = 1; // nothing listens on port 1 of the loopback
  p.user = "nobody";
  p.database = "none";
  p.password = "neverShown123";
  p.connect_timeout_s = 2;
  try {
    (void)clients::PgConnection::connect(p);
    FAIL("connected to port 1");
  } catch (const clients::PgError& e) {
    CHECK(e.kind() == PgFailureKind::connect);
    CHECK(std::string(e.what()).find("neverShown123") == std::string::npos);
    CHECK(clients::exit_code(e.failure()) == ExitCode::unavailable);
  }
  try {
    (void)clients::PgConnection::connect_until(p, std::chrono::steady_clock::now() + std::chrono::seconds(2));
    FAIL("connected to port 1");
  } catch (const clients::PgError& e) {
    CHECK(e.kind() == PgFailureKind::connect);
  }
}

TEST_CASE("clients postgres: result values convert like the call sites read them")
{
  CHECK(clients::PgField("42", 2, false).as<long long>() == 42);
  CHECK(clients::PgField("-7", 2, false).as<int>() == -7);
  CHECK(clients::PgField("18446744073709551615", 20, false).as<unsigned long long>() == 18446744073709551615ULL);
  CHECK(clients::PgField("t", 1, false).as<bool>());
  CHECK_FALSE(clients::PgField("f", 1, false).as<bool>());
  CHECK(clients::PgField("1.5", 3, false).as<double>() == doctest::Approx(1.5));
  CHECK(clients::PgField("abc", 3, false).as<std::string>() == "abc");
  CHECK(clients::PgField("", 0, true).is_null());
  CHECK_THROWS_AS(clients::PgField("", 0, true).as<long long>(), clients::PgError);
  CHECK_THROWS_AS(clients::PgField("12x", 3, false).as<long long>(), clients::PgError);
  // bytea in hex output format, NUL bytes included.
  CHECK(clients::PgField("\\x410042", 8, false).bytes() == std::string("A\0B", 3));
}

TEST_CASE("clients postgres: COPY text fields are escaped, binary parameters kept as bytes")
{
  std::string out;
  clients::PgCopyWriter::escape("a\tb\nc\\d\re", out);
  CHECK(out == "a\\tb\\nc\\\\d\\re");
  auto b = clients::PgParam::binary(std::string("x\0y", 3));
  CHECK(b.is_binary());
  CHECK(b.value() == std::string("x\0y", 3));
  clients::PgParam n(nullptr);
  CHECK(n.is_null());
  CHECK(clients::PgParam(static_cast<long long>(5)).value() == "5");
}

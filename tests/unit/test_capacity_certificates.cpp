// capacity check's certificate_expiry: the days left of the store's tls.crt / ca.crt.
#include <doctest/doctest.h>

#include "core/capacity/check.h"
#include "core/config/config.h"
#include "core/secrets/manage.h"
#include "core/secrets/store.h"
#include "core/secrets/tls.h"
#include "tests/support/temp_dir.h"

using namespace statectl;
using namespace statectl::capacity;

namespace {

config::Config make_config(const std::filesystem::path& dir, bool tls, const std::string& extra = "")
{
  return config::Config::from_string("[local]\ndir = \"" + dir.string() + "\"\n[tls]\nenabled = " + (tls ? "true" : "false") + "\n" + extra,
                                     "test.toml");
}

std::vector<CheckResult> run(const config::Config& cfg)
{
  std::vector<CheckResult> out;
  check_certificates(cfg, thresholds_from_config(cfg), out);
  return out;
}

void issue(const config::Config& cfg, int days)
{
  secrets::Store store(cfg);
  secrets::tls::Request req;
  req.cn = "statectl";
  req.sans = {"127.0.0.1"};
  req.days = days;
  secrets::issue_tls(store, req, false);
}

} // namespace

TEST_CASE("capacity check certificate_expiry: left out without certificates and TLS, CRITICAL when [tls] has none")
{
  testing::TempDir t("statectl-unit-certs");
  CHECK(run(make_config(t.path(), false)).empty());
  auto out = run(make_config(t.path(), true));
  REQUIRE(out.size() == 1);
  CHECK(out[0].name == "certificate_expiry");
  CHECK(out[0].status == Status::critical);
  CHECK(out[0].value == "no certificate");
}

TEST_CASE("capacity check certificate_expiry: a missing certificate is CRITICAL on compose and k8s renders with TLS, not on terraform")
{
  testing::TempDir t("statectl-unit-certs-targets");
  for (const char* target : {"compose", "k8s"}) {
    CAPTURE(target);
    auto out = run(make_config(t.path(), true, std::string("[project]\ntarget = \"") + target + "\"\n"));
    REQUIRE(out.size() == 1);
    CHECK(out[0].status == Status::critical);
    CHECK(run(make_config(t.path(), false, std::string("[project]\ntarget = \"") + target + "\"\n")).empty());
  }
  CHECK(run(make_config(t.path(), true, "[project]\ntarget = \"terraform\"\n")).empty());
}

TEST_CASE("capacity check certificate_expiry: OK beyond 30 days, WARNING within 30, CRITICAL within 7")
{
  testing::TempDir t("statectl-unit-certs");
  auto cfg = make_config(t.path(), false);
  issue(cfg, 90);
  auto out = run(cfg);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status == Status::ok);
  CHECK(out[0].metrics["tls.crt_days_left"].get<long>() >= 89);
  CHECK(out[0].metrics["ca.crt_days_left"].get<long>() > 3000);
  REQUIRE(out[0].perf.size() == 1);
  CHECK(format_perf(out[0].perf[0]).rfind("'certificate_days_left'=", 0) == 0);

  issue(cfg, 20);
  out = run(cfg);
  CHECK(out[0].status == Status::warning);
  CHECK(out[0].value.rfind("tls.crt (expires ", 0) == 0);
  CHECK(out[0].message.find("secrets rotate tls.crt") != std::string::npos);

  issue(cfg, 3);
  CHECK(run(cfg)[0].status == Status::critical);
}

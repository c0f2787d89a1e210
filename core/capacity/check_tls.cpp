// The certificate expiry check of `capacity check`: the stack's TLS certificates in the secret
// store (tls.crt, which every server presents, and the CA that signed it).
#include <fmt/format.h>

#include "core/capacity/check.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/render/render.h"
#include "core/secrets/store.h"
#include "core/secrets/tls.h"

namespace statectl::capacity {

namespace {

// Whether the deployed stack of [project] target presents the secret store's certificate: the
// local stack with [tls] enabled, and the compose and k8s renders that speak TLS.
bool uses_store_certificate(const config::Config& cfg)
{
  const auto& target = config::settings(cfg).project.target;
  if (target == "local") return config::settings(cfg).tls.enabled;
  if (target == "compose") return render::tls_rendered(cfg, render::request_for(cfg, render::Target::compose));
  if (target == "k8s") return render::tls_rendered(cfg, render::request_for(cfg, render::Target::k8s));
  return false;
}

} // namespace

void check_certificates(const config::Config& cfg, const Thresholds& t, std::vector<CheckResult>& out)
{
  CheckResult r;
  r.name = "certificate_expiry";
  r.component = "tls";
  try {
    secrets::Store store(cfg);
    r.target = store.dir().string();
    std::optional<long> soonest;
    std::string which;
    for (const char* name : {secrets::k_tls_cert, secrets::k_ca_cert}) {
      auto pem = store.get(name);
      if (!pem) continue;
      auto info = secrets::tls::inspect(*pem);
      if (!info) throw Error(ExitCode::failed, fmt::format("cannot read {}", name), info.error());
      long days = secrets::tls::days_left(*info);
      r.metrics[std::string(name) + "_days_left"] = days;
      r.metrics[std::string(name) + "_not_after"] = info->not_after_iso;
      if (!soonest || days < *soonest) {
        soonest = days;
        which = fmt::format("{} (expires {})", name, info->not_after_iso);
      }
    }
    if (!soonest) {
      // Without TLS and without certificates there is nothing to watch: no check at all. The
      // stacks statectl deploys with TLS present the store's certificate; the cloud services of
      // terraform bring their own.
      if (!uses_store_certificate(cfg)) return;
      r.status = Status::critical;
      r.value = "no certificate";
      r.message = "[tls] enabled but the secret store has no tls.crt: run `statectl secrets tls` (or `statectl deploy`)";
      out.push_back(std::move(r));
      return;
    }
    r.value = fmt::format("{}: {} days left", which, *soonest);
    r.status = *soonest <= t.cert_crit_days ? Status::critical : *soonest <= t.cert_warn_days ? Status::warning : Status::ok;
    r.perf.push_back({.label = "certificate_days_left", .value = static_cast<double>(*soonest),
                      .warn = Range::below(static_cast<double>(t.cert_warn_days)),
                      .crit = Range::below(static_cast<double>(t.cert_crit_days))});
    if (r.status != Status::ok)
      r.message = fmt::format("renew with `statectl secrets rotate tls.crt` (a new CA: `secrets rotate ca.crt`) within {} days", *soonest);
  } catch (const std::exception& e) {
    r.status = Status::unknown;
    r.value = "certificates unreadable";
    r.message = e.what();
  }
  out.push_back(std::move(r));
}

} // namespace statectl::capacity

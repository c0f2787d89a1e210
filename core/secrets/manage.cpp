#include "core/secrets/manage.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fmt/format.h>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::secrets {

// Test hook: STATECTL_TEST_KILL_AT=<point> makes statectl SIGKILL itself there, so the tests
// can prove that a crash at that exact point is recovered from.
static void test_kill_point(const char* point)
{
  const char* at = std::getenv("STATECTL_TEST_KILL_AT");
  if (at && std::strcmp(at, point) == 0) ::raise(SIGKILL);
}

static bool is_tls_name(const std::string& name)
{
  return name == k_ca_cert || name == k_ca_key || name == k_tls_cert || name == k_tls_key || name == k_app_cert || name == k_app_key;
}

// The application role's client certificate issued by the CA (PEM) given, for role cn: 365 days,
// an EC P-256 key.
static tls::Material issue_app_material(const std::string& cn, const std::string& ca_cert, const std::string& ca_key)
{
  tls::Request req;
  req.cn = cn;
  req.client = true;
  return tls::issue(req, ca_cert, ca_key);
}

// The CN of the stored client certificate, empty when there is none (nothing to reissue).
static std::string app_cert_cn(const Store& store)
{
  auto cur = store.get(k_app_cert);
  if (!cur) return {};
  auto info = tls::inspect(*cur);
  return info ? info->subject_cn : std::string();
}

static void check_length(std::size_t length)
{
  if (length < k_min_length || length > k_max_length)
    throw Error(ExitCode::usage, fmt::format("invalid --length {}", length),
                fmt::format("a password must have between {} and {} characters", k_min_length, k_max_length));
}

std::vector<GenerateEntry> generate(Store& store, std::vector<std::string> names, std::size_t length, bool force, bool plan)
{
  check_length(length);
  if (names.empty()) names = stack_secret_names();
  for (const auto& n : names)
    if (is_tls_name(n))
      throw Error(ExitCode::usage, fmt::format("'{}' is TLS material, not a password", n), "", "use 'statectl secrets tls' to issue certificates");
  // Validate every name (and the store's readability) before writing anything.
  std::vector<bool> present;
  for (const auto& n : names) present.push_back(store.exists(n));
  std::vector<GenerateEntry> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& n = names[i];
    if (std::any_of(out.begin(), out.end(), [&](const GenerateEntry& e) { return e.name == n; })) continue;
    GenerateEntry e{n, present[i] ? (force ? "replaced" : "kept") : "generated", {}};
    if (!plan && e.action != "kept") {
      std::string value = generate_password(length);
      if (present[i]) e.backup = store.replace(n, value);
      else store.put(n, value);
    }
    out.push_back(std::move(e));
  }
  return out;
}

TlsResult issue_tls(Store& store, const tls::Request& request, bool plan)
{
  if (request.days < 1 || request.days > 3650)
    throw Error(ExitCode::usage, fmt::format("invalid --days {}", request.days), "a certificate lives between 1 and 3650 days");
  if (request.cn.empty() || request.cn.size() > 64)
    throw Error(ExitCode::usage, "invalid --cn", "a common name has 1 to 64 characters");
  bool have_cert = store.exists(k_ca_cert), have_key = store.exists(k_ca_key);
  if (have_cert != have_key)
    throw Error(ExitCode::usage, "cannot reuse the CA", fmt::format("{} has {} but not {}", store.dir().string(), have_cert ? k_ca_cert : k_ca_key,
                                                                    have_cert ? k_ca_key : k_ca_cert),
                "restore the missing file from .backup, or remove the other to create a new CA");
  tls::Material m = have_cert ? tls::issue(request, store.require(k_ca_cert), store.require(k_ca_key)) : tls::issue(request);
  TlsResult result;
  result.ca_created = m.ca_created;
  auto info = tls::inspect(m.cert);
  if (!info) throw Error(ExitCode::failed, "cannot read back the issued certificate", info.error());
  result.cert = *info;
  if (m.ca_created) result.written = {k_ca_cert, k_ca_key};
  result.written.push_back(k_tls_cert);
  result.written.push_back(k_tls_key);
  if (plan) return result;
  if (m.ca_created) {
    store.replace(k_ca_key, m.ca_key);
    store.replace(k_ca_cert, m.ca_cert);
  }
  store.replace(k_tls_key, m.key);
  store.replace(k_tls_cert, m.cert);
  // The application role's client certificate is reissued with it (same CA, same CN).
  if (std::string cn = app_cert_cn(store); !cn.empty()) {
    tls::Material a = issue_app_material(cn, m.ca_cert, m.ca_key);
    store.replace(k_app_key, a.key);
    store.replace(k_app_cert, a.cert);
    result.written.insert(result.written.end(), {k_app_cert, k_app_key});
  }
  return result;
}

bool issue_app_cert(Store& store, const std::string& role, bool plan)
{
  if (!store.exists(k_ca_cert) || !store.exists(k_ca_key)) return false;
  if (plan) return true;
  tls::Material a = issue_app_material(role, store.require(k_ca_cert), store.require(k_ca_key));
  store.replace(k_app_key, a.key);
  store.replace(k_app_cert, a.cert);
  return true;
}

std::optional<long> days_until(const std::string& iso_utc)
{
  std::tm tm{};
  const char* end = ::strptime(iso_utc.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0') return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(::timegm(&tm));
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(when - std::chrono::system_clock::now()).count();
  // Whole days left, rounded down (an expired certificate shows a negative number).
  return static_cast<long>(secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400));
}

std::vector<ListEntry> list(const Store& store)
{
  std::vector<ListEntry> out;
  for (const auto& name : store.names()) {
    ListEntry e{name, store.metadata(name), std::nullopt};
    if (!e.meta.expires.empty()) e.days_left = days_until(e.meta.expires);
    out.push_back(std::move(e));
  }
  return out;
}

RotateResult rotate(const config::Config& cfg, Store& store, const std::string& name, std::size_t length, bool plan, const ApplyFn& apply)
{
  (void)cfg;
  RotateResult result;
  result.name = name;
  result.planned = plan;
  if (!store.exists(name))
    throw Error(ExitCode::usage, fmt::format("secret '{}' not found in {}", name, store.dir().string()), "",
                is_tls_name(name) ? "run 'statectl secrets tls' to issue it" : fmt::format("run 'statectl secrets generate {}'", name));
  result.kind = store.metadata(name).kind;

  if (is_tls_name(name)) {
    if (apply) throw Error(ExitCode::usage, "--apply rotates passwords only", "", "restart or reload the servers after rotating TLS material");
    // Reissue with the same names and lifetime as the current server certificate.
    tls::Request req;
    if (auto cur = store.get(k_tls_cert)) {
      if (auto info = tls::inspect(*cur)) {
        req.cn = info->subject_cn;
        req.sans = info->dns_names;
        req.sans.insert(req.sans.end(), info->ip_addresses.begin(), info->ip_addresses.end());
        auto lifetime = std::chrono::duration_cast<std::chrono::hours>(info->not_after - info->not_before).count();
        req.days = static_cast<int>(std::clamp<long>(static_cast<long>((lifetime + 12) / 24), 1, 3650));
        if (auto kt = tls::parse_key_type(info->key_type)) req.key = *kt;
      }
    }
    if (req.cn.empty()) {
      req.cn = config::settings(cfg).project.name;
      req.sans = tls::default_sans(cfg);
    }
    bool new_ca = name == k_ca_cert || name == k_ca_key;
    tls::Material m = new_ca ? tls::issue(req) : tls::issue(req, store.require(k_ca_cert), store.require(k_ca_key));
    result.replaced = new_ca ? std::vector<std::string>{k_ca_cert, k_ca_key, k_tls_cert, k_tls_key} : std::vector<std::string>{k_tls_cert, k_tls_key};
    if (plan) return result;
    auto keep = [&](const char* n, const std::string& v) {
      auto b = store.replace(n, v);
      if (!b.empty()) result.backups.push_back(b);
    };
    if (new_ca) {
      keep(k_ca_key, m.ca_key);
      keep(k_ca_cert, m.ca_cert);
    }
    keep(k_tls_key, m.key);
    keep(k_tls_cert, m.cert);
    if (std::string cn = app_cert_cn(store); !cn.empty()) {
      tls::Material a = issue_app_material(cn, m.ca_cert, m.ca_key);
      keep(k_app_key, a.key);
      keep(k_app_cert, a.cert);
      result.replaced.insert(result.replaced.end(), {k_app_cert, k_app_key});
    }
    return result;
  }

  check_length(length);
  result.replaced = {name};
  if (plan) return result;
  std::string old_value = store.require(name);
  std::string new_value = generate_password(length);
  if (!apply) {
    result.backups.push_back(store.replace(name, new_value));
    return result;
  }
  // Two phases: the journal holds both values before the store or a server changes, and goes
  // only once they agree. A crash anywhere in between leaves it for the next rotate, deploy or
  // status to finish or roll back (settle_rotations), and logins try both values meanwhile.
  store.begin_rotation({name, old_value, new_value});
  result.backups.push_back(store.replace(name, new_value));
  test_kill_point("rotate-after-store-write");
  try {
    result.applied = apply(name, old_value, new_value);
    result.verified = true;
  } catch (const Error& e) {
    // Undo: the store goes back to the old value first (the servers' files are rewritten from
    // it), then the servers. When undoing fails too (a server went away), the journal stays.
    store.put(name, old_value);
    try {
      apply(name, new_value, old_value);
    } catch (const Error& undo) {
      throw Error(e.code(), e.what_failed(), e.why(),
                  fmt::format("undoing it failed too ({}); the store holds the old value and the journal both, and the next "
                              "'statectl secrets rotate {} --apply', 'statectl deploy' or 'statectl status' finishes or rolls it back",
                              undo.message(), name));
    }
    store.end_rotation(name);
    throw Error(e.code(), e.what_failed(), e.why(),
                e.hint().empty() ? std::string("the servers and the store were put back to the old value")
                                 : "the servers and the store were put back to the old value; " + e.hint());
  }
  store.end_rotation(name);
  return result;
}

} // namespace statectl::secrets

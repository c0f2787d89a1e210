#include "core/secrets/results.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/output/printer.h"
#include "core/secrets/tls.h"
#include "core/util/strings.h"

namespace statectl::secrets {

namespace {

nlohmann::json null_if_empty(const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); }

// The certificate's DNS names, then its IP addresses.
std::vector<std::string> cert_names(const tls::CertInfo& cert)
{
  std::vector<std::string> names = cert.dns_names;
  names.insert(names.end(), cert.ip_addresses.begin(), cert.ip_addresses.end());
  return names;
}

} // namespace

void to_json(nlohmann::json& j, const GenerateReport& r)
{
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& e : r.secrets) rows.push_back({{"name", e.name}, {"action", e.action}, {"backup", null_if_empty(e.backup.string())}});
  j = {{"dir", r.dir}, {"encrypted", r.encrypted}, {"dry_run", r.dry_run}, {"secrets", rows}};
}

std::string to_text(const GenerateReport& r)
{
  std::string out;
  for (const auto& e : r.secrets) {
    std::string verb = e.action == "kept" ? "kept" : (r.dry_run ? "would " + std::string(e.action == "generated" ? "generate" : "replace") : e.action);
    out += fmt::format("{:<16} {}{}\n", verb, e.name, e.action == "kept" ? " (exists; --force replaces it)" : "");
  }
  return out;
}

void to_json(nlohmann::json& j, const TlsReport& r)
{
  const auto& cert = r.issued.cert;
  j = {{"dir", r.dir},
       {"dry_run", r.dry_run},
       {"ca_created", r.issued.ca_created},
       {"cn", cert.subject_cn},
       {"issuer", cert.issuer_cn},
       {"sans", cert_names(cert)},
       {"key", cert.key_type},
       {"expires", cert.not_after_iso},
       {"days_left", tls::days_left(cert)},
       {"written", r.issued.written},
       {"applied", r.applied}};
}

std::string to_text(const TlsReport& r)
{
  const auto& cert = r.issued.cert;
  std::string applied;
  for (const auto& a : r.applied) applied += "applied: " + a + "\n";
  return applied + fmt::format("{}{} certificate for {} ({}), signed by {} ({}), expires {} ({} days)\nnames: {}\n",
                     r.dry_run ? "would issue an " : "issued an ", cert.key_type, cert.subject_cn, util::join(r.issued.written, ", "),
                     cert.issuer_cn, r.issued.ca_created ? "new CA" : "existing CA", cert.not_after_iso, tls::days_left(cert),
                     util::join(cert_names(cert), " "));
}

void to_json(nlohmann::json& j, const SecretList& r)
{
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& e : r.secrets)
    rows.push_back({{"name", e.name},
                    {"kind", e.meta.kind},
                    {"created", null_if_empty(e.meta.created)},
                    {"rotated", null_if_empty(e.meta.rotated)},
                    {"expires", null_if_empty(e.meta.expires)},
                    {"days_left", e.days_left ? nlohmann::json(*e.days_left) : nlohmann::json()},
                    {"encrypted", e.meta.encrypted},
                    {"backups", e.meta.backups}});
  j = {{"dir", r.dir}, {"secrets", rows}};
}

std::string to_text(const SecretList& r)
{
  if (r.secrets.empty()) return {};
  output::Table t{{"NAME", "KIND", "CREATED", "ROTATED", "EXPIRES", "DAYS LEFT", "ENCRYPTED", "BACKUPS"}, {}};
  for (const auto& e : r.secrets)
    t.rows.push_back({e.name, e.meta.kind, e.meta.created, e.meta.rotated.empty() ? "-" : e.meta.rotated,
                      e.meta.expires.empty() ? "-" : e.meta.expires, e.days_left ? std::to_string(*e.days_left) : "-",
                      e.meta.encrypted ? "yes" : "no", std::to_string(e.meta.backups)});
  return t.render();
}

void to_json(nlohmann::json& j, const SecretValue& r) { j = {{"name", r.name}, {"value", r.value}}; }

std::string to_text(const SecretValue& r) { return r.value; }

void to_json(nlohmann::json& j, const RotateReport& r)
{
  const auto& x = r.rotated;
  nlohmann::json backups = nlohmann::json::array();
  for (const auto& b : x.backups) backups.push_back(b.string());
  j = {{"name", x.name},       {"kind", x.kind},       {"dry_run", r.dry_run},   {"replaced", x.replaced},
       {"backups", backups}, {"applied", x.applied}, {"verified", x.verified}};
}

std::string to_text(const RotateReport& r)
{
  const auto& x = r.rotated;
  std::string out = fmt::format("{} {}\n", r.dry_run ? "would rotate" : "rotated", util::join(x.replaced, ", "));
  for (const auto& b : x.backups) out += fmt::format("previous value kept in {}\n", b.string());
  for (const auto& a : x.applied) out += fmt::format("applied: {}\n", a);
  if (x.verified) out += "verified: a new connection with the new value succeeded\n";
  if (!r.apply_requested && !r.dry_run && x.kind == "password")
    out += "the running servers still use the old value: run with --apply on the local stack, or push and redeploy\n";
  return out;
}

void to_json(nlohmann::json& j, const PushResult& r)
{
  j = {{"target", r.target}, {"destination", r.destination}, {"names", r.names}, {"dry_run", r.planned}};
}

std::string to_text(const PushResult& r)
{
  return fmt::format("{} {} secrets to {} {}: {}\n", r.planned ? "would push" : "pushed", r.names.size(), r.target, r.destination,
                     util::join(r.names, ", "));
}

void to_json(nlohmann::json& j, const KeygenResult& r) { j = {{"key_file", r.key_file}, {"key_id", r.key_id}}; }

std::string to_text(const KeygenResult& r)
{
  return fmt::format("wrote {} (key id {}); set [secrets] key_file = \"{}\"\n", r.key_file, r.key_id, r.key_file);
}

} // namespace statectl::secrets

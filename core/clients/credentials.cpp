#include "core/clients/credentials.h"

#include "core/exec/redact.h"
#include "core/secrets/store.h"

namespace statectl::clients {

std::optional<std::string> stored_password(const config::Config& cfg, const std::string& name, bool lenient)
{
  if (name.empty()) return std::nullopt;
  std::optional<std::string> v;
  try {
    v = secrets::Store(cfg).get(name);
  } catch (const std::exception&) {
    if (!lenient) throw;
    return std::nullopt;
  }
  if (v && !v->empty()) exec::register_secret(*v);
  return v;
}

std::vector<std::string> login_passwords(const config::Config& cfg, const std::string& name)
{
  if (name.empty()) return {};
  return secrets::Store(cfg).login_candidates(name);
}

} // namespace statectl::clients

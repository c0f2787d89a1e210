#include "core/targets/k8s_tls.h"

#include <algorithm>
#include <fmt/format.h>
#include <system_error>

#include "core/config/config.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/manage.h"
#include "core/secrets/push.h"
#include "core/secrets/store.h"
#include "core/secrets/tls.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::targets::detail::k8s_tls {

namespace fs = std::filesystem;
using namespace std::chrono;

std::string ensure_secret(const config::Config& cfg, const render::Request& req, exec::Runner& runner, output::Printer& printer,
                          const deploy::Kubectl& kubectl)
{
  using namespace secrets;
  std::string secret = k8s_secret_name(cfg);
  const bool tls = render::tls_rendered(cfg, req);
  // The Secret's key names only (never its values): one line each.
  exec::Result r = runner.run(deploy::command(
    kubectl.argv({"get", "secret", secret, "-o", "go-template={{range $k, $v := .data}}{{$k}}{{\"\\n\"}}{{end}}"}), false, seconds(60)));
  const bool exists = r.ok();
  if (!exists && r.err.find("NotFound") == std::string::npos && r.err.find("not found") == std::string::npos)
    throw Error(ExitCode::external, fmt::format("cannot tell whether the Secret {} exists", secret), deploy::tool_error(r),
                "check the kubectl context and your permissions on secrets in the namespace");
  Store store(cfg);
  if (exists) {
    auto keys = util::split(r.out, '\n');
    for (auto& k : keys) k = util::trim(k);
    std::vector<std::string> missing;
    for (const char* k : {k_tls_cert, k_tls_key, k_ca_cert})
      if (tls && std::find(keys.begin(), keys.end(), k) == keys.end()) missing.push_back(k);
    if (missing.empty()) return "kept";
    for (const auto& s : stack_secret_names())
      if (!store.exists(s))
        throw Error(ExitCode::usage, fmt::format("the Secret {} lacks {} and the secret store has no '{}'", secret, util::join(missing, ", "), s),
                    "the TLS render mounts those keys; pushing them again sends every password of the store, and a generated one "
                    "would lock the running servers out",
                    fmt::format("use the secret store this stack was deployed from ([secrets] dir; this one is {}), or set [tls] enabled = false", store.dir().string()));
  }
  if (tls && (!store.exists(k_ca_cert) || !store.exists(k_tls_cert) || !store.exists(k_tls_key))) {
    tls::Request issue;
    issue.cn = cfg.get_string("project.name");
    issue.sans = tls::default_sans(cfg);
    printer.info(fmt::format("issuing the stack's TLS certificate ({}) into the secret store", util::join(issue.sans, ", ")));
    issue_tls(store, issue, false);
  }
  for (const auto& s : stack_secret_names()) exec::register_secret(store.ensure(s));
  push_k8s(cfg, store, runner);
  if (exists) {
    printer.info(fmt::format("pushed the Secret {} again from the secret store: it lacked the TLS keys", secret));
    return "updated";
  }
  printer.info(fmt::format("created the Secret {} from the secret store", secret));
  return "created";
}

clients::ClientTls client_tls(const config::Config& cfg, const render::Request& req, const fs::path& dir)
{
  clients::ClientTls tls;
  tls.enabled = render::tls_rendered(cfg, req);
  std::error_code ec;
  if (fs::exists(dir / ".applied", ec)) {
    bool applied_tls = false;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      auto text = util::read_file(entry.path());
      if (entry.path().extension() == ".yaml" && text && text->find("\n              mountPath: /tls\n") != std::string::npos) applied_tls = true;
    }
    if (applied_tls != tls.enabled)
      throw Error(ExitCode::usage, fmt::format("the k8s stack applied from {} runs {} TLS", dir.string(), applied_tls ? "with" : "without"),
                  fmt::format("the config says [tls] enabled = {}{}", cfg.get_bool("tls.enabled") ? "true" : "false",
                              cfg.is_set("tls.enabled") ? "" : " (the default)"),
                  applied_tls ? "set [tls] enabled = true, or run 'statectl deploy --target k8s' to switch it to plain text"
                              : "set [tls] enabled = false to use it as it is, or run 'statectl deploy --target k8s' to switch it to TLS");
  }
  if (!tls.enabled) return tls;
  secrets::Store store(cfg);
  if (!store.exists(secrets::k_ca_cert))
    throw Error(ExitCode::usage, "the secret store has no ca.crt to verify the k8s stack's servers with",
                fmt::format("the stack speaks TLS only; its CA is issued into the store by 'statectl deploy --target k8s' ({})", store.dir().string()),
                "use the secret store this stack was deployed from ([secrets] dir), or run 'statectl deploy --target k8s'");
  fs::path ca = dir / "secrets" / "ca.crt";
  if (auto r = util::make_dirs(ca.parent_path(), 0700); !r) throw Error(ExitCode::failed, "cannot create the k8s secrets directory", r.error());
  if (auto r = util::write_file_atomic(ca, store.require(secrets::k_ca_cert), 0644); !r)
    throw Error(ExitCode::failed, fmt::format("cannot write {}", ca.string()), r.error());
  tls.ca_file = ca.string();
  return tls;
}

} // namespace statectl::targets::detail::k8s_tls

// `secrets tls --apply --target k8s`: the new certificate pushed in the Secret and taken by every
// server in place (no pod restarts), then checked through the Services.
#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clients/tls_probe.h"
#include "core/config/config.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/push.h"
#include "core/secrets/store.h"
#include "core/targets/k8s_tls.h"
#include "core/util/strings.h"

namespace statectl::targets::detail::k8s_tls {

namespace {

using namespace std::chrono;

// The first line of text, for an error's detail.
std::string first_line_of(const std::string& text)
{
  return text.substr(0, text.find('\n'));
}

// A container that mounts the stack's certificate (not only ca.crt) at /tls.
struct CertHolder {
  std::string pod;
  std::string container;
  bool synced = false; // its /tls/tls.crt is the new certificate
};

// Whether the pod volume `name` is the Secret's tls.crt (all keys, or items naming tls.crt).
bool volume_has_cert(const nlohmann::json& pod, const std::string& name)
{
  for (const auto& v : pod["spec"].value("volumes", nlohmann::json::array())) {
    if (v.value("name", "") != name || !v.contains("secret")) continue;
    const auto& s = v["secret"];
    if (!s.contains("items")) return true;
    for (const auto& item : s["items"])
      if (item.value("key", "") == secrets::k_tls_cert) return true;
  }
  return false;
}

// The running containers of the stack's pods that read the certificate at /tls.
std::vector<CertHolder> cert_holders(const std::string& pods_json)
{
  nlohmann::json doc = nlohmann::json::parse(pods_json, nullptr, false);
  if (doc.is_discarded() || !doc.contains("items"))
    throw Error(ExitCode::external, "kubectl get pods returned no pod list", first_line_of(pods_json));
  std::vector<CertHolder> out;
  for (const auto& pod : doc["items"]) {
    const auto& meta = pod.value("metadata", nlohmann::json::object());
    if (pod.value("status", nlohmann::json::object()).value("phase", "") != "Running" || meta.contains("deletionTimestamp")) continue;
    for (const auto& c : pod["spec"].value("containers", nlohmann::json::array()))
      for (const auto& m : c.value("volumeMounts", nlohmann::json::array()))
        if (m.value("mountPath", "") == "/tls" && volume_has_cert(pod, m.value("name", "")))
          out.push_back({meta.value("name", ""), c.value("name", ""), false});
  }
  return out;
}

// The command that makes the server in container h re-read /tls/tls.crt and /tls/tls.key
// without a restart: PostgreSQL (bare or under Patroni) reloads its configuration, which
// reloads the SSL context; PgBouncer (PID 1) reloads on SIGHUP; Redis and Sentinel load the
// files again on CONFIG SET of their names. The Redis password is read inside the pod, never
// passed in argv.
std::vector<std::string> reload_command(const config::Config& cfg, const CertHolder& h)
{
  if (h.container == "postgres")
    return {"psql", "-U", cfg.get_string("postgres.superuser"), "-d", cfg.get_string("postgres.database"), "-v", "ON_ERROR_STOP=1", "-tAc",
            "SELECT pg_reload_conf()"};
  if (h.container == "pgbouncer") return {"/bin/sh", "-c", "kill -HUP 1"};
  const std::string set = "CONFIG SET tls-cert-file /tls/tls.crt tls-key-file /tls/tls.key";
  if (h.container == "redis")
    return {"/bin/sh", "-c", "REDISCLI_AUTH=\"$(cat /secrets/redis)\" exec redis-cli --tls --cacert /tls/ca.crt " + set};
  if (h.container == "sentinel") return {"/bin/sh", "-c", "exec redis-cli --tls --cacert /tls/ca.crt -p 26379 " + set};
  return {};
}

} // namespace

std::vector<std::string> apply_rotation(const config::Config& cfg, const render::Request& req, exec::Runner& runner, output::Printer& printer,
                                        const deploy::Kubectl& kubectl, const std::function<stack::Endpoints()>& endpoints,
                                        std::chrono::milliseconds timeout)
{
  using namespace secrets;
  if (!render::tls_rendered(cfg, req))
    throw Error(ExitCode::usage, "--apply needs a k8s stack with TLS", "this config renders the k8s stack without TLS ([tls] enabled = false)",
                "rotate without --apply");
  Store store(cfg);
  for (const auto& s : stack_secret_names())
    if (!store.exists(s))
      throw Error(ExitCode::usage, fmt::format("the secret store has no '{}'", s),
                  "--apply pushes the whole Secret again from the store; a generated password would lock the running servers out",
                  fmt::format("use the secret store this stack was deployed from ([secrets] dir; this one is {})", store.dir().string()));
  const bool plan = runner.dry_run() == exec::DryRun::plan;
  std::vector<std::string> steps;
  auto step = [&](std::string line) {
    printer.info(line);
    steps.push_back(std::move(line));
  };
  for (const auto& s : stack_secret_names()) exec::register_secret(store.require(s));
  auto pushed = push_k8s(cfg, store, runner);
  step(fmt::format("{} the Secret {} with the new certificate", pushed.planned ? "would push" : "pushed", pushed.destination));

  const std::string project = cfg.get_string("project.name");
  exec::Result pods = deploy::run_checked(
    runner, deploy::command(kubectl.argv({"get", "pods", "-l", "app.kubernetes.io/instance=" + project, "-o", "json"}), false, seconds(30)),
    "listing the stack's pods");
  std::vector<CertHolder> holders = pods.planned ? std::vector<CertHolder>{} : cert_holders(pods.out);
  if (plan) {
    step("would wait until every pod that mounts /tls/tls.crt sees the new certificate, then reload each server in place");
    return steps;
  }
  if (holders.empty())
    throw Error(ExitCode::failed, fmt::format("no running pod of {} mounts the certificate", project), "",
                "run 'statectl status --target k8s'; 'statectl deploy --target k8s' deploys the stack");

  // The kubelet refreshes a Secret volume on its own schedule (about a minute by default).
  const std::string want = clients::certificate_serial(store.require(k_tls_cert));
  printer.info(fmt::format("waiting for the kubelet to update /tls in {} container(s)", holders.size()));
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    std::size_t pending = 0;
    for (auto& h : holders) {
      if (h.synced) continue;
      exec::Result r = runner.run(deploy::command(kubectl.argv({"exec", h.pod, "-c", h.container, "--", "cat", "/tls/tls.crt"}), false, seconds(30)));
      h.synced = r.ok() && clients::certificate_serial(r.out) == want;
      if (!h.synced) ++pending;
    }
    if (pending == 0) break;
    if (steady_clock::now() >= deadline) {
      std::vector<std::string> late;
      for (const auto& h : holders)
        if (!h.synced) late.push_back(h.pod + "/" + h.container);
      throw Error(ExitCode::failed, fmt::format("{} did not see the new certificate within {}", util::join(late, ", "), util::format_duration(timeout)),
                  "the Secret was pushed; the kubelet had not updated the pods' /tls volume yet",
                  "run 'statectl secrets tls --apply --target k8s' again later (it issues and pushes another certificate), or restart those pods");
    }
    std::this_thread::sleep_for(seconds(2));
  }
  step(fmt::format("/tls/tls.crt is the new certificate in {} container(s)", holders.size()));

  for (const auto& h : holders) {
    auto cmd = reload_command(cfg, h);
    if (cmd.empty())
      throw Error(ExitCode::failed, fmt::format("cannot reload the certificate of container '{}' in pod {}", h.container, h.pod),
                  "statectl knows how to reload postgres, pgbouncer, redis and sentinel containers", "restart that pod");
    std::vector<std::string> argv{"exec", h.pod, "-c", h.container, "--"};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    exec::Result r = deploy::run_checked(runner, deploy::command(kubectl.argv(argv), true, seconds(60)),
                                         fmt::format("reloading the certificate in {}/{}", h.pod, h.container));
    // redis-cli prints a server's error and still exits 0.
    if (util::trim(r.out).rfind("ERR", 0) == 0 || util::trim(r.out).rfind("NOAUTH", 0) == 0 || util::trim(r.out).rfind("WRONGPASS", 0) == 0)
      throw Error(ExitCode::failed, fmt::format("{}/{} refused the new certificate", h.pod, h.container), first_line_of(util::trim(r.out)),
                  "see the pod's log");
    step(fmt::format("{}/{}: {}", h.pod, h.container,
                     h.container == "postgres" ? "pg_reload_conf()" : h.container == "pgbouncer" ? "RELOAD (SIGHUP)" : "CONFIG SET tls-cert-file, tls-key-file"));
  }

  // What statectl's clients reach must now present the new certificate: the Services through
  // kubectl port-forward (a Service picks one of its pods).
  stack::Endpoints e = endpoints();
  struct Probe {
    std::string what;
    int port;
    bool pg;
  };
  std::vector<Probe> probes;
  if (cfg.get_string("postgres.url").empty()) {
    probes.push_back({"pgbouncer", e.pooler.port, true});
    probes.push_back({"postgres-primary", e.primary.port, true});
    for (const auto& r : e.replicas) probes.push_back({"postgres-replica", r.port, true});
  }
  if (cfg.get_string("redis.url").empty()) probes.push_back({cfg.get_string("redis.mode") == "cluster" ? "redis-cluster" : "redis-master", e.redis.port, false});
  const std::string ca = e.redis_tls.enabled ? e.redis_tls.ca_file : e.primary.tls.ca_file;
  for (const auto& p : probes) {
    if (p.port <= 0) continue;
    std::string got = clients::await_serial("127.0.0.1", p.port, ca, p.pg, want, 20, milliseconds(250));
    if (got != want)
      throw Error(ExitCode::failed, fmt::format("the Service {}-{} still presents another certificate", project, p.what),
                  got.empty() ? "no TLS handshake through kubectl port-forward" : fmt::format("serial {} instead of {}", got, want),
                  "see the pods' logs, or restart them");
  }
  step("verified: every Service presents the new certificate");
  return steps;
}

} // namespace statectl::targets::detail::k8s_tls

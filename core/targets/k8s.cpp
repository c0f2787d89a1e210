// The k8s target: the rendered manifests applied with kubectl into [k8s] namespace.
#include <algorithm>
#include <cstring>
#include <arpa/inet.h>
#include <fmt/format.h>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "core/config/config.h"
#include "core/exec/redact.h"
#include "core/local/process.h"
#include "core/render/recorded.h"
#include "core/secrets/push.h"
#include "core/secrets/store.h"
#include "core/stack/clients.h"
#include "core/targets/common.h"
#include "core/targets/k8s_patroni.h"
#include "core/targets/k8s_tls.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

namespace fs = std::filesystem;
using namespace std::chrono;
using nlohmann::json;

namespace {

// A loopback port nobody listens on now (the kernel's choice for port 0).
int free_port()
{
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(ExitCode::failed, "cannot pick a local port for kubectl port-forward", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  if (port == 0) throw Error(ExitCode::failed, "cannot pick a local port for kubectl port-forward");
  return port;
}

class K8sTarget final : public Target, private Remote {
public:
  K8sTarget(const config::Config& c, exec::Runner& r, output::Printer& p) : Remote(c, r, p, render::Target::k8s) {}

  ~K8sTarget() override
  {
    for (auto& child : m_forwards) child.terminate(seconds(2));
  }

  std::string name() const override { return "k8s"; }

  DeployResult deploy(const DeployOptions& opts) override
  {
    RenderRun run(*this, opts);
    run.files = render::render(cfg, req); // validates the config before anything runs
    deploy::Kubectl kubectl = deploy::Kubectl::detect(cfg);
    auto apply = [&](const fs::path& target) {
      deploy::run_checked(runner, deploy::command(kubectl.argv({"apply", "-f", target.string()}), true), "kubectl apply failed");
    };
    std::vector<std::pair<std::string, std::string>> manifests;
    for (const auto& f : run.files) manifests.emplace_back(f.path, f.content);
    auto names = deploy::workloads(manifests);
    auto rollout = [&] {
      for (const auto& w : names) {
        printer.info(fmt::format("waiting for {}", w));
        deploy::run_checked(runner,
                            deploy::command(kubectl.argv({"rollout", "status", w, fmt::format("--timeout={}s", opts.timeout.count() / 1000)}),
                                            false, opts.timeout + seconds(30)),
                            fmt::format("{} did not become ready within {}", w, util::format_duration(opts.timeout)));
      }
    };
    if (planning()) {
      printer.plan(fmt::format("render {} manifests into {} (the applied render is kept as {})", run.files.size(), dir.string(), run.prev.string()));
      apply(dir / "00-namespace.yaml");
      printer.plan(fmt::format("create the Secret {} from the secret store unless it exists (an existing one is kept{})",
                               secrets::k8s_secret_name(cfg),
                               render::tls_rendered(cfg, req) ? ", or pushed again when it lacks tls.crt, tls.key or ca.crt; the TLS certificate is "
                                                                "issued into the secret store first when it has none"
                                                              : ""));
      apply(dir);
      printer.plan(fmt::format("wait for {} with rollout status, then verify", util::join(names, ", ")));
      return run.result;
    }
    run.install_render();
    printer.info(fmt::format("rendered {} manifests into {}", run.files.size(), dir.string()));
    apply(dir / "00-namespace.yaml");
    run.result.secret = k8s_tls::ensure_secret(cfg, req, runner, printer, kubectl);
    try {
      apply(dir);
      run.result.applied = true;
      run.mark_applied();
      rollout();
      printer.info("verifying the stack");
      json checks = deploy::verify_k8s(cfg, runner, kubectl, req);
      for (const auto& [k, v] : checks.items()) run.result.checks.emplace_back(k, v.get<std::string>());
      run.result.verified = true;
    } catch (const Error& e) {
      run.fail_with_rollback(e, [&] {
        apply(dir);
        rollout();
      });
    }
    return run.result;
  }

  DestroyResult destroy(const DestroyOptions& opts) override
  {
    DestroyResult res = destroy_result();
    std::error_code ec;
    std::vector<std::string> manifests;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".yaml" && entry.path().filename() != "00-namespace.yaml") manifests.push_back(entry.path().string());
    if (manifests.empty()) {
      printer.info(fmt::format("nothing to destroy: no kubernetes render in {} (destroy tears down what `statectl deploy` applied from this "
                               "state directory)",
                               dir.string()));
      return res;
    }
    // Reverse file order: budgets and policies first, the ConfigMaps the pods mount last.
    std::sort(manifests.rbegin(), manifests.rend());
    deploy::Kubectl kubectl = deploy::Kubectl::detect(cfg);
    auto tool_timeout = opts.timeout + minutes(2);
    std::string seconds_flag = fmt::format("--timeout={}s", std::max<long long>(1, opts.timeout.count() / 1000));

    std::vector<std::string> args = {"delete", "--ignore-not-found", "--cascade=foreground", "--wait", seconds_flag};
    for (const auto& m : manifests) args.insert(args.end(), {"-f", m});
    std::string what = opts.purge ? "delete the workloads, services, ConfigMaps, policies and budgets"
                                  : "delete the workloads, services, ConfigMaps, policies and budgets; the volume claims (the data) and "
                                    "the Secret are kept";
    if (planning()) printer.plan(what);
    else printer.info(what);
    deploy::run_checked(runner, deploy::command(kubectl.argv(args), true, tool_timeout), "kubectl delete failed");
    if (!planning()) res.deleted = {"workloads", "services", "configmaps", "networkpolicies", "poddisruptionbudgets"};
    if (opts.purge) {
      std::string selector = fmt::format("app.kubernetes.io/instance={},app.kubernetes.io/managed-by=statectl", cfg.get_string("project.name"));
      deploy::run_checked(runner,
                          deploy::command(kubectl.argv({"delete", "pvc", "-l", selector, "--ignore-not-found", "--wait", seconds_flag}), true,
                                          tool_timeout),
                          "kubectl delete of the volume claims failed (the workloads are already deleted)");
      if (!planning()) res.deleted.push_back("persistentvolumeclaims");
      if (k8s_patroni::enabled(cfg)) {
        // Patroni's leader/config/sync ConfigMaps: a new cluster on fresh volumes must not find
        // the old one "initialized" and wait for its leader forever.
        deploy::run_checked(runner,
                            deploy::command(kubectl.argv({"delete", "configmap", "-l", k8s_patroni::members_selector(cfg), "--ignore-not-found"}),
                                            true, tool_timeout),
                            "kubectl delete of Patroni's ConfigMaps failed (the workloads and volume claims are already deleted)");
        if (!planning()) res.deleted.push_back("patroni-configmaps");
      }
      deploy::run_checked(runner,
                          deploy::command(kubectl.argv({"delete", "secret", secrets::k8s_secret_name(cfg), "--ignore-not-found"}), true,
                                          tool_timeout),
                          "kubectl delete of the Secret failed (the workloads and volume claims are already deleted)");
      if (!planning()) res.deleted.push_back("secret");
    }
    std::string ns = cfg.get_string("k8s.namespace");
    std::string kept = fmt::format("the namespace {} is kept (it may hold other work); `kubectl delete namespace {}` removes it", ns, ns);
    if (planning()) {
      printer.plan(fmt::format("keep the namespace {} (it may hold other work)", ns));
      return res;
    }
    printer.info(kept);
    res.destroyed = true;
    res.purged = opts.purge;
    forget_applied_render(*this, opts.purge);
    return res;
  }

  StatusResult status() override
  {
    deploy::Kubectl kubectl = deploy::Kubectl::detect(cfg);
    std::string project = cfg.get_string("project.name");
    exec::Result r = runner.run(deploy::command(
      kubectl.argv({"get", "statefulsets,deployments", "-l", fmt::format("app.kubernetes.io/instance={}", project), "-o", "json"}), false,
      seconds(60)));
    if (!r.ok()) throw Error(ExitCode::external, "kubectl get failed", deploy::tool_error(r), "check the kubectl context and the namespace");
    json list = json::parse(r.out, nullptr, false);
    if (list.is_discarded() || !list.is_object() || !list.contains("items") || !list["items"].is_array())
      throw Error(ExitCode::external, "kubectl get returned something that is not a list", util::trim(r.out).substr(0, 200));
    std::vector<ComponentRow> components;
    bool primary_ready = false;
    bool sentinel_ready = false;
    for (const auto& item : list["items"]) {
      ComponentRow c;
      const json& meta = item.value("metadata", json::object());
      const json& labels = meta.value("labels", json::object());
      c.name = fmt::format("{}/{}", util::to_lower(item.value("kind", "")), meta.value("name", ""));
      c.kind = labels.value("app.kubernetes.io/name", "");
      c.role = labels.value("app.kubernetes.io/component", "");
      std::int64_t desired = item.value("spec", json::object()).value("replicas", 1);
      std::int64_t ready = item.value("status", json::object()).value("readyReplicas", 0);
      c.ready = fmt::format("{}/{}", ready, desired);
      c.healthy = ready >= desired;
      if (!c.healthy) c.error = fmt::format("{} of {} pods ready", ready, desired);
      const json& containers =
        item.value("spec", json::object()).value("template", json::object()).value("spec", json::object()).value("containers", json::array());
      if (!containers.empty()) c.version = image_tag(containers[0].value("image", ""));
      if (meta.value("name", "") == project + "-postgres-primary" && ready > 0) primary_ready = true;
      if (meta.value("name", "") == project + "-redis-sentinel" && ready > 0) sentinel_ready = true;
      components.push_back(c);
    }
    auto prefix = [&](const std::string& workload) { return kubectl.argv({"exec", workload, "--"}); };
    std::string primary = primary_ready ? fmt::format("statefulset/{}-postgres-primary", project) : "";
    std::vector<std::string> patroni_problems;
    if (k8s_patroni::enabled(cfg)) primary = patroni_members(kubectl, components, patroni_problems);
    StatusResult s = container_status(*this, components, prefix, primary, sentinel_ready ? fmt::format("statefulset/{}-redis-sentinel", project) : "");
    s.problems.insert(s.problems.end(), patroni_problems.begin(), patroni_problems.end());
    s.healthy = s.problems.empty();
    return s;
  }

  void check_scale(const ScaleOptions& opts) const override
  {
    check_scale_common(cfg, opts);
    refuse_cluster_redis_scale(cfg, opts, "k8s");
  }

  ScaleResult scale(const ScaleOptions& opts) override
  {
    check_scale(opts);
    ScaleResult res{opts.component, opts.replicas, std::nullopt, "k8s", planning(), !planning()};
    deploy::Kubectl kubectl = deploy::Kubectl::detect(cfg);
    std::string project = cfg.get_string("project.name");
    const bool patroni = opts.component == "postgres" && k8s_patroni::enabled(cfg);
    // Patroni: one StatefulSet of leader + replicas members.
    std::int64_t count = patroni ? opts.replicas + 1 : opts.replicas;
    res.workload = patroni                       ? k8s_patroni::workload(cfg)
                   : opts.component == "postgres" ? fmt::format("statefulset/{}-postgres-replica", project)
                   : opts.component == "redis"  ? fmt::format("statefulset/{}-redis-replica", project)
                                                : fmt::format("deployment/{}-pgbouncer", project);
    if (patroni) move_leader_below(kubectl, count, opts.timeout);
    deploy::run_checked(runner, deploy::command(kubectl.argv({"scale", res.workload, fmt::format("--replicas={}", count)}), true),
                        fmt::format("kubectl scale {} failed", res.workload));
    if (opts.component == "pooler") {
      // The HPA would undo a manual scale below its minimum: move its bounds with the count.
      std::int64_t max = std::max(opts.replicas, cfg.get_int("pgbouncer.max_replicas"));
      deploy::run_checked(runner,
                          deploy::command(kubectl.argv({"patch", fmt::format("hpa/{}-pgbouncer", project), "--type=merge", "-p",
                                                        fmt::format(R"({{"spec":{{"minReplicas":{},"maxReplicas":{}}}}})", opts.replicas, max)}),
                                          true),
                          "kubectl patch of the pooler's HPA failed");
    }
    if (planning()) {
      printer.plan(fmt::format("record {} = {} for k8s", scale_key(opts.component), opts.replicas));
    } else {
      render::record_count(cfg, "k8s", scale_key(opts.component), opts.replicas);
      printer.info(fmt::format("waiting for {}", res.workload));
    }
    deploy::run_checked(runner,
                        deploy::command(kubectl.argv({"rollout", "status", res.workload, fmt::format("--timeout={}s", opts.timeout.count() / 1000)}),
                                        false, opts.timeout + seconds(30)),
                        fmt::format("{} did not become ready within {}", res.workload, util::format_duration(opts.timeout)));
    return res;
  }

  // Each address is a `kubectl port-forward` child of this object to the stack's Service, on a
  // loopback port picked here; they stop with the object. The Sentinels are left out: they report
  // pod addresses, which this machine cannot reach.
  stack::Endpoints endpoints() override
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_endpoints) return *m_endpoints;
    std::string project = cfg.get_string("project.name");
    stack::Endpoints e = base_endpoints(cfg);
    // TLS: the port-forwards reach the servers as 127.0.0.1, one of the certificate's names, so
    // the clients verify it fully (verify-full, CA pinning) against the store's CA.
    const bool pg_here = cfg.get_string("postgres.url").empty(), redis_here = cfg.get_string("redis.url").empty();
    clients::ClientTls tls = pg_here || redis_here ? k8s_tls::client_tls(cfg, req, dir) : clients::ClientTls{};
    if (pg_here) e.pooler.tls = e.primary.tls = tls;
    if (redis_here) e.redis_tls = tls;
    if (cfg.get_string("postgres.url").empty()) {
      e.pooler.port = forward(project + "-pgbouncer", 6432);
      e.primary.port = forward(project + "-postgres-primary", 5432);
      if (deploy::expectations(cfg, req).pg_replicas > 0) {
        stack::PgEndpoint replica = e.primary;
        replica.port = forward(project + "-postgres-replica", 5432);
        e.replicas.push_back(replica);
      }
    }
    if (cfg.get_string("redis.url").empty())
      e.redis.port = forward(project + (cfg.get_string("redis.mode") == "cluster" ? "-redis-cluster" : "-redis-master"), 6379);
    m_endpoints = e;
    return e;
  }

  exec::Command psql(const ClientOptions& o) override
  {
    if (!cfg.get_string("postgres.url").empty() || !o.host.empty() || o.port != 0)
      return stack::psql_command(cfg, {o.direct, o.replica, o.host, o.port}, o.args);
    std::vector<std::string> argv = k8s_patroni::enabled(cfg) ? exec_argv(k8s_patroni::exec_resource(cfg, o.replica), o.tty)
                                                              : exec_prefix(o.replica ? "postgres-replica" : "postgres-primary", o.tty);
    argv.insert(argv.end(), {"psql", "-U", cfg.get_string("postgres.superuser"), "-d", cfg.get_string("postgres.database")});
    argv.insert(argv.end(), o.args.begin(), o.args.end());
    return client_command(argv);
  }

  exec::Command redis_cli(const ClientOptions& o) override
  {
    if (!cfg.get_string("redis.url").empty()) return stack::redis_cli_command(cfg, o.replica, o.args);
    return redis_cli_in(cfg, req, o, [&](const std::string& service) { return exec_prefix(service, o.tty); }, "/secrets");
  }

  std::optional<std::vector<std::string>> apply_tls_rotation(milliseconds timeout) override
  {
    return k8s_tls::apply_rotation(cfg, req, runner, printer, deploy::Kubectl::detect(cfg), [this] { return endpoints(); }, timeout);
  }

  Fault find_fault(const std::string& backend) override
  {
    deploy::Kubectl kubectl = deploy::Kubectl::detect(cfg);
    // Patroni labels its leader role=master; the bare render's primary is its own StatefulSet.
    std::string selector = backend == "postgres" && k8s_patroni::enabled(cfg) ? k8s_patroni::leader_selector(cfg) : deploy::k8s_primary_selector(backend);
    auto r = deploy::run_checked(runner,
                                 deploy::command(kubectl.argv({"get", "pods", "-l", selector, "-o",
                                                               "jsonpath={.items[*].metadata.name}"}),
                                                 false, 30s),
                                 "finding the primary pod");
    auto names = util::split(util::trim(r.out), ' ');
    Fault f;
    f.victim = names.empty() ? "" : util::trim(names[0]);
    if (f.victim.empty() && !r.planned)
      throw Error(ExitCode::failed, fmt::format("no pod matches {}", selector), "",
                  "run 'statectl deploy --target k8s' first");
    if (f.victim.empty()) f.victim = "<pod>";
    f.argv = deploy::k8s_delete_argv(kubectl.base, f.victim);
    f.description = exec::display(f.argv);
    return f;
  }

  void inject(const Fault& f) override { deploy::run_checked(runner, deploy::command(f.argv, true, 60s), "injecting the fault"); }

  bool statectl_heals() const override { return false; }

  Switched switchover(const std::string& backend, const std::string& to, milliseconds timeout) override
  {
    if (backend != "postgres" || !k8s_patroni::enabled(cfg)) return Target::switchover(backend, to, timeout);
    return k8s_patroni::switchover(*this, deploy::Kubectl::detect(cfg), to, timeout);
  }

  void check_switchover(const std::string& backend, const std::string& to) override
  {
    if (backend != "postgres" || !k8s_patroni::enabled(cfg)) Target::check_switchover(backend, to);
  }

  stack::PgEndpoint backup_source() override { return endpoints().primary; }

private:
  std::vector<std::string> exec_prefix(const std::string& service, bool tty) const
  {
    return exec_argv(fmt::format("statefulset/{}-{}", cfg.get_string("project.name"), service), tty);
  }

  std::vector<std::string> exec_argv(const std::string& resource, bool tty) const
  {
    return deploy::Kubectl::detect(cfg).argv({"exec", tty ? "-it" : "-i", resource, "--"});
  }

  // Patroni's members as status rows (one per pod: its role label, readiness, Patroni's state
  // and timeline); problems gets what is wrong with the cluster as a whole. Returns the leader
  // pod to probe replication on, or "" when no ready pod is labelled role=master.
  std::string patroni_members(const deploy::Kubectl& kubectl, std::vector<ComponentRow>& rows, std::vector<std::string>& problems)
  {
    std::vector<std::string> leaders;
    std::string ready_leader;
    for (const auto& m : k8s_patroni::members(*this, kubectl)) {
      ComponentRow c;
      c.name = "pod/" + m.pod;
      c.kind = "patroni";
      c.role = m.role == "master" ? "leader" : m.role.empty() ? "-" : m.role;
      c.ready = m.ready ? fmt::format("{} tl {}", m.state.empty() ? "ready" : m.state, m.timeline) : "not ready";
      c.healthy = m.ready && (m.state.empty() || m.state == "running");
      c.version = image_tag(m.image);
      if (!m.ready) c.error = "not ready";
      else if (!c.healthy) c.error = fmt::format("Patroni state {}", m.state);
      if (m.role == "master") {
        leaders.push_back(m.pod);
        if (m.ready) ready_leader = m.pod;
      }
      rows.push_back(c);
    }
    if (leaders.size() > 1) problems.push_back(fmt::format("{} pods are labelled role=master: {}", leaders.size(), util::join(leaders, ", ")));
    return ready_leader;
  }

  // Scaling Patroni down removes the highest ordinals: hand the leader's role to member 0 first
  // when the leader is one of them, so the scale is not a failover.
  void move_leader_below(const deploy::Kubectl& kubectl, std::int64_t members, milliseconds timeout)
  {
    for (const auto& leader : k8s_patroni::leaders(*this, kubectl)) {
      auto dash = leader.rfind('-');
      std::int64_t ordinal = dash == std::string::npos ? -1 : std::atoll(leader.c_str() + dash + 1);
      if (ordinal < members) continue;
      std::string to = fmt::format("{}-postgres-0", cfg.get_string("project.name"));
      printer.info(fmt::format("the leader {} is removed by the scale: switching over to {} first", leader, to));
      k8s_patroni::switchover(*this, kubectl, to, timeout);
    }
  }

  // Starts `kubectl port-forward svc/SERVICE PORT:remote` on a free loopback port and waits until
  // it accepts connections; returns the port.
  int forward(const std::string& service, int remote)
  {
    deploy::Kubectl kubectl = deploy::Kubectl::detect(cfg);
    int port = free_port();
    exec::Command c;
    c.argv = kubectl.argv({"port-forward", "--address", "127.0.0.1", "svc/" + service, fmt::format("{}:{}", port, remote)});
    c.io = exec::Io::capture; // its "Forwarding from" lines must not reach stdout
    printer.detail("+ " + exec::display(c.argv));
    exec::Child child = exec::Child::start(c);
    auto deadline = steady_clock::now() + seconds(15);
    while (!local::port_open(port, milliseconds(200))) {
      if (auto code = child.poll(); code || steady_clock::now() >= deadline) {
        if (!code) child.terminate(seconds(2));
        throw Error(ExitCode::unavailable, fmt::format("kubectl port-forward to svc/{} did not open 127.0.0.1:{}", service, port),
                    code ? fmt::format("kubectl exited with code {}", *code) : "no listener within 15s",
                    "check the kubectl context and that the stack is deployed (`statectl status --target k8s`)");
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    m_forwards.push_back(std::move(child));
    return port;
  }

  std::mutex m_mutex;
  std::vector<exec::Child> m_forwards;
  std::optional<stack::Endpoints> m_endpoints;
};

} // namespace

std::unique_ptr<Target> make_k8s(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
{
  return std::make_unique<K8sTarget>(cfg, runner, printer);
}

} // namespace statectl::targets::detail

// Patroni on the k8s target: member pods, role labels and the REST API through kubectl exec.
#include "core/targets/k8s_patroni.h"

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/config/config.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/util/strings.h"

namespace statectl::targets::detail::k8s_patroni {

using namespace std::chrono;
using nlohmann::json;

bool enabled(const config::Config& cfg) { return cfg.get_string("postgres.ha") == "patroni"; }

std::string members_selector(const config::Config& cfg)
{
  return fmt::format("app.kubernetes.io/instance={},app.kubernetes.io/name=postgres", cfg.get_string("project.name"));
}

std::string leader_selector(const config::Config& cfg) { return members_selector(cfg) + ",role=master"; }

std::string workload(const config::Config& cfg) { return fmt::format("statefulset/{}-postgres", cfg.get_string("project.name")); }

std::string exec_resource(const config::Config& cfg, bool replica)
{
  return fmt::format("svc/{}-postgres-{}", cfg.get_string("project.name"), replica ? "replica" : "primary");
}

std::vector<Member> members(Remote& t, const deploy::Kubectl& kubectl)
{
  exec::Result r = t.runner.run(deploy::command(kubectl.argv({"get", "pods", "-l", members_selector(t.cfg), "-o", "json"}), false, seconds(60)));
  if (!r.ok()) throw Error(ExitCode::external, "kubectl get pods failed", deploy::tool_error(r), "check the kubectl context and the namespace");
  json list = json::parse(r.out, nullptr, false);
  if (list.is_discarded() || !list.is_object() || !list.contains("items") || !list["items"].is_array())
    throw Error(ExitCode::external, "kubectl get pods returned something that is not a list", util::trim(r.out).substr(0, 200));
  std::vector<Member> out;
  for (const auto& item : list["items"]) {
    if (!item.is_object()) continue;
    Member m;
    const json meta = item.value("metadata", json::object());
    m.pod = meta.value("name", "");
    m.role = meta.value("labels", json::object()).value("role", "");
    // Patroni's own view of the member: a JSON document in the pod's "status" annotation.
    json status = json::parse(meta.value("annotations", json::object()).value("status", "{}"), nullptr, false);
    if (status.is_object()) {
      m.state = status.value("state", "");
      if (status.contains("timeline") && status["timeline"].is_number_integer()) m.timeline = status["timeline"].get<std::int64_t>();
    }
    for (const auto& c : item.value("status", json::object()).value("containerStatuses", json::array()))
      if (c.is_object() && c.value("ready", false)) m.ready = true;
    const json containers = item.value("spec", json::object()).value("containers", json::array());
    if (!containers.empty() && containers[0].is_object()) m.image = containers[0].value("image", "");
    out.push_back(m);
  }
  std::sort(out.begin(), out.end(), [](const Member& a, const Member& b) { return a.pod < b.pod; });
  return out;
}

std::vector<std::string> leaders(Remote& t, const deploy::Kubectl& kubectl)
{
  auto r = deploy::run_checked(
    t.runner, deploy::command(kubectl.argv({"get", "pods", "-l", leader_selector(t.cfg), "-o", "jsonpath={.items[*].metadata.name}"}), false, seconds(30)),
    "finding the Patroni leader pod");
  std::vector<std::string> names;
  for (const auto& n : util::split(util::trim(r.out), ' '))
    if (!util::trim(n).empty()) names.push_back(util::trim(n));
  return names;
}

namespace {

struct RestAnswer {
  int status = 0;
  std::string body;
};

// POST /switchover on the leader's own REST port, from inside its pod (the API is not exposed
// beyond the members). curl prints the body, then the status code on a line of its own.
RestAnswer post_switchover(Remote& t, const deploy::Kubectl& kubectl, const std::string& leader, const std::string& body)
{
  exec::Result r = t.runner.run(deploy::command(
    kubectl.argv({"exec", leader, "--", "curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json", "-d", body, "-w", "\\n%{http_code}",
                  "http://127.0.0.1:8008/switchover"}),
    true, seconds(60)));
  RestAnswer a;
  if (r.planned) {
    a.status = 200;
    return a;
  }
  if (!r.ok()) throw Error(ExitCode::external, fmt::format("cannot reach Patroni's REST API in {}", leader), deploy::tool_error(r));
  std::string out = util::trim(r.out);
  auto nl = out.rfind('\n');
  std::string code = nl == std::string::npos ? out : out.substr(nl + 1);
  a.body = nl == std::string::npos ? "" : util::trim(out.substr(0, nl));
  try {
    a.status = std::stoi(code);
  } catch (const std::exception&) {
    throw Error(ExitCode::external, fmt::format("unexpected answer from Patroni's REST API in {}", leader), exec::redact(out.substr(0, 200)));
  }
  return a;
}

} // namespace

Switched switchover(Remote& t, const deploy::Kubectl& kubectl, const std::string& to, milliseconds timeout)
{
  const bool planning = t.planning();
  std::vector<std::string> now = leaders(t, kubectl);
  if (now.size() != 1 && !planning)
    throw Error(ExitCode::failed,
                now.empty() ? "no Patroni leader: no pod is labelled role=master" : fmt::format("{} pods are labelled role=master", now.size()),
                fmt::format("selector {}", leader_selector(t.cfg)), "run 'statectl status --target k8s'");
  Switched s;
  s.old_primary = now.empty() ? "<leader pod>" : now[0];
  if (!to.empty() && !planning) {
    std::vector<Member> all = members(t, kubectl);
    auto it = std::find_if(all.begin(), all.end(), [&](const Member& m) { return m.pod == to; });
    if (it == all.end())
      throw Error(ExitCode::usage, fmt::format("no Patroni member '{}'", to), "", "'statectl status --target k8s' lists the member pods");
    if (to == s.old_primary) throw Error(ExitCode::usage, fmt::format("{} is already the leader", to));
  }
  json body = {{"leader", s.old_primary}};
  if (!to.empty()) body["candidate"] = to;
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    RestAnswer a = post_switchover(t, kubectl, s.old_primary, body.dump());
    if (a.status == 200) break;
    // 412/503: Patroni has no synchronous standby to hand over to yet (it names one on its next
    // loop after a member joins); anything else is a refusal.
    bool again = (a.status == 412 || a.status == 503) && steady_clock::now() < deadline;
    if (!again)
      throw Error(ExitCode::failed, fmt::format("Patroni refused the switchover (HTTP {})", a.status), exec::redact(a.body),
                  "run 'statectl status --target k8s'; a switchover needs a running, caught-up replica");
    t.printer.info(fmt::format("Patroni answered {} ({}); asking again", a.status, a.body));
    std::this_thread::sleep_for(seconds(1));
  }
  if (planning) {
    t.printer.plan(fmt::format("wait until a pod other than {} is labelled role=master", s.old_primary));
    return s;
  }
  t.printer.info(fmt::format("waiting for a new leader (role=master on a pod other than {})", s.old_primary));
  while (true) {
    now = leaders(t, kubectl);
    if (now.size() == 1 && now[0] != s.old_primary) {
      s.new_primary = now[0];
      return s;
    }
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::failed, fmt::format("no new Patroni leader within {}", util::format_duration(timeout)),
                  now.empty() ? "no pod is labelled role=master" : fmt::format("role=master: {}", util::join(now, ", ")),
                  "run 'statectl status --target k8s'");
    std::this_thread::sleep_for(seconds(1));
  }
}

} // namespace statectl::targets::detail::k8s_patroni

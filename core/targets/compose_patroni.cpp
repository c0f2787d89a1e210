// Patroni on the compose target: the member containers, Patroni's cluster view and its REST API
// through `docker exec` (the API is reachable on the members' network only).
#include "core/targets/compose_patroni.h"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/config/settings.h"
#include "core/deploy/verify.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/util/strings.h"

namespace statectl::targets::detail::compose_patroni {

using namespace std::chrono;
using nlohmann::json;

bool enabled(const config::Config& cfg) { return config::settings(cfg).postgres.ha == "patroni"; }

std::vector<std::string> member_services(Remote& t)
{
  std::int64_t n = deploy::expectations(t.cfg, t.req).pg_replicas + 1;
  std::vector<std::string> out;
  for (std::int64_t i = 1; i <= n; ++i) out.push_back(fmt::format("patroni-{}", i));
  return out;
}

namespace {

struct Container {
  std::string name;
  bool running = false;
};

// service -> its container (the first one), asked of the engine directly (`docker ps` answers in
// milliseconds, `compose ps` in a second).
std::map<std::string, Container> containers(Remote& t, const deploy::Compose& compose)
{
  exec::Result r = deploy::run_checked(
    t.runner, deploy::command({"docker", "ps", "-a", "-q", "--filter", "label=com.docker.compose.project=" + compose.project}, false, 30s),
    "listing the project's containers");
  std::vector<std::string> ids;
  for (const auto& line : util::split(r.out, '\n'))
    if (!util::trim(line).empty()) ids.push_back(util::trim(line));
  std::map<std::string, Container> out;
  if (ids.empty()) return out;
  for (const auto& line : deploy::docker_inspect(t.runner, ids, "{{index .Config.Labels \"com.docker.compose.service\"}}|{{.Name}}|{{.State.Running}}")) {
    auto f = util::split(line, '|');
    if (f.size() < 3 || !util::starts_with(f[0], "patroni-") || out.count(f[0])) continue;
    out[f[0]] = {f[1].substr(f[1].rfind('/') == std::string::npos ? 0 : f[1].rfind('/') + 1), f[2] == "true"};
  }
  return out;
}

struct RestAnswer {
  int status = 0;
  std::string body;
  bool reached = false;
};

// One request to the REST API of the member in `container`, from inside it. curl prints the body,
// then the status code on a line of its own.
RestAnswer rest(Remote& t, const std::string& container, const std::string& method, const std::string& path, const std::string& body,
                bool mutating)
{
  std::vector<std::string> argv = {"docker", "exec", container, "curl", "-sS", "-m", "10", "-X", method};
  if (!body.empty()) argv.insert(argv.end(), {"-H", "Content-Type: application/json", "-d", body});
  argv.insert(argv.end(), {"-w", "\\n%{http_code}", "http://127.0.0.1:8008" + path});
  exec::Result r = t.runner.run(deploy::command(argv, mutating, seconds(30)));
  RestAnswer a;
  if (r.planned) {
    a.status = 200;
    a.reached = true;
    return a;
  }
  if (!r.ok()) {
    a.body = deploy::tool_error(r);
    return a;
  }
  std::string out = util::trim(r.out);
  auto nl = out.rfind('\n');
  a.body = nl == std::string::npos ? "" : util::trim(out.substr(0, nl));
  try {
    a.status = std::stoi(nl == std::string::npos ? out : out.substr(nl + 1));
    a.reached = true;
  } catch (const std::exception&) {
    a.body = exec::redact(out.substr(0, 200));
  }
  return a;
}

} // namespace

std::vector<Member> members(Remote& t, const deploy::Compose& compose)
{
  auto running = containers(t, compose);
  std::vector<Member> out;
  for (const auto& service : member_services(t)) {
    Member m;
    m.name = service;
    if (auto it = running.find(service); it != running.end()) {
      m.container = it->second.name;
      m.running = it->second.running;
    }
    out.push_back(m);
  }
  json cluster;
  for (const auto& m : out) {
    if (!m.running) continue;
    RestAnswer a = rest(t, m.container, "GET", "/cluster", "", false);
    if (a.status != 200) continue;
    cluster = json::parse(a.body, nullptr, false);
    if (cluster.is_object()) break;
  }
  if (!cluster.is_object()) return out;
  for (const auto& c : cluster.value("members", json::array())) {
    if (!c.is_object()) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const Member& m) { return m.name == c.value("name", ""); });
    if (it == out.end()) continue;
    it->listed = true;
    it->role = c.value("role", "");
    it->state = c.value("state", "");
    if (c.contains("timeline") && c["timeline"].is_number_integer()) it->timeline = c["timeline"].get<std::int64_t>();
    if (c.contains("lag") && c["lag"].is_number_integer()) it->lag = c["lag"].get<std::int64_t>();
  }
  return out;
}

std::optional<Member> leader(const std::vector<Member>& members)
{
  for (const auto& m : members)
    if (m.running && m.role == "leader" && m.state == "running") return m;
  return std::nullopt;
}

namespace {

std::string describe(const std::vector<Member>& members)
{
  std::vector<std::string> parts;
  for (const auto& m : members)
    parts.push_back(fmt::format("{} {}", m.name, !m.running ? "not running" : !m.listed ? "not in the cluster" : m.role + " " + m.state));
  return util::join(parts, ", ");
}

} // namespace

std::string annotate(const std::vector<Member>& members, const std::vector<std::string>& services, std::vector<ComponentRow>& rows)
{
  std::string primary;
  for (std::size_t i = 0; i < rows.size() && i < services.size(); ++i) {
    auto it = std::find_if(members.begin(), members.end(), [&](const Member& m) { return m.name == services[i]; });
    if (it == members.end()) continue;
    ComponentRow& c = rows[i];
    if (!it->listed) {
      c.role = "-";
      if (c.error.empty()) c.error = "not a member of the Patroni cluster (yet)";
      c.healthy = false;
      continue;
    }
    c.role = it->role;
    c.ready = fmt::format("{} tl {}{}", it->state, it->timeline, it->lag ? fmt::format(" lag {}", *it->lag) : "");
    bool state_ok = it->state == "running" || it->state == "streaming";
    if (c.healthy && !state_ok) {
      c.healthy = false;
      c.error = "Patroni state " + it->state;
    }
    if (c.healthy && it->lag && *it->lag > k_max_lag_bytes) {
      c.healthy = false;
      c.error = fmt::format("{} behind the leader", util::format_size(static_cast<std::uint64_t>(*it->lag)));
    }
    if (it->role == "leader" && c.healthy) primary = it->name;
  }
  return primary;
}

Member wait_leader(Remote& t, const deploy::Compose& compose, milliseconds timeout)
{
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    auto all = members(t, compose);
    if (auto l = leader(all)) return *l;
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::failed, fmt::format("no Patroni member leads within {}", util::format_duration(timeout)), describe(all),
                  fmt::format("see the members' logs with: {}", exec::display(compose.argv({"logs", "patroni-1"}))));
    std::this_thread::sleep_for(seconds(1));
  }
}

bool failover_ready(const std::vector<Member>& members, bool synchronous)
{
  auto l = leader(members);
  if (!l) return false;
  return std::any_of(members.begin(), members.end(), [&](const Member& m) {
    bool streams = m.running && m.listed && m.name != l->name && (m.state == "streaming" || m.state == "running");
    return streams && (!synchronous || m.role == "sync_standby");
  });
}

bool synchronous(Remote& t) { return config::settings(t.cfg).postgres.synchronous && deploy::expectations(t.cfg, t.req).pg_replicas > 0; }

Member wait_failover_ready(Remote& t, const deploy::Compose& compose, milliseconds timeout)
{
  const bool sync = synchronous(t);
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    auto all = members(t, compose);
    if (failover_ready(all, sync)) return *leader(all);
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::failed,
                  sync ? fmt::format("Patroni named no synchronous standby within {}: with synchronous_mode it promotes no other member, so "
                                     "losing the leader now stops writes until it returns",
                                     util::format_duration(timeout))
                       : fmt::format("no Patroni replica streams from the leader within {}", util::format_duration(timeout)),
                  describe(all), "run 'statectl status --target compose'");
    std::this_thread::sleep_for(seconds(1));
  }
}

Switched switchover(Remote& t, const deploy::Compose& compose, const std::string& to, milliseconds timeout)
{
  const bool planning = t.planning();
  Switched s;
  std::string leader_container = "<leader container>";
  if (!planning) {
    auto all = members(t, compose);
    auto l = leader(all);
    if (!l)
      throw Error(ExitCode::failed, "no Patroni leader", describe(all), "run 'statectl status --target compose'");
    s.old_primary = l->name;
    leader_container = l->container;
    if (!to.empty()) {
      auto it = std::find_if(all.begin(), all.end(), [&](const Member& m) { return m.name == to; });
      if (it == all.end())
        throw Error(ExitCode::usage, fmt::format("no Patroni member '{}'", to), "",
                    fmt::format("the members are {}", util::join(member_services(t), ", ")));
      if (to == s.old_primary) throw Error(ExitCode::usage, fmt::format("{} is already the leader", to));
    }
  } else {
    s.old_primary = "<leader>";
  }
  json body = {{"leader", s.old_primary}};
  if (!to.empty()) body["candidate"] = to;
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    RestAnswer a = rest(t, leader_container, "POST", "/switchover", body.dump(), true);
    if (!a.reached) throw Error(ExitCode::external, fmt::format("cannot reach Patroni's REST API in {}", leader_container), a.body);
    if (a.status == 200) break;
    // 412/503: Patroni has no synchronous standby to hand over to yet (it names one on its next
    // loop after a member joins); anything else is a refusal.
    bool again = (a.status == 412 || a.status == 503) && steady_clock::now() < deadline;
    if (!again)
      throw Error(ExitCode::failed, fmt::format("Patroni refused the switchover (HTTP {})", a.status), exec::redact(a.body),
                  "run 'statectl status --target compose'; a switchover needs a running, caught-up replica");
    t.printer.info(fmt::format("Patroni answered {} ({}); asking again", a.status, a.body));
    std::this_thread::sleep_for(seconds(1));
  }
  if (planning) {
    t.printer.plan("wait until another member leads");
    return s;
  }
  t.printer.info(fmt::format("waiting for a new leader (a member other than {})", s.old_primary));
  while (true) {
    auto all = members(t, compose);
    if (auto l = leader(all); l && l->name != s.old_primary) {
      s.new_primary = l->name;
      return s;
    }
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::failed, fmt::format("no new Patroni leader within {}", util::format_duration(timeout)), describe(all),
                  "run 'statectl status --target compose'");
    std::this_thread::sleep_for(milliseconds(500));
  }
}

std::string staying_candidate(const std::vector<Member>& members, std::int64_t count)
{
  for (const auto& m : members)
    if (m.running && m.role == "sync_standby" && std::stoll(m.name.substr(m.name.rfind('-') + 1)) <= count) return m.name;
  return "patroni-1";
}

void scale(Remote& t, const deploy::Compose& compose, std::int64_t count, milliseconds timeout, const std::function<void()>& rerender)
{
  std::vector<std::string> before = member_services(t);
  if (!t.planning() && count < static_cast<std::int64_t>(before.size())) {
    auto all = members(t, compose);
    auto l = leader(all);
    if (l && std::stoll(l->name.substr(l->name.rfind('-') + 1)) > count) {
      std::string to = staying_candidate(all, count);
      t.printer.info(fmt::format("the leader {} is removed by the scale: switching over to {} first", l->name, to));
      switchover(t, compose, to, timeout);
    }
  }
  if (t.planning()) t.printer.plan(fmt::format("record postgres.replicas = {} for compose and re-render the members patroni-1..{}", count - 1, count));
  else rerender();
  auto tool_timeout = timeout + minutes(5);
  deploy::run_checked(t.runner, deploy::command(compose.argv({"up", "-d", "--remove-orphans"}), true, tool_timeout),
                      "docker compose up failed");
  // HAProxy reads its server list at start (the bind-mounted file is replaced, not edited): one
  // proxy at a time, so the clients always have one.
  for (const char* proxy : {"haproxy-1", "haproxy-2"})
    deploy::run_checked(t.runner, deploy::command(compose.argv({"up", "-d", "--no-deps", "--force-recreate", proxy}), true, tool_timeout),
                        fmt::format("recreating {} failed", proxy));
  for (std::int64_t k = count + 1; k <= static_cast<std::int64_t>(before.size()); ++k) {
    std::string volume = fmt::format("{}_patroni-{}-data", compose.project, k);
    exec::Result r = t.runner.run(deploy::command({"docker", "volume", "rm", volume}, true, seconds(60)));
    if (!r.ok() && !r.planned) t.printer.warn(fmt::format("cannot remove the volume {}: {}", volume, deploy::tool_error(r)));
  }
  if (t.planning()) return;
  t.printer.info("waiting for every member to run in Patroni's view");
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    auto all = members(t, compose);
    bool ok = leader(all).has_value() && std::all_of(all.begin(), all.end(), [](const Member& m) {
      return m.running && m.listed && (m.state == "running" || m.state == "streaming");
    });
    if (ok) return;
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::failed, fmt::format("the Patroni members did not all run within {}", util::format_duration(timeout)),
                  describe(all), "run 'statectl status --target compose'");
    std::this_thread::sleep_for(seconds(2));
  }
}

std::string rejoin(Remote& t, const deploy::Compose& compose, const std::string& container, milliseconds timeout)
{
  deploy::run_checked(t.runner, deploy::command({"docker", "start", container}, true, seconds(60)), "starting " + container + " again");
  const bool sync = synchronous(t);
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    auto all = members(t, compose);
    auto it = std::find_if(all.begin(), all.end(), [&](const Member& m) { return m.container == container; });
    bool back = it != all.end() && it->running && it->listed && it->role != "leader" && (it->state == "running" || it->state == "streaming");
    if (back && failover_ready(all, sync)) return fmt::format("restarted {}; Patroni rejoined it as a replica", it->name);
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::failed, fmt::format("{} did not rejoin as a replica within {}", container, util::format_duration(timeout)),
                  describe(all), fmt::format("see its log with: docker logs {}", container));
    std::this_thread::sleep_for(seconds(1));
  }
}

} // namespace statectl::targets::detail::compose_patroni

// Patroni's own credentials on a compose project's members: rewritten in each member's
// credentials file and reloaded, then proven by Patroni's own fresh logins.
#include "core/targets/compose_secrets_patroni.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/config/settings.h"
#include "core/deploy/tools.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

using namespace std::chrono;

namespace {

// Inside the member (its user, uid 999, owns the file): the passwords named on stdin (JSON) go
// into the credentials file the entrypoint wrote; the new file is fsynced and renamed over it.
constexpr const char* k_update_credentials = R"(import json, os, sys, yaml
p = "/tmp/statectl-patroni/20-credentials.yml"
if not os.path.exists(p):
    sys.exit(p + " is missing: the member was started by an older render; restart it (docker restart) so it runs this render's entrypoint")
new = json.load(sys.stdin)
with open(p) as f:
    c = yaml.safe_load(f) or {}
a = c.setdefault("postgresql", {}).setdefault("authentication", {})
for k, v in new.items():
    a.setdefault(k, {})["password"] = v
t = p + ".statectl-new"
fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    yaml.safe_dump(c, f)
    f.flush()
    os.fsync(f.fileno())
os.replace(t, p)
)";

std::vector<const compose_patroni::Member*> running_members(const std::vector<compose_patroni::Member>& members, bool leader_last)
{
  std::vector<const compose_patroni::Member*> out;
  for (const auto& m : members)
    if (m.running && !m.container.empty() && m.role != "leader") out.push_back(&m);
  if (leader_last)
    for (const auto& m : members)
      if (m.running && !m.container.empty() && m.role == "leader") out.push_back(&m);
  return out;
}

} // namespace

PatroniCredentials::PatroniCredentials(const config::Config& cfg, exec::Runner& runner, ContainerExec exec, std::function<void(std::string)> step)
  : m_cfg(cfg), m_runner(runner), m_exec(std::move(exec)), m_step(std::move(step))
{
}

std::string PatroniCredentials::sql(const std::string& container, const std::string& statements)
{
  // Over the member's own socket (trusted by the rendered pg_hba): no password at all.
  std::string out = m_exec(container, {"psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-U", config::settings(m_cfg).postgres.superuser, "-d", "postgres"},
                           statements, "psql");
  return util::trim(out);
}

void PatroniCredentials::update(const std::vector<compose_patroni::Member>& members, const std::string& secret, const std::string& value)
{
  nlohmann::json passwords = nlohmann::json::object();
  if (secret == "postgres") passwords = {{"superuser", value}, {"rewind", value}};
  else passwords = {{"replication", value}};
  std::string input;
  try {
    input = passwords.dump();
  } catch (const nlohmann::json::exception&) {
    throw Error(ExitCode::usage, fmt::format("the new value of '{}' is not valid UTF-8", secret), "Patroni's configuration is YAML",
                "rotate again (generated values are ASCII)");
  }
  auto targets = running_members(members, true);
  if (targets.empty()) throw Error(ExitCode::unavailable, "no Patroni member is running", "", "run 'statectl status --target compose'");
  for (const auto* m : targets) {
    // Patroni handles SIGHUP in its main loop, and its reload ends by reloading PostgreSQL: a newer
    // pg_conf_load_time() says the reload ran to its end (its new connection settings included).
    // Until then no password changes under it: a reload that meets a refused login on the way
    // (its connection ended, the role's password already new) stops half-way and leaves Patroni
    // on the old password for good; such a reload is asked for again.
    std::string before = sql(m->container, "SELECT pg_conf_load_time()");
    m_exec(m->container, {"python3", "-c", k_update_credentials}, input, "rewriting Patroni's credentials");
    auto deadline = steady_clock::now() + 60s;
    auto resend = steady_clock::now();
    while (true) {
      if (steady_clock::now() >= resend) {
        deploy::run_checked(m_runner, deploy::command({"docker", "kill", "--signal", "HUP", m->container}, true, 30s),
                            m->container + ": reloading Patroni (SIGHUP)");
        resend = steady_clock::now() + 5s;
      }
      std::this_thread::sleep_for(250ms);
      std::string reloaded;
      try {
        reloaded = sql(m->container, fmt::format("SELECT pg_conf_load_time() > '{}'::timestamptz", before));
      } catch (const Error&) {
        // PostgreSQL restarting under Patroni: asked again.
      }
      if (reloaded == "t") break;
      if (steady_clock::now() >= deadline)
        throw Error(ExitCode::failed, fmt::format("Patroni on {} did not reload its configuration", m->container),
                    "PostgreSQL's configuration was not reloaded within 60 s of the SIGHUP (Patroni reloads it last)",
                    "see the member's log: docker logs " + m->container);
    }
    m_step(fmt::format("{}: Patroni's {} password rewritten in its credentials file; Patroni reloaded (SIGHUP)", m->container,
                       secret == "postgres" ? "superuser and rewind" : "replication"));
  }
}

void PatroniCredentials::verify(const std::vector<compose_patroni::Member>& members, const std::string& secret, milliseconds timeout)
{
  auto deadline = steady_clock::now() + timeout;
  // Ends the connections `where` selects in `view`; returns the server's time just after, so a
  // connection made later is a fresh login.
  auto end_connections = [&](const std::string& container, const std::string& view, const std::string& where) {
    std::string out = sql(container, fmt::format("SELECT count(pg_terminate_backend(pid)), clock_timestamp() FROM {} WHERE {}", view, where));
    auto bar = out.find('|');
    if (bar == std::string::npos) throw Error(ExitCode::external, fmt::format("{}: unexpected answer from psql", container), out.substr(0, 200));
    return out.substr(bar + 1);
  };
  auto count = [&](const std::string& container, const std::string& query) {
    try {
      return std::stoll(sql(container, query));
    } catch (const std::exception&) {
      return -1LL; // not an answer yet (a member reloading): asked again
    }
  };
  if (secret == "postgres") {
    // Patroni connects to its own PostgreSQL over TCP as the superuser (patroni.yml has no
    // use_unix_socket): ended, it logs in again with the password it now has.
    // A replica checks a login against its replayed pg_authid: first every replica replays the
    // leader's WAL as of now (the ALTER ROLE included).
    for (const auto& l : members) {
      if (!l.running || l.container.empty() || l.role != "leader") continue;
      std::string lsn = sql(l.container, "SELECT pg_current_wal_lsn()");
      for (const auto* m : running_members(members, false)) {
        while (count(m->container, fmt::format("SELECT count(*) WHERE pg_last_wal_replay_lsn() >= '{}'::pg_lsn", lsn)) < 1) {
          if (steady_clock::now() >= deadline)
            throw Error(ExitCode::failed, fmt::format("verification failed: {} did not replay the ALTER ROLE", m->container),
                        fmt::format("its replay stayed behind {} for {} s", lsn, duration_cast<seconds>(timeout).count()),
                        "run 'statectl status --target compose'");
          std::this_thread::sleep_for(250ms);
        }
      }
    }
    const std::string patroni = "application_name LIKE 'Patroni%' AND client_addr IS NOT NULL";
    for (const auto* m : running_members(members, true)) {
      std::string since = end_connections(m->container, "pg_stat_activity", patroni);
      std::string query = fmt::format("SELECT count(*) FROM pg_stat_activity WHERE {} AND backend_start > '{}'", patroni, since);
      auto nudge = steady_clock::now() + 10s;
      while (count(m->container, query) < 1) {
        // A connection Patroni held on to without noticing the end: ended again every 10 s.
        if (steady_clock::now() >= nudge) {
          end_connections(m->container, "pg_stat_activity", patroni);
          nudge = steady_clock::now() + 10s;
        }
        if (steady_clock::now() >= deadline)
          throw Error(ExitCode::failed, fmt::format("verification failed: Patroni on {} did not log in again with the new superuser password", m->container),
                      fmt::format("no new Patroni connection within {} s", duration_cast<seconds>(timeout).count()),
                      "see the member's log: docker logs " + m->container);
        std::this_thread::sleep_for(500ms);
      }
      m_step(fmt::format("verified: Patroni on {} logged in again (a new connection with the new superuser password)", m->container));
    }
    return;
  }
  const compose_patroni::Member* leader = nullptr;
  std::size_t replicas = 0;
  for (const auto& m : members) {
    if (!m.running || m.container.empty()) continue;
    if (m.role == "leader") leader = &m;
    else if (m.listed) ++replicas;
  }
  if (!leader) throw Error(ExitCode::failed, "verification failed: no Patroni member leads", "", "run 'statectl status --target compose'");
  // The replicas' WAL receivers reconnect (wal_retrieve_retry_interval) with the passfile their
  // Patroni rewrote on its reload; synchronous commits wait for the standby meanwhile.
  std::string since = end_connections(leader->container, "pg_stat_replication", "true");
  std::string query =
    fmt::format("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND backend_start > '{}'", since);
  while (count(leader->container, query) < static_cast<long long>(replicas)) {
    if (steady_clock::now() >= deadline)
      throw Error(ExitCode::failed, "verification failed: the replicas did not stream again with the new replication password",
                  fmt::format("fewer than {} new replication connection(s) to {} within {} s", replicas, leader->container,
                              duration_cast<seconds>(timeout).count()),
                  "see the replicas' logs (docker logs)");
    std::this_thread::sleep_for(500ms);
  }
  m_step(fmt::format("verified: {} replica(s) stream from {} again over new replication logins", replicas, leader->container));
}

} // namespace statectl::targets::detail

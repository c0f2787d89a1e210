#pragma once

// Patroni's own credentials on a compose project's members, for `secrets rotate --apply` with
// [postgres] ha = "patroni" (not a public API). Each member's Patroni reads a configuration
// directory: the shared patroni.yml and /tmp/statectl-patroni/20-credentials.yml, which the
// rendered patroni-entrypoint.sh writes from the secret files at every start.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/targets/compose_patroni.h"

namespace statectl::targets::detail {

// Runs argv inside the named container with input on stdin and returns its stdout; throws
// Error(external) naming `what` when it fails.
using ContainerExec =
  std::function<std::string(const std::string& container, const std::vector<std::string>& argv, const std::string& input, const std::string& what)>;

// The credentials Patroni connects with: the superuser's (also pg_rewind's) for secret
// "postgres", the replication role's for "replication".
class PatroniCredentials {
public:
  PatroniCredentials(const config::Config& cfg, exec::Runner& runner, ContainerExec exec, std::function<void(std::string)> step);

  // Rewrites the secret's password in the credentials file of every running member (replicas
  // first, the leader last; a new file renamed over the old one) and reloads that member's
  // Patroni (SIGHUP, sent again every 5 s until PostgreSQL's pg_conf_load_time() moves, which
  // Patroni's reload does last). Throws Error(external) when a command fails, a member without a
  // credentials file included (started by an older render: its stderr says to restart it), and
  // Error(failed) when a member's Patroni has not reloaded within 60 s.
  void update(const std::vector<compose_patroni::Member>& members, const std::string& secret, const std::string& value);

  // Proves that Patroni logs in with the new value after ALTER ROLE: "postgres" waits until every
  // replica replayed the leader's WAL (the ALTER ROLE), then ends every member's Patroni
  // connection (again every 10 s while none comes back) and waits until each has connected again
  // (a fresh password login over TCP); "replication" ends the leader's WAL senders and waits until every running replica
  // streams again over a fresh replication login (the passfile Patroni rewrote on its reload).
  // Throws Error(failed) when that does not happen within timeout.
  void verify(const std::vector<compose_patroni::Member>& members, const std::string& secret, std::chrono::milliseconds timeout);

private:
  std::string sql(const std::string& container, const std::string& statements);

  const config::Config& m_cfg;
  exec::Runner& m_runner;
  ContainerExec m_exec;
  std::function<void(std::string)> m_step;
};

} // namespace statectl::targets::detail

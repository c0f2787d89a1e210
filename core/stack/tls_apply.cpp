#include "core/stack/tls_apply.h"

#include <algorithm>
#include <csignal>
#include <fmt/format.h>
#include <thread>

#include "core/clients/postgres.h"
#include "core/clients/redis.h"
#include "core/clients/tls_probe.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/local/components.h"
#include "core/local/process.h"
#include "core/local/redis_acl.h"
#include "core/local/site.h"
#include "core/local/stack.h"
#include "core/secrets/store.h"

namespace statectl::stack {

using namespace std::chrono;

std::vector<std::string> apply_tls_rotation(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
{
  if (!config::settings(cfg).tls.enabled)
    throw Error(ExitCode::usage, "--apply needs a local stack with TLS", "[tls] enabled is false", "rotate without --apply");
  local::Stack stack(cfg, runner, printer);
  if (!stack.deployed() || stack.state().members.empty())
    throw Error(ExitCode::usage, "--apply needs the local stack", fmt::format("nothing is deployed in {}", config::settings(cfg).state_dir.string()),
                "run 'statectl deploy' first, or rotate without --apply");
  std::vector<std::string> steps;
  auto step = [&](std::string line) {
    printer.info(line);
    steps.push_back(std::move(line));
  };
  local::Site site(cfg, runner, printer);
  site.install_tls();
  local::TlsFiles files = local::tls_files(cfg);
  step(fmt::format("wrote the new certificate and key to {}", files.cert.parent_path().string()));
  if (site.planning()) return steps;
  std::string want = clients::certificate_serial(secrets::Store(cfg).require(secrets::k_tls_cert));
  clients::ClientTls tls = local::client_tls(cfg);
  std::string redis_password = secrets::Store(cfg).get("redis").value_or("");

  std::vector<local::Member> members = stack.state().members;
  std::vector<std::string> reloaded;
  for (auto& m : members) {
    bool pg_member = m.kind == "postgres" || m.kind == "patroni";
    bool alive = pg_member ? local::read_pidfile(std::filesystem::path(m.data_dir) / "postmaster.pid").has_value()
                           : local::process_matches(m.pid, m.start_time);
    if (!alive) {
      if (m.kind == "pgbouncer" || m.kind == "redis" || m.kind == "sentinel" || pg_member)
        step(fmt::format("{}: not running, takes the new certificate when started", m.name));
      continue;
    }
    reloaded.push_back(m.name);
    if (pg_member) {
      local::postgres::reload(site, m);
      step(fmt::format("{}: pg_ctl reload", m.name));
      // Patroni's REST API takes a certificate with a new serial on SIGHUP (its own reload).
      if (m.kind == "patroni" && stack.state().patroni_tls && local::signal_member(m, SIGHUP))
        step(fmt::format("{}: Patroni reload (SIGHUP) for its REST API", m.name));
    } else if (m.kind == "pgbouncer") {
      local::signal_member(m, SIGHUP);
      step(fmt::format("{}: RELOAD (SIGHUP)", m.name));
    } else if (m.kind == "redis") {
      clients::RedisOptions o;
      o.port = m.port;
      if (stack.state().redis_acl) o.user = local::redis_acl::k_admin_user;
      o.password = redis_password;
      o.tls = clients::redis_tls(tls);
      try {
        auto c = clients::RedisConnection::connect(o);
        auto r = c.command({"CONFIG", "SET", "tls-cert-file", files.cert.string(), "tls-key-file", files.key.string()});
        if (r.is_error()) throw Error(ExitCode::external, fmt::format("{}: CONFIG SET tls-cert-file failed", m.name), r.str);
      } catch (const clients::RedisError& e) {
        throw clients::to_error(e.failure(), fmt::format("cannot reach {} to reload its certificate", m.name));
      }
      step(fmt::format("{}: CONFIG SET tls-cert-file, tls-key-file", m.name));
    } else if (m.kind == "sentinel") {
      clients::RedisOptions o;
      o.port = m.port;
      o.tls = clients::redis_tls(tls);
      std::string why;
      try {
        auto c = clients::RedisConnection::connect(o);
        auto r = c.command({"CONFIG", "SET", "tls-cert-file", files.cert.string(), "tls-key-file", files.key.string()});
        if (r.is_error()) why = r.str;
      } catch (const clients::RedisError& e) {
        why = e.what();
      }
      if (why.empty()) {
        step(fmt::format("{}: CONFIG SET tls-cert-file, tls-key-file", m.name));
      } else {
        // One at a time: the other Sentinels keep the quorum meanwhile.
        stack.stop_member(m.name, local::StopMode::fast);
        stack.start_member(m.name);
        step(fmt::format("{}: restarted ({})", m.name, why));
      }
    }
  }
  // Every TLS port must now present the new certificate (etcd reads it at each handshake).
  bool rest_tls = stack.state().patroni_tls;
  for (const auto& m : stack.state().members) {
    bool pg = m.kind == "postgres" || m.kind == "patroni" || m.kind == "pgbouncer";
    std::vector<std::pair<int, bool>> ports; // port, PostgreSQL's SSLRequest first
    if (pg || m.kind == "redis" || m.kind == "sentinel") {
      if (std::find(reloaded.begin(), reloaded.end(), m.name) == reloaded.end()) continue;
      ports.emplace_back(m.port, pg);
      if (m.kind == "patroni" && rest_tls) ports.emplace_back(m.rest_port, false);
    } else if (m.kind == "etcd" && rest_tls && local::process_matches(m.pid, m.start_time)) {
      ports.emplace_back(m.port, false);
    }
    for (auto [port, starttls] : ports) {
      std::string got = clients::await_serial("127.0.0.1", port, files.ca.string(), starttls, want, 30, 100ms);
      if (got != want)
        throw Error(ExitCode::failed, fmt::format("{} still presents another certificate on 127.0.0.1:{}", m.name, port),
                    got.empty() ? "no TLS handshake" : fmt::format("serial {} instead of {}", got, want), "see its log, then run 'statectl deploy'");
    }
  }
  step("verified: every server presents the new certificate");
  return steps;
}

} // namespace statectl::stack

#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/config/config_fwd.h"
#include "core/exec/runner.h"
#include "core/local/state.h"
#include "core/output/printer.h"

namespace statectl::local {

// How a server is stopped: fast (clean shutdown: PostgreSQL -m fast, SIGTERM) or immediate
// (PostgreSQL -m immediate, SIGKILL for the others).
enum class StopMode { fast, immediate };

// What every component driver of the local target needs: the config, the runner, where things
// live and as whom servers run. Under --dry-run (planning()) nothing is changed: commands go to
// the runner (which prints them) and file operations become "# would ..." steps of the plan.
class Site {
public:
  Site(const config::Config& cfg, exec::Runner& runner, output::Printer& printer);

  const config::Config& cfg;
  exec::Runner& runner;
  output::Printer& printer;

  const std::filesystem::path& state_dir() const { return m_state_dir; }
  std::filesystem::path member_dir(const std::string& name) const { return m_state_dir / name; }
  // The user servers run as: [local] run_as when statectl is root, else empty (ourselves).
  const std::string& run_as() const { return m_run_as; }
  bool planning() const { return runner.dry_run() == exec::DryRun::plan; }

  // A stack password from the secret store, generated on first use. Under --dry-run a missing
  // secret is made up but not stored (it is redacted in the plan anyway).
  std::string secret(const std::string& name);

  // True when the stack runs with TLS ([tls] enabled).
  bool tls() const;
  // Writes the TLS files (tls_files()) from the secret store, issuing the CA and the servers'
  // certificate first when the store has none (secrets::issue_tls with the default names).
  // No-op without TLS. A new stack (new_stack), or one that has them already, also gets the
  // application role's client certificate (app_cert/app_key; see pg_cert_login), issued into the
  // store when it has none; a stack deployed before keeps logging in with the password.
  void install_tls(bool new_stack = false);
  // libpq's environment for a child that connects to the stack (psql, pg_basebackup,
  // pg_rewind): PGSSLMODE=verify-full and PGSSLROOTCERT with TLS, PGSSLMODE=disable without.
  std::map<std::string, std::string> pg_tls_env() const;

  // Creates a directory (and parents) with mode; owned by the server user when server_owned.
  void make_dir(const std::filesystem::path& dir, mode_t mode, bool server_owned = true);
  // Writes a file atomically with mode; owned by the server user when server_owned.
  void write_file(const std::filesystem::path& path, const std::string& text, mode_t mode, bool server_owned = true);
  // Deletes a tree (a member's directory); only below the state directory.
  void remove_tree(const std::filesystem::path& path);
  // A step of the --dry-run plan (Printer::plan), or a detail line when executing.
  void note(const std::string& line);

  // An argv Command that runs as the server user, marked mutating.
  exec::Command server_command(std::vector<std::string> argv) const;
  // Runs cmd; on failure throws Error(external) "<component>: <what> failed" with the
  // command's stderr (redacted) and hint.
  exec::Result run(const exec::Command& cmd, const std::string& component, const std::string& what,
                   const std::string& hint = {});
  // The failure half of run(): throws that Error unless r succeeded (or was only planned).
  void check(const exec::Result& r, const exec::Command& cmd, const std::string& component, const std::string& what,
             const std::string& hint = {});

  // The absolute path of a server program, or Error(unavailable) naming the package.
  std::string binary(const std::string& name, const std::string& package) const;
  // A PostgreSQL program from [postgres] bin_dir.
  std::string pg_binary(const std::string& name) const;

private:
  std::filesystem::path m_state_dir;
  std::string m_run_as;
  uid_t m_uid = 0;
  gid_t m_gid = 0;
  std::map<std::string, std::string> m_planned_secrets;
};

// The TLS files of the local stack, under <state dir>/tls: the CA certificate (0644) and the
// servers' certificate (0644) and key (0600, owned by the server user).
struct TlsFiles {
  std::filesystem::path ca;
  std::filesystem::path cert;
  std::filesystem::path key;
  // The application role's client certificate and key (both 0600, owned by statectl's user).
  std::filesystem::path app_cert;
  std::filesystem::path app_key;
};
TlsFiles tls_files(const config::Config& cfg);

// True when the state commands log in to PgBouncer as [postgres] app_user with its client
// certificate: [tls] enabled, app_user is not the superuser, and the stack has the certificate's
// files (a stack deployed before it existed has not, and keeps the superuser's password login).
bool pg_cert_login(const config::Config& cfg);

// How statectl's clients reach the local stack: with [tls] enabled, TLS verified against the
// stack's CA file (libpq verify-full, Redis CA pinning) and the address's name (127.0.0.1).
clients::ClientTls client_tls(const config::Config& cfg);

// Sends sig to member.pid only when it is still the process statectl recorded.
bool signal_member(const Member& member, int sig);

// Stops a member by signal: `fast_signal`, then SIGKILL once timeout passes (or at once when
// immediate). Returns when the process is gone; no-op when it is not running.
void stop_by_signal(Site& site, Member& member, int fast_signal, StopMode mode, std::chrono::milliseconds timeout);

// After a daemon was started: waits until pid_file names a live process and port (0 = the
// member's port) accepts connections, then records pid and start time. Throws Error(external)
// with the tail of the member's log when that does not happen within timeout.
void await_daemon(Site& site, Member& member, const std::filesystem::path& pid_file, std::chrono::milliseconds timeout,
                  int port = 0);

// Starts a non-daemonizing server (etcd, Patroni, the exporters, Prometheus) in the background with
// start-stop-daemon, its pid file at <member dir>/<kind>.pid and its output in the member's log;
// env reaches the child only (secrets go there, never into argv). A stale pid file is removed
// first. Does not wait: await_daemon() does.
void start_background(Site& site, Member& m, const std::string& program, const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& env = {});

// Where start_background() keeps a member's pid file.
std::filesystem::path background_pid_path(const Member& m);

// The last lines of a log file, for error messages.
std::string log_tail(const std::string& path, std::size_t lines = 8);

} // namespace statectl::local

#include "core/local/site.h"
#include "core/local/state.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/local/process.h"
#include "core/secrets/manage.h"
#include "core/secrets/store.h"
#include "core/secrets/tls.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::local {

namespace fs = std::filesystem;
using namespace std::chrono;

Site::Site(const config::Config& config, exec::Runner& r, output::Printer& p)
  : cfg(config), runner(r), printer(p), m_state_dir(config::settings(config).state_dir)
{
  if (exec::running_as_root()) {
    m_run_as = config::settings(cfg).local.run_as;
    struct passwd* pw = ::getpwnam(m_run_as.c_str());
    if (!pw)
      throw Error(ExitCode::unavailable, fmt::format("cannot run the servers as user '{}'", m_run_as), "no such user",
                  "statectl runs as root, and PostgreSQL refuses root: create the user (useradd --system " + m_run_as +
                    ") or set [local] run_as");
    m_uid = pw->pw_uid;
    m_gid = pw->pw_gid;
  }
}

std::string Site::secret(const std::string& name)
{
  secrets::Store store(cfg);
  if (!planning()) return store.ensure(name);
  if (auto v = store.get(name)) return *v;
  auto& v = m_planned_secrets[name];
  if (v.empty()) {
    v = secrets::generate_password();
    exec::register_secret(v);
  }
  return v;
}

TlsFiles tls_files(const config::Config& cfg)
{
  fs::path dir = config::settings(cfg).state_dir / "tls";
  return {dir / "ca.crt", dir / "server.crt", dir / "server.key", dir / "pg-app.crt", dir / "pg-app.key"};
}

bool pg_cert_login(const config::Config& cfg)
{
  const auto& s = config::settings(cfg);
  if (!s.tls.enabled || s.postgres.app_user == s.postgres.superuser) return false;
  TlsFiles f = tls_files(cfg);
  std::error_code ec;
  return fs::exists(f.app_cert, ec) && fs::exists(f.app_key, ec);
}

clients::ClientTls client_tls(const config::Config& cfg)
{
  clients::ClientTls t;
  t.enabled = config::settings(cfg).tls.enabled;
  if (!t.enabled) return t;
  t.ca_file = tls_files(cfg).ca.string();
  // A stack deployed without TLS (an older statectl's default) has no CA: say so, instead of
  // failing every connection with a handshake error (and never fall back to plain text).
  std::error_code ec;
  if (!fs::exists(t.ca_file, ec) && fs::exists(state_file(cfg), ec))
    throw Error(ExitCode::usage, fmt::format("the local stack in {} runs without TLS", config::settings(cfg).state_dir.string()),
                fmt::format("the config says [tls] enabled = true{}", config::settings(cfg).tls.enabled_set ? "" : " (the default)"),
                "set [tls] enabled = false to use it as it is, or run 'statectl destroy --purge' and deploy again with TLS (it deletes the data)");
  return t;
}

bool Site::tls() const { return config::settings(cfg).tls.enabled; }

void Site::install_tls(bool new_stack)
{
  if (!tls()) return;
  secrets::Store store(cfg);
  using namespace secrets;
  if (!store.exists(k_ca_cert) || !store.exists(k_tls_cert) || !store.exists(k_tls_key)) {
    secrets::tls::Request req;
    req.cn = config::settings(cfg).project.name;
    req.sans = secrets::tls::default_sans(cfg);
    note(fmt::format("issue the stack's TLS certificate ({}) into the secret store", util::join(req.sans, ", ")));
    issue_tls(store, req, planning());
  }
  TlsFiles f = tls_files(cfg);
  make_dir(f.ca.parent_path(), 0755);
  // The application role's client certificate: statectl reads it, the servers never do.
  const auto& s = config::settings(cfg);
  std::error_code ec;
  bool app_cert = s.postgres.app_user != s.postgres.superuser && (new_stack || fs::exists(f.app_cert, ec));
  if (planning()) {
    note(fmt::format("write {}, {} and {} (key 0600)", f.ca.string(), f.cert.string(), f.key.string()));
    if (app_cert)
      note(fmt::format("write {} and {} (0600): the client certificate of role {}", f.app_cert.string(), f.app_key.string(), s.postgres.app_user));
    return;
  }
  write_file(f.ca, store.require(k_ca_cert), 0644);
  write_file(f.cert, store.require(k_tls_cert), 0644);
  write_file(f.key, store.require(k_tls_key), 0600);
  if (!app_cert) return;
  // Issued when missing, for another role, or by a CA the store no longer holds.
  bool valid = false;
  if (auto cur = store.get(k_app_cert); cur && store.exists(k_app_key))
    if (auto info = secrets::tls::inspect(*cur))
      valid = info->subject_cn == s.postgres.app_user && secrets::tls::verify(store.require(k_ca_cert), *cur);
  if (!valid) {
    note(fmt::format("issue the client certificate of role {} into the secret store", s.postgres.app_user));
    issue_app_cert(store, s.postgres.app_user, false);
  }
  write_file(f.app_cert, store.require(k_app_cert), 0600, false);
  write_file(f.app_key, store.require(k_app_key), 0600, false);
}

std::map<std::string, std::string> Site::pg_tls_env() const
{
  if (!tls()) return {{"PGSSLMODE", "disable"}};
  return {{"PGSSLMODE", "verify-full"}, {"PGSSLROOTCERT", tls_files(cfg).ca.string()}};
}

void Site::make_dir(const fs::path& dir, mode_t mode, bool server_owned)
{
  if (planning()) {
    note(fmt::format("mkdir {} (mode {:04o}{})", dir.string(), mode, server_owned && !m_run_as.empty() ? ", owner " + m_run_as : ""));
    return;
  }
  if (auto r = util::make_dirs(dir, mode); !r) throw Error(ExitCode::failed, "cannot create a directory of the local stack", r.error());
  ::chmod(dir.c_str(), mode);
  if (server_owned && !m_run_as.empty() && ::chown(dir.c_str(), m_uid, m_gid) != 0)
    throw Error(ExitCode::failed, fmt::format("cannot give {} to user {}", dir.string(), m_run_as), std::strerror(errno));
}

void Site::write_file(const fs::path& path, const std::string& text, mode_t mode, bool server_owned)
{
  if (planning()) {
    note(fmt::format("write {} (mode {:04o}{})", path.string(), mode, server_owned && !m_run_as.empty() ? ", owner " + m_run_as : ""));
    return;
  }
  if (auto r = util::write_file_atomic(path, text, mode); !r) throw Error(ExitCode::failed, "cannot write a file of the local stack", r.error());
  if (server_owned && !m_run_as.empty() && ::chown(path.c_str(), m_uid, m_gid) != 0)
    throw Error(ExitCode::failed, fmt::format("cannot give {} to user {}", path.string(), m_run_as), std::strerror(errno));
}

void Site::remove_tree(const fs::path& path)
{
  auto rel = path.lexically_normal().lexically_relative(m_state_dir.lexically_normal());
  if (rel.empty() || rel.string().rfind("..", 0) == 0 || rel == ".")
    throw std::logic_error("refusing to delete " + path.string() + " outside the state directory");
  if (planning()) {
    note("rm -rf " + path.string());
    return;
  }
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) throw Error(ExitCode::failed, fmt::format("cannot delete {}", path.string()), ec.message());
}

void Site::note(const std::string& line)
{
  if (planning()) printer.plan(line);
  else printer.detail(line);
}

exec::Command Site::server_command(std::vector<std::string> argv) const
{
  exec::Command c;
  c.argv = std::move(argv);
  c.run_as = m_run_as;
  c.mutating = true;
  // Servers must not inherit statectl's own settings (a PGPASSWORD of the caller, say).
  c.unset_env = {"PGPASSWORD", "PGPASSFILE", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "REDISCLI_AUTH"};
  return c;
}

exec::Result Site::run(const exec::Command& cmd, const std::string& component, const std::string& what, const std::string& hint)
{
  exec::Result r = runner.run(cmd);
  check(r, cmd, component, what, hint);
  return r;
}

void Site::check(const exec::Result& r, const exec::Command& cmd, const std::string& component, const std::string& what,
                 const std::string& hint)
{
  if (r.ok() || r.planned) return;
  std::string why = util::trim(r.err.empty() ? r.out : r.err);
  if (r.timed_out) why = fmt::format("timed out after {}", util::format_duration(duration_cast<milliseconds>(cmd.timeout)));
  else if (why.empty()) why = fmt::format("exit code {}", r.exit_code);
  // Keep the message readable: the last lines say what went wrong.
  auto lines = util::split(why, '\n');
  if (lines.size() > 12) why = util::join(std::vector<std::string>(lines.end() - 12, lines.end()), "\n");
  throw Error(ExitCode::external, fmt::format("{}: {} failed", component, what), exec::redact(why), hint);
}

std::string Site::binary(const std::string& name, const std::string& package) const
{
  std::string path = find_binary(name);
  if (path.empty())
    throw Error(ExitCode::unavailable, fmt::format("cannot find '{}'", name), "it is not installed",
                fmt::format("install Debian's {} package (./packaging/install-deps.sh does)", package));
  return path;
}

std::string Site::pg_binary(const std::string& name) const
{
  fs::path p = fs::path(config::settings(cfg).postgres.bin_dir) / name;
  if (::access(p.c_str(), X_OK) != 0)
    throw Error(ExitCode::unavailable, fmt::format("cannot find PostgreSQL's '{}' in {}", name, p.parent_path().string()),
                "PostgreSQL 15 is not installed there",
                "install Debian's postgresql-15 package, or set [postgres] bin_dir");
  return p.string();
}

bool signal_member(const Member& member, int sig)
{
  if (member.pid <= 0 || !process_matches(member.pid, member.start_time)) return false;
  return ::kill(member.pid, sig) == 0;
}

void stop_by_signal(Site& site, Member& member, int fast_signal, StopMode mode, milliseconds timeout)
{
  if (site.planning()) {
    site.note(fmt::format("kill -{} {} ({})", mode == StopMode::fast ? fast_signal : SIGKILL, member.pid, member.name));
    return;
  }
  if (member.pid > 0 && process_matches(member.pid, member.start_time)) {
    if (mode == StopMode::fast) {
      signal_member(member, fast_signal);
      if (!wait_for([&] { return !process_matches(member.pid, member.start_time); }, timeout, 50ms)) {
        site.printer.warn(fmt::format("{} did not stop within {}; killing it", member.name, util::format_duration(timeout)));
        signal_member(member, SIGKILL);
      }
    } else {
      signal_member(member, SIGKILL);
    }
    wait_for([&] { return !process_matches(member.pid, member.start_time); }, 5s, 20ms);
  }
  member.pid = 0;
  member.start_time = 0;
}

void await_daemon(Site& site, Member& member, const fs::path& pid_file, milliseconds timeout, int port)
{
  if (site.planning()) return;
  if (port == 0) port = member.port;
  std::optional<int> pid;
  bool up = wait_for([&] {
    pid = read_pidfile(pid_file);
    return pid && process_start_time(*pid) && port_open(port, 200ms);
  }, timeout, 50ms);
  if (!up) {
    bool alive = pid && process_start_time(*pid);
    throw Error(ExitCode::external,
                fmt::format("{}: {} did not start listening on 127.0.0.1:{} within {}", member.name, member.kind, port,
                            util::format_duration(timeout)),
                alive ? "" : fmt::format("it exited; last lines of {}:\n{}", member.log, log_tail(member.log)),
                fmt::format("see {}", member.log));
  }
  member.pid = *pid;
  member.start_time = process_start_time(*pid).value_or(0);
}

std::string log_tail(const std::string& path, std::size_t lines)
{
  auto text = util::read_file(path);
  if (!text) return "(no log)";
  auto all = util::split(util::trim(*text), '\n');
  if (all.size() > lines) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(lines));
  return exec::redact(util::join(all, "\n"));
}

fs::path background_pid_path(const Member& m) { return fs::path(m.dir) / (m.kind + ".pid"); }

void start_background(Site& site, Member& m, const std::string& program, const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& env)
{
  fs::path pid_file = background_pid_path(m);
  if (!site.planning()) {
    auto old = read_pidfile(pid_file);
    if (old && !process_start_time(*old)) fs::remove(pid_file);
  }
  std::vector<std::string> argv = {site.binary("start-stop-daemon", "dpkg"), "--start", "--background", "--make-pidfile",
                                   "--pidfile", pid_file.string(), "--output", m.log, "--chdir", m.dir,
                                   "--exec", program, "--"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto c = site.server_command(argv);
  c.env = env;
  c.timeout = 30s;
  site.run(c, m.name, "starting " + fs::path(program).filename().string(), "see " + m.log);
}

} // namespace statectl::local

#include "core/exec/runner.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "core/exec/redact.h"
#include "core/util/interrupt.h"
#include "core/util/strings.h"

extern char** environ;

namespace statectl::exec {

using namespace std::chrono;

std::string display(const std::vector<std::string>& argv)
{
  std::vector<std::string> q;
  q.reserve(argv.size());
  for (const auto& a : argv) q.push_back(util::shell_quote(a));
  return redact(util::join(q, " "));
}

bool running_as_root() { return ::geteuid() == 0; }

bool find_program(const std::string& argv0, std::string* full_path)
{
  if (argv0.empty()) return false;
  if (argv0.find('/') != std::string::npos) {
    bool ok = ::access(argv0.c_str(), X_OK) == 0;
    if (ok && full_path) *full_path = argv0;
    return ok;
  }
  const char* path = std::getenv("PATH");
  for (const auto& dir : util::split(path ? path : "/usr/local/bin:/usr/bin:/bin", ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + argv0;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      if (full_path) *full_path = candidate;
      return true;
    }
  }
  return false;
}

std::string require_program(const std::string& argv0)
{
  std::string full;
  if (find_program(argv0, &full)) return full;
  // A path names one file: say what is wrong with it rather than blaming PATH.
  if (argv0.find('/') != std::string::npos) {
    struct stat st {};
    std::string why = ::stat(argv0.c_str(), &st) != 0 ? std::strerror(errno)
                      : S_ISDIR(st.st_mode)             ? "it is a directory"
                                                        : "permission denied (not executable)";
    throw Error(ExitCode::unavailable, fmt::format("cannot run '{}'", argv0), why,
                S_ISREG(st.st_mode) ? fmt::format("make it executable: chmod +x {}", argv0) : std::string());
  }
  throw Error(ExitCode::unavailable, fmt::format("cannot run '{}'", argv0), "not found on PATH",
              fmt::format("install the package that provides '{}' or fix PATH", argv0));
}

namespace {

struct Prepared {
  std::string program;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

Prepared prepare(const Command& cmd)
{
  if (cmd.argv.empty()) throw std::logic_error("runner: empty argv");
  Prepared p;
  p.program = require_program(cmd.argv[0]);
  for (const auto& a : cmd.argv) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);

  if (!cmd.run_as.empty() && running_as_root()) {
    struct passwd* pw = ::getpwnam(cmd.run_as.c_str());
    if (!pw)
      throw Error(ExitCode::unavailable, fmt::format("cannot run '{}' as user '{}'", cmd.argv[0], cmd.run_as),
                  "no such user", "create the user or set [local] run_as");
    p.drop = true;
    p.uid = pw->pw_uid;
    p.gid = pw->pw_gid;
    p.home = pw->pw_dir ? pw->pw_dir : "/";
  }

  std::map<std::string, std::string> env;
  if (!cmd.clear_env) {
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string_view::npos) env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
  }
  for (const auto& u : cmd.unset_env) env.erase(u);
  if (p.drop) {
    env["HOME"] = p.home;
    env["USER"] = cmd.run_as;
    env["LOGNAME"] = cmd.run_as;
  }
  for (const auto& [k, v] : cmd.env) env[k] = v;
  for (const auto& [k, v] : env) p.env_storage.push_back(k + "=" + v);
  for (auto& s : p.env_storage) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  return p;
}

void set_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int decode_status(int status, int* sig)
{
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    if (sig) *sig = WTERMSIG(status);
    return 128 + WTERMSIG(status);
  }
  return -1;
}

// Forks and execs; the child gets its own process group and, when asked, the unprivileged user.
// in/out/err are the fds to install as 0/1/2 (-1 = keep statectl's).
pid_t spawn(const Command& cmd, Prepared& p, int in, int out, int err)
{
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0)
    throw Error(ExitCode::external, fmt::format("cannot run '{}'", cmd.argv[0]), std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(errpipe[0]);
    ::close(errpipe[1]);
    throw Error(ExitCode::external, fmt::format("cannot run '{}'", cmd.argv[0]), std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::setpgid(0, 0);
    if (in >= 0) ::dup2(in, 0);
    if (out >= 0) ::dup2(out, 1);
    if (err >= 0) ::dup2(err, 2);
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) ::sigaction(s, &sa, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Nothing but 0, 1 and 2 crosses exec: a server started here (it outlives statectl) must not
    // hold statectl's sockets, lock files or the descriptors of a half-done restore. The user's
    // own commands (lock -- CMD, psql, redis-cli: Io::inherit) keep what the caller gave them,
    // as flock(1) does: `statectl lock L -- sh -c 'echo >&9' 9>file` works.
    if (cmd.io != Io::inherit && ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
      for (int fd = 3; fd < 4096; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (!cmd.cwd.empty() && ::chdir(cmd.cwd.c_str()) != 0) {
      int e = errno;
      [[maybe_unused]] auto n = ::write(errpipe[1], &e, sizeof e);
      ::_exit(127);
    }
    if (p.drop) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(p.gid) != 0 || ::setuid(p.uid) != 0) {
        int e = errno;
        [[maybe_unused]] auto n = ::write(errpipe[1], &e, sizeof e);
        ::_exit(127);
      }
    }
    ::execve(p.program.c_str(), p.argv.data(), p.envp.data());
    int e = errno;
    [[maybe_unused]] auto n = ::write(errpipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::setpgid(pid, pid); // also from the parent, so signal_group works at once
  ::close(errpipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(errpipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(errpipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    ::waitpid(pid, nullptr, 0);
    throw Error(ExitCode::unavailable, fmt::format("cannot run '{}'", cmd.argv[0]), std::strerror(child_errno));
  }
  return pid;
}

void kill_group(pid_t pid, int sig)
{
  if (pid > 0) ::kill(-pid, sig);
}

} // namespace

std::string plan_line(const Command& cmd) { return display(cmd.argv) + (cmd.stdin_data ? " < (stdin)" : ""); }

ProcessRunner::ProcessRunner(DryRun mode, std::ostream* plan, std::function<void(const std::string&)> log)
  : m_mode(mode), m_plan(plan), m_log(std::move(log))
{
}

Result ProcessRunner::run(const Command& cmd)
{
  if (cmd.mutating) {
    if (m_mode == DryRun::undecided)
      throw std::logic_error("runner: mutating command '" + display(cmd.argv) + "' with undecided dry-run");
    if (m_mode == DryRun::plan) {
      if (m_plan) *m_plan << plan_line(cmd) << "\n";
      Result r;
      r.exit_code = 0;
      r.planned = true;
      return r;
    }
  }
  if (m_log) m_log("+ " + display(cmd.argv));
  Prepared p = prepare(cmd);
  Result result;

  if (cmd.io == Io::inherit) {
    Child child = Child::start(cmd);
    auto code = child.wait(cmd.timeout);
    if (!code) {
      result.timed_out = true;
      result.exit_code = child.terminate(cmd.kill_grace);
    } else {
      result.exit_code = *code;
    }
    if (result.exit_code > 128) result.term_signal = result.exit_code - 128;
    return result;
  }

  // SIGINT/SIGTERM while the child runs: stop its whole process group (it runs in its own, so
  // the terminal's Ctrl-C does not reach it) and report the interruption, instead of dying and
  // leaving the child running.
  util::InterruptScope interrupt_scope;
  bool interrupted = false;
  int in_pipe[2] = {-1, -1}, out_pipe[2], err_pipe[2];
  bool feed = cmd.stdin_data.has_value() || static_cast<bool>(cmd.stdin_producer);
  int devnull = -1;
  if (feed) {
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw Error(ExitCode::external, "cannot create pipe", std::strerror(errno));
  } else {
    devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw Error(ExitCode::external, "cannot create pipe", std::strerror(errno));
  pid_t pid;
  try {
    pid = spawn(cmd, p, feed ? in_pipe[0] : devnull, out_pipe[1], err_pipe[1]);
  } catch (...) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], devnull})
      if (fd >= 0) ::close(fd);
    throw;
  }
  if (feed) ::close(in_pipe[0]);
  if (devnull >= 0) ::close(devnull);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  int in_fd = feed ? in_pipe[1] : -1;
  if (in_fd >= 0) set_nonblock(in_fd);
  set_nonblock(out_pipe[0]);
  set_nonblock(err_pipe[0]);
  int out_fd = out_pipe[0], err_fd = err_pipe[0];

  std::string pending = cmd.stdin_data.value_or("");
  std::size_t pending_off = 0;
  bool producer_done = !cmd.stdin_producer;
  auto start = steady_clock::now();
  auto deadline = cmd.timeout.count() > 0 ? start + cmd.timeout : steady_clock::time_point::max();
  std::optional<int> status;
  steady_clock::time_point exited_at;
  char buf[65536];

  auto handle_out = [&](int fd, bool is_err) {
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        std::string_view chunk(buf, static_cast<std::size_t>(n));
        if (cmd.io == Io::stream && !is_err && cmd.on_stdout) cmd.on_stdout(chunk);
        else if (cmd.io == Io::stream && is_err && cmd.on_stderr) cmd.on_stderr(chunk);
        else (is_err ? result.err : result.out).append(chunk);
        continue;
      }
      if (n == 0) return false; // EOF
      if (errno == EINTR) continue;
      return true; // EAGAIN: still open
    }
  };

  while (out_fd >= 0 || err_fd >= 0 || in_fd >= 0 || !status) {
    if (in_fd >= 0 && pending_off >= pending.size()) {
      if (!producer_done) {
        pending.clear();
        pending_off = 0;
        producer_done = !cmd.stdin_producer(pending);
      }
      if (pending_off >= pending.size() && producer_done) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
    std::vector<pollfd> fds;
    if (out_fd >= 0) fds.push_back({out_fd, POLLIN, 0});
    if (err_fd >= 0) fds.push_back({err_fd, POLLIN, 0});
    if (in_fd >= 0 && pending_off < pending.size()) fds.push_back({in_fd, POLLOUT, 0});
    int wait_ms = 50;
    auto now = steady_clock::now();
    interrupted = interrupted || util::interrupt_signal() != 0;
    if ((now >= deadline || interrupted) && !result.timed_out) {
      result.timed_out = !interrupted;
      kill_group(pid, SIGTERM);
      auto grace_end = now + cmd.kill_grace;
      while (steady_clock::now() < grace_end) {
        int st;
        if (::waitpid(pid, &st, WNOHANG) == pid) {
          status = st;
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
      kill_group(pid, SIGKILL);
      if (!status) {
        int st;
        ::waitpid(pid, &st, 0);
        status = st;
      }
      break;
    }
    if (status && now - exited_at > 200ms) break; // a daemonized grandchild may hold our pipes
    ::poll(fds.data(), fds.size(), wait_ms);
    for (auto& f : fds) {
      if (f.revents == 0) continue;
      if (f.fd == out_fd && !handle_out(out_fd, false)) {
        ::close(out_fd);
        out_fd = -1;
      } else if (f.fd == err_fd && !handle_out(err_fd, true)) {
        ::close(err_fd);
        err_fd = -1;
      } else if (f.fd == in_fd) {
        if (f.revents & (POLLERR | POLLHUP)) {
          ::close(in_fd);
          in_fd = -1;
          producer_done = true;
          continue;
        }
        ssize_t n = ::write(in_fd, pending.data() + pending_off, pending.size() - pending_off);
        if (n > 0) pending_off += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          ::close(in_fd); // EPIPE: the child stopped reading
          in_fd = -1;
          producer_done = true;
        }
      }
    }
    if (!status) {
      int st;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        status = st;
        exited_at = steady_clock::now();
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd})
    if (fd >= 0) ::close(fd);
  if (!status) {
    int st;
    ::waitpid(pid, &st, 0);
    status = st;
  }
  result.exit_code = decode_status(*status, &result.term_signal);
  if (interrupted || util::interrupt_signal() != 0)
    throw Error(ExitCode::interrupted, "interrupted", fmt::format("{} was stopped", cmd.argv[0]));
  return result;
}

Child::Child(Child&& other) noexcept : m_pid(other.m_pid), m_status(other.m_status) { other.m_pid = -1; }

Child& Child::operator=(Child&& other) noexcept
{
  std::swap(m_pid, other.m_pid);
  std::swap(m_status, other.m_status);
  return *this;
}

Child::~Child()
{
  if (m_pid > 0 && !m_status) terminate(std::chrono::milliseconds(1000));
}

Child Child::start(const Command& cmd)
{
  Prepared p = prepare(cmd);
  Child c;
  int devnull = -1;
  int in = -1;
  if (cmd.io != Io::inherit) {
    devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    in = devnull;
  }
  try {
    c.m_pid = spawn(cmd, p, in, devnull, cmd.io == Io::inherit ? -1 : devnull);
  } catch (...) {
    if (devnull >= 0) ::close(devnull);
    throw;
  }
  if (devnull >= 0) ::close(devnull);
  return c;
}

std::optional<int> Child::poll()
{
  if (m_status) return m_status;
  if (m_pid <= 0) return std::nullopt;
  int st;
  pid_t r = ::waitpid(m_pid, &st, WNOHANG);
  if (r == m_pid) m_status = decode_status(st, nullptr);
  return m_status;
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout)
{
  if (m_status || m_pid <= 0) return m_status;
  if (timeout.count() <= 0) {
    int st;
    pid_t r;
    do {
      r = ::waitpid(m_pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    if (r == m_pid) m_status = decode_status(st, nullptr);
    return m_status;
  }
  auto end = steady_clock::now() + timeout;
  while (steady_clock::now() < end) {
    if (poll()) return m_status;
    std::this_thread::sleep_for(10ms);
  }
  return poll();
}

void Child::signal_group(int sig) const
{
  if (m_pid > 0 && !m_status) kill_group(m_pid, sig);
}

int Child::terminate(std::chrono::milliseconds grace)
{
  if (m_status) return *m_status;
  signal_group(SIGTERM);
  if (auto code = wait(grace)) return *code;
  signal_group(SIGKILL);
  return wait().value_or(137);
}

} // namespace statectl::exec

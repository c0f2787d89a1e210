#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace statectl::exec {

// How a command's standard streams are connected.
enum class Io {
  capture, // stdout and stderr collected into Result (stdin from Command::stdin_data or /dev/null)
  stream,  // stdout/stderr chunks handed to the callbacks as they arrive (large output)
  inherit, // the child shares statectl's terminal (psql, redis-cli, lock -- CMD)
};

// One external command. argv only, never a shell string.
struct Command {
  std::vector<std::string> argv;
  // Variables set for the child on top of statectl's environment (or instead of it when
  // clear_env is set). Values here are never logged.
  std::map<std::string, std::string> env;
  bool clear_env = false;
  std::vector<std::string> unset_env; // variables removed from the inherited environment
  std::optional<std::string> stdin_data;
  std::chrono::milliseconds timeout{0}; // 0 = no timeout; on expiry TERM then KILL to the group
  std::chrono::milliseconds kill_grace{2000};
  std::string run_as; // drop to this user when statectl runs as root; ignored otherwise
  std::filesystem::path cwd;
  bool mutating = false; // changes something: shown, not run, under --dry-run
  Io io = Io::capture;
  std::function<void(std::string_view)> on_stdout; // Io::stream
  std::function<void(std::string_view)> on_stderr; // Io::stream; default: captured
  // For Io::stream: a producer that writes stdin incrementally (e.g. a large file); return
  // false when done. Takes precedence over stdin_data.
  std::function<bool(std::string& chunk)> stdin_producer;
};

// What happened to a command.
struct Result {
  int exit_code = -1;   // exit status, or 128 + signal when killed by a signal
  int term_signal = 0;  // the signal that ended it, 0 when it exited
  bool timed_out = false;
  bool planned = false; // not run: --dry-run printed it instead
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0 && !timed_out; }
};

// Whether the caller decided the dry-run question. A mutating Command refuses to run while it
// is undecided, so a forgotten --dry-run check fails closed instead of changing things.
enum class DryRun { undecided, execute, plan };

// The command line as one redacted display string ("pg_ctl -D /x start").
std::string display(const std::vector<std::string>& argv);

// The line --dry-run prints for a planned command: its display string, and " < (stdin)" when
// the command would get data on stdin (never the data itself).
std::string plan_line(const Command& cmd);

// The seam between statectl and external programs (ninja's CommandRunner): drivers build
// Commands, a runner executes them. Tests use FakeRunner (tests/support) to record argv.
class Runner {
public:
  virtual ~Runner() = default;
  virtual Result run(const Command& cmd) = 0;
  virtual DryRun dry_run() const = 0;
};

// Runs real child processes (fork/exec, own process group, poll-based I/O).
class ProcessRunner : public Runner {
public:
  // plan receives one line per planned command under --dry-run; log receives "+ argv" lines
  // (redacted) when verbose.
  ProcessRunner(DryRun mode, std::ostream* plan = nullptr, std::function<void(const std::string&)> log = {});

  Result run(const Command& cmd) override;
  DryRun dry_run() const override { return m_mode; }
  void set_dry_run(DryRun mode) { m_mode = mode; }

private:
  DryRun m_mode;
  std::ostream* m_plan;
  std::function<void(const std::string&)> m_log;
};

// A started child in its own process group, for callers that must supervise it while it runs
// (lock -- CMD, servers in the foreground). Io::inherit or Io::capture-less only.
class Child {
public:
  Child() = default;
  Child(Child&&) noexcept;
  Child& operator=(Child&&) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  // Starts cmd (inheriting stdio); throws statectl::Error (unavailable) when argv[0] is missing.
  static Child start(const Command& cmd);

  pid_t pid() const { return m_pid; }
  // Non-blocking: the exit code once the child ended (128 + signal when signalled).
  std::optional<int> poll();
  // Blocks until the child ends, up to timeout (0 = forever).
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Sends sig to the child's whole process group.
  void signal_group(int sig) const;
  // TERM to the group, then KILL after grace; reaps the child. Returns its exit code.
  int terminate(std::chrono::milliseconds grace);

private:
  pid_t m_pid = -1;
  std::optional<int> m_status;
};

// Whether argv0 is found on PATH (or is an executable path).
bool find_program(const std::string& argv0, std::string* full_path = nullptr);

// The full path find_program finds, or throws Error (unavailable) saying why not: not found on
// PATH, or for a path, no such file / a directory / not executable.
std::string require_program(const std::string& argv0);

// True when statectl runs as root and so must drop privileges for PostgreSQL, PgBouncer, Patroni.
bool running_as_root();

} // namespace statectl::exec

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "core/exec/redact.h"
#include "core/exec/runner.h"
#include "tests/support/fake_runner.h"

using namespace statectl::exec;
using namespace std::chrono_literals;

namespace {
ProcessRunner runner(DryRun mode = DryRun::execute, std::ostream* plan = nullptr)
{
  return ProcessRunner(mode, plan);
}
bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }
} // namespace

TEST_CASE("runner: captures stdout, stderr and the exit code")
{
  auto r = runner().run({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});
  CHECK(r.exit_code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");
  CHECK_FALSE(r.timed_out);
}

TEST_CASE("runner: passes stdin bytes, including NUL and large inputs")
{
  std::string data(3 * 1024 * 1024, 'x');
  data[10] = '\0';
  auto r = runner().run({.argv = {"wc", "-c"}, .stdin_data = data});
  CHECK(r.exit_code == 0);
  CHECK(std::stoul(r.out) == data.size());

  auto echo = runner().run({.argv = {"cat"}, .stdin_data = std::string("a\0b", 3)});
  CHECK(echo.out == std::string("a\0b", 3));
}

TEST_CASE("runner: sets an explicit environment")
{
  auto r = runner().run({.argv = {"sh", "-c", "echo \"$FOO:${HOME:-unset}\""}, .env = {{"FOO", "bar"}}, .clear_env = true});
  CHECK(r.out == "bar:unset\n");
}

TEST_CASE("runner: a timeout kills the whole process group, grandchildren included")
{
  auto pidfile = std::filesystem::temp_directory_path() / ("statectl-runner-" + std::to_string(::getpid()));
  auto start = std::chrono::steady_clock::now();
  // The grandchild ignores nothing special; it must die with its group.
  auto r = runner().run({.argv = {"sh", "-c", "sleep 30 & echo $! > " + pidfile.string() + "; wait"},
                         .timeout = 300ms,
                         .kill_grace = 200ms});
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.timed_out);
  CHECK(elapsed < 5s);
  std::ifstream in(pidfile);
  pid_t grandchild = 0;
  in >> grandchild;
  REQUIRE(grandchild > 0);
  // The killed grandchild is reparented and reaped by init; give it a moment.
  for (int i = 0; i < 100 && alive(grandchild); ++i) std::this_thread::sleep_for(20ms);
  CHECK_FALSE(alive(grandchild));
  std::filesystem::remove(pidfile);
}

TEST_CASE("runner: a TERM-ignoring child is killed after the grace period")
{
  auto r = runner().run({.argv = {"sh", "-c", "trap '' TERM; sleep 30"}, .timeout = 200ms, .kill_grace = 200ms});
  CHECK(r.timed_out);
  CHECK(r.term_signal == SIGKILL);
}

TEST_CASE("runner: a missing program is an 'unavailable' error")
{
  try {
    runner().run({.argv = {"statectl-no-such-program"}});
    FAIL("expected an error");
  } catch (const statectl::Error& e) {
    CHECK(e.code() == statectl::ExitCode::unavailable);
    CHECK(e.message() == "cannot run 'statectl-no-such-program': not found on PATH");
  }
}

TEST_CASE("runner: streaming mode hands output over in chunks")
{
  std::size_t total = 0;
  auto r = runner().run({.argv = {"head", "-c", "1000000", "/dev/zero"},
                         .io = Io::stream,
                         .on_stdout = [&](std::string_view chunk) { total += chunk.size(); }});
  CHECK(r.exit_code == 0);
  CHECK(total == 1000000);
  CHECK(r.out.empty());
}

TEST_CASE("runner: secrets are redacted in plans and display")
{
  clear_secrets();
  register_secret("hunter2hunter2");
  CHECK(display({"psql", "-c", "ALTER ROLE x PASSWORD 'hunter2hunter2'"}) == "psql -c 'ALTER ROLE x PASSWORD '\\''****'\\'''");
  std::ostringstream plan;
  auto r = runner(DryRun::plan, &plan).run({.argv = {"kubectl", "apply", "--token=hunter2hunter2"}, .mutating = true});
  CHECK(r.planned);
  CHECK(plan.str() == "kubectl apply --token=****\n");
  CHECK(redact("a hunter2hunter2 b") == "a **** b");
  clear_secrets();
}

TEST_CASE("runner: dry-run plans mutating commands and still runs read-only ones")
{
  std::ostringstream plan;
  auto rr = runner(DryRun::plan, &plan);
  auto touched = std::filesystem::temp_directory_path() / ("statectl-dry-" + std::to_string(::getpid()));
  auto r = rr.run({.argv = {"touch", touched.string()}, .mutating = true});
  CHECK(r.planned);
  CHECK_FALSE(std::filesystem::exists(touched));
  CHECK(plan.str() == "touch " + touched.string() + "\n");
  auto ro = rr.run({.argv = {"echo", "hi"}});
  CHECK(ro.out == "hi\n");
}

TEST_CASE("runner: a mutating command with an undecided dry-run fails closed")
{
  auto rr = runner(DryRun::undecided);
  CHECK_THROWS_AS(rr.run({.argv = {"true"}, .mutating = true}), std::logic_error);
  FakeRunner fake(DryRun::undecided);
  CHECK_THROWS_AS(fake.run({.argv = {"true"}, .mutating = true}), std::logic_error);
}

TEST_CASE("runner: the fake runner records argv and replays results")
{
  FakeRunner fake;
  Result canned;
  canned.exit_code = 4;
  canned.err = "boom";
  fake.push_result(canned);
  CHECK(fake.run({.argv = {"docker", "compose", "up", "-d"}}).exit_code == 4);
  CHECK(fake.run({.argv = {"docker", "ps"}}).exit_code == 0);
  CHECK(fake.command_lines() == std::vector<std::string>{"docker compose up -d", "docker ps"});
}

TEST_CASE("runner: Child runs in its own process group and can be terminated")
{
  auto child = Child::start({.argv = {"sleep", "30"}, .io = Io::capture});
  CHECK(::getpgid(child.pid()) == child.pid());
  CHECK_FALSE(child.poll().has_value());
  int code = child.terminate(500ms);
  CHECK(code == 128 + SIGTERM);
}

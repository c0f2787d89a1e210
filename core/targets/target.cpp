#include "core/targets/target.h"

#include <algorithm>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <mutex>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/targets/common.h"
#include "core/util/strings.h"

namespace statectl::targets {

const std::vector<std::string>& names()
{
  static const std::vector<std::string> all = {"local", "compose", "k8s", "terraform"};
  return all;
}

Switched Target::switchover(const std::string& backend, const std::string& to, std::chrono::milliseconds timeout)
{
  (void)to;
  (void)timeout;
  throw Error(ExitCode::usage, fmt::format("failover switchover --backend {} is not supported on the {} target", backend, name()),
              "the local target, and compose and k8s with [postgres] ha = \"patroni\", can switch over");
}

void Target::check_switchover(const std::string& backend, const std::string& to)
{
  (void)to;
  throw Error(ExitCode::usage, fmt::format("failover switchover --backend {} on the {} target needs Patroni", backend, name()),
              "a planned switchover there is Patroni's (PostgreSQL with [postgres] ha = \"patroni\"); on compose also bare PostgreSQL's "
              "and Sentinel's",
              "use 'statectl failover test' to measure a failover instead");
}

void check_name(const std::string& name)
{
  if (std::find(names().begin(), names().end(), name) == names().end())
    throw Error(ExitCode::usage, fmt::format("unknown target '{}'", name), fmt::format("the targets are {}", util::join(names(), ", ")),
                "pass --target local, compose, k8s or terraform (or set [project] target)");
}

std::unique_ptr<Target> make(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
{
  std::string name = config::settings(cfg).project.target;
  check_name(name);
  if (name == "compose") return detail::make_compose(cfg, runner, printer);
  if (name == "k8s") return detail::make_k8s(cfg, runner, printer);
  if (name == "terraform") return detail::make_terraform(cfg, runner, printer);
  return detail::make_local(cfg, runner, printer);
}

namespace {

// The targets of running commands, by their config; and the ones made here for callers without
// one (each with its own runner and printer), kept until the process ends.
struct Registry {
  std::mutex mutex;
  std::map<const config::Config*, std::function<Target&()>> bound;
  struct Own {
    std::unique_ptr<exec::Runner> runner;
    std::unique_ptr<output::Printer> printer;
    std::unique_ptr<Target> target;
  };
  std::vector<Own> own;
};

Registry& registry()
{
  static Registry r;
  return r;
}

} // namespace

Binding::Binding(const config::Config& cfg, std::function<Target&()> get) : m_cfg(&cfg)
{
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().bound[m_cfg] = std::move(get);
}

Binding::~Binding()
{
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().bound.erase(m_cfg);
}

stack::Endpoints endpoints_of(const config::Config& cfg)
{
  Target* target = nullptr;
  {
    std::unique_lock<std::mutex> lock(registry().mutex);
    auto it = registry().bound.find(&cfg);
    if (it != registry().bound.end()) {
      auto get = it->second;
      lock.unlock();
      return get().endpoints();
    }
    // The local and compose targets read files only; a fresh one per call sees the current state.
    std::string name = config::settings(cfg).project.target;
    if (name == "k8s" || name == "terraform") {
      Registry::Own own;
      own.runner = std::make_unique<exec::ProcessRunner>(exec::DryRun::execute);
      own.printer = std::make_unique<output::Printer>(std::cout, std::cerr, output::Format::text, output::Verbosity::quiet, false);
      own.target = make(cfg, *own.runner, *own.printer);
      target = own.target.get();
      registry().own.push_back(std::move(own));
    }
  }
  if (target) return target->endpoints();
  exec::ProcessRunner runner(exec::DryRun::execute);
  output::Printer printer(std::cout, std::cerr, output::Format::text, output::Verbosity::quiet, false);
  return make(cfg, runner, printer)->endpoints();
}

} // namespace statectl::targets

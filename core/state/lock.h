#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/output/printer.h"
#include "core/state/backend.h"

namespace statectl::state {

// What `lock NAME -- CMD` runs.
struct LockRun {
  std::string name;
  Millis ttl{30000};
  std::optional<Millis> wait; // nullopt: block until acquired
  std::vector<std::string> argv;
  Millis grace{5000};         // TERM -> KILL delay when the lease is lost
};

// Acquires the lease (Error lock_timeout, exit 75, when --wait passes), runs argv in its own
// process group with STATECTL_LOCK_NAME/STATECTL_LOCK_TOKEN, renews every ttl/3 by
// compare-and-set, forwards SIGINT/SIGTERM/SIGHUP to the child's group and releases the lease
// (compare-and-delete) on every exit path. When renewal fails or the lease is gone it stops the
// child (TERM, KILL after grace) and throws Error(lock_lost). Returns the child's exit code.
int run_with_lock(Backend& backend, const LockRun& run, output::Printer& printer);

} // namespace statectl::state

#pragma once

namespace statectl::util {

// While at least one InterruptScope lives, SIGINT and SIGTERM no longer end the process: they
// are recorded (interrupt_signal()) so that the code in the scope can stop what it started
// (children, load generators), clean up and report "interrupted" (exit 130). Scopes nest; the
// previous handlers come back when the outermost one ends.
class InterruptScope {
public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
};

// The signal received while a scope was active (SIGINT or SIGTERM), 0 when none. Safe to call
// from any thread.
int interrupt_signal();

} // namespace statectl::util

// Compiled by the "config key check" tests of tests/CMakeLists.txt, which pass only when the
// compiler REJECTS this file naming the check that failed: a literal config key that the key
// table lacks, or that a getter reads as another type, must be a compile error, not exit 70.
#include "core/config/config.h"

namespace {

[[maybe_unused]] std::int64_t read(const statectl::config::Config& cfg)
{
#if defined(STATECTL_CHECK_unknown_key)
  return cfg.get_int("postgres.replica"); // typo of postgres.replicas
#elif defined(STATECTL_CHECK_wrong_type)
  return cfg.get_int("project.name"); // a string key read as an integer
#else
  return cfg.get_int("postgres.replicas"); // the control: compiles
#endif
}

} // namespace

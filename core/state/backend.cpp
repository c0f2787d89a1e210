#include "core/state/backend.h"

#include "core/error.h"
#include "core/state/postgres.h"
#include "core/state/redis.h"

namespace statectl::state {

std::unique_ptr<Backend> make_backend(const config::Config& cfg, const std::string& backend)
{
  if (backend == "postgres") return make_postgres_backend(cfg);
  if (backend == "redis") return make_redis_backend(cfg);
  throw Error(ExitCode::usage, "unknown state backend '" + backend + "'", "use postgres or redis");
}

} // namespace statectl::state

#include "core/state/backend.h"

#include "core/error.h"

namespace statectl::state {

std::unique_ptr<Backend> make_backend(const config::Config& /*cfg*/, const std::string& backend)
{
  // The PostgreSQL and Redis drivers land in the following commits.
  throw Error(ExitCode::unavailable, "state backend " + backend + " is not built yet");
}

} // namespace statectl::state

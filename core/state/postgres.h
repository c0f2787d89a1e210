#pragma once

#include <memory>

#include "core/config/config_fwd.h"
#include "core/state/backend.h"

namespace statectl::state {

// The PostgreSQL backend: a bytea key/value table with expiry, lease rows with tokens from a
// sequence, and checkpoint tables. Only unnamed statements and single transactions, so it works
// through PgBouncer in transaction pooling; every call is cancelled after [state] timeout.
std::unique_ptr<Backend> make_postgres_backend(const config::Config& cfg);

} // namespace statectl::state

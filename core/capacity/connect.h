#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/clients/postgres.h"
#include "core/config/config_fwd.h"
#include "core/stack/endpoints.h"

namespace statectl::capacity {

// A stack password from the secret store, or nullopt when the store or the secret is absent or
// unreadable (a check then tries without one and reports what the server says).
std::optional<std::string> stack_password(const config::Config& cfg, const std::string& name);

// The connection parameters of `capacity check` for an endpoint (the [postgres] url when set):
// application_name "statectl capacity", connect_timeout in whole seconds (at least 2).
clients::PgParams pg_params(const stack::PgEndpoint& ep, const std::optional<std::string>& password,
                            std::chrono::milliseconds connect_timeout, const std::string& dbname_override = {});

// "host:port" of an endpoint (the URL with its password redacted when set).
std::string pg_target(const stack::PgEndpoint& ep);

// Whether host names this machine (statvfs of a data directory is only meaningful then).
bool is_local_host(const std::string& host);

} // namespace statectl::capacity

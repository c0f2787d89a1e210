#pragma once

// The stack's addresses as the operations above core/clients name them. The types and the
// resolution live in core/clients/endpoint.h, below every operation that connects (backup,
// state, capacity, failover) and below the targets that supply them.

#include "core/clients/endpoint.h"

namespace statectl::stack {

using clients::Endpoints;
using clients::HostPort;
using clients::PgEndpoint;
using clients::redis_address_map;

// Resolves the endpoints of the current config through its target (clients::resolve_endpoints).
inline Endpoints resolve(const config::Config& cfg) { return clients::resolve_endpoints(cfg); }

} // namespace statectl::stack

#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/capacity/check.h"

// What `capacity check` reads from one Redis server's INFO, the same on a single master and on
// each master of a Cluster.
namespace statectl::capacity::redis_node {

// An empty result of check `name` on the Redis server at target (component "redis").
CheckResult result(const std::string& name, const std::string& target);

// The unsigned number of an INFO field; 0 when it is missing or not a number.
std::uint64_t number(const std::map<std::string, std::string>& info, const std::string& field);

// redis_memory (used against maxmemory, else against the machine's memory) and redis_evictions
// of the server at target, from its INFO fields, appended to out.
void memory_checks(const std::map<std::string, std::string>& info, const Thresholds& t, const std::string& target,
                   std::vector<CheckResult>& out);

} // namespace statectl::capacity::redis_node

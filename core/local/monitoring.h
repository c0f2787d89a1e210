#pragma once

// [monitoring] enabled on the local target: one postgres_exporter per PostgreSQL member, one
// redis_exporter for every Redis server and Sentinel (multi-target /scrape), and Prometheus with
// the rendered scrape config and alert rules. Each is a member of the stack like the servers.

#include <chrono>
#include <string>
#include <vector>

#include "core/local/site.h"
#include "core/local/state.h"

namespace statectl::local::monitoring {

// Whether kind is one of the monitoring members' (postgres_exporter, redis_exporter, prometheus).
bool is_monitoring_kind(const std::string& kind);

// The members for the PostgreSQL members' ports pg_ports (index order), in start order.
std::vector<Member> describe(const Site& site, const std::vector<int>& pg_ports);

// Writes the member's files: the exporter queries, the redis_exporter password map (0600), or
// prometheus.yml and alerts.yml for the stack's members.
void configure(Site& site, const Member& m, const StackState& state);

// Starts the member in the background (start-stop-daemon), postgres_exporter with its password
// in the child's environment only, and waits until its port answers.
void start(Site& site, Member& m, const StackState& state);
void stop(Site& site, Member& m, StopMode mode, std::chrono::milliseconds timeout);

// After the stack's members changed: rewrites a running member's files and makes it read them
// (Prometheus reloads on SIGHUP; redis_exporter, which reads its password map once, restarts).
void refresh(Site& site, Member& m, const StackState& state);

// Health: the exporter's /metrics or Prometheus's /-/ready answers 200. error says why not.
bool healthy(const Member& m, std::string& error);

} // namespace statectl::local::monitoring

#pragma once

// A Redis Cluster on the compose target ([redis] mode = "cluster", not a public API): the
// services redis-node-0..N-1 of the render (templates/compose/docker-compose.yml), formed by
// statectl after `up` with `redis-cli --cluster create` inside redis-node-0, the way an operator
// would; each node announces its service name, which the client maps to the node's published
// loopback port.

#include <chrono>
#include <string>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/deploy/tools.h"
#include "core/targets/common.h"

namespace statectl::targets::detail::compose_cluster {

// Whether the compose render runs Redis as a cluster.
bool enabled(const config::Config& cfg);

// The node services of the render, "redis-node-0".."redis-node-N-1" (N = cluster_masters x
// (1 + cluster_replicas)).
std::vector<std::string> node_services(const config::Config& cfg);

// The address map of the nodes: "redis-node-N:6379" (what a node announces) -> 127.0.0.1 and
// the port the render publishes for it (`ports`: service -> published port).
clients::AddressMap address_map(const std::vector<std::string>& services, const std::map<std::string, int>& ports);

// After `up`: waits until every node answers, forms the cluster when all nodes are new
// (`redis-cli --cluster create ADDRESSES --cluster-replicas R --cluster-yes` in redis-node-0, the
// password read inside the container), accepts a complete cluster as it is (a deploy after a
// stop or a second deploy), and waits until every node reports cluster_state:ok and knows every
// other. Under --dry-run plans the create only. Throws Error(failed) for a cluster that is
// neither new nor complete (the hint says how to start over), Error(external) when a node does
// not answer or the create fails.
void form(Remote& t, const deploy::Compose& compose, std::chrono::milliseconds timeout);

// Fills in the node rows of `status` (services[i] is rows[i]'s service): the role each node
// reports (master / replica) and, for masters, how many slots they serve; a node whose
// cluster_state is not ok is unhealthy. Returns the problems of the cluster as a whole (slots
// not all assigned).
std::vector<std::string> annotate(Remote& t, const deploy::Compose& compose, const std::vector<std::string>& services,
                                  std::vector<ComponentRow>& rows);

} // namespace statectl::targets::detail::compose_cluster

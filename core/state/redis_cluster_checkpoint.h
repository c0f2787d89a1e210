// Checkpoints of a Redis Cluster in bounded steps, like a single master's
// (core/state/redis_checkpoint.h): every master's key space is walked with a SCAN cursor from the
// client, about 500 keys a step; a step reads those keys' values, TTLs and metadata in one
// pipeline and writes them into one chunk of hashes under the checkpoint's hash tag
// (<ip>checkpoint:{ID}:<chunk>:{v,m,x}, so every chunk is in one slot). Restore deletes the state
// keys master by master in the same steps and writes the chunks back one at a time. Memory is
// bounded by a step, not by the key count. Neither is one atomic snapshot: a cluster has no one
// place that sees every key at one instant, and a key written meanwhile may be in it or not.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/clients/redis.h"
#include "core/clients/redis_cluster.h"
#include "core/state/backend.h"

namespace statectl::state::redis_cluster_checkpoint {

// How the steps reach the cluster, each with the backend's timeout, redirects and error mapping.
struct Cluster {
  std::function<std::vector<std::string>()> masters;                                                        // "host:port", now
  std::function<clients::RedisValue(const std::string& node, const std::vector<std::string>& args)> command_at; // no redirects
  std::function<clients::RedisValue(const std::vector<std::string>& args, int slot)> command;                 // routed by slot
  // Routed and pipelined; with allow_errors false an error reply throws.
  std::function<std::vector<clients::RedisValue>(const std::vector<clients::RoutedCommand>&, bool allow_errors)> pipeline;
  std::function<void(const clients::RedisValue&, clients::RedisValue::Type, const std::string&)> expect;
  std::function<int(const std::string& user_key)> slot;              // the slot of a user key's value
  std::function<std::string(const std::string& user_key)> meta_key;  // its metadata key (same slot)
};

// kp: the key prefix of the state keys; ip: the internal prefix (metadata, checkpoints).
CheckpointInfo create(const Cluster& c, const std::string& kp, const std::string& ip, const std::string& name);
// Also restores a checkpoint made before the chunks (one hash per part under the id's tag, read
// whole as before).
CheckpointInfo restore(const Cluster& c, const std::string& kp, const std::string& ip, const std::string& id);

} // namespace statectl::state::redis_cluster_checkpoint

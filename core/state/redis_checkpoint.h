// Checkpoints of a Redis master (Sentinel or standalone) in bounded steps: the key space is walked
// with a SCAN cursor from the client, and each step copies (or writes back) at most a few
// thousand keys in one short script, so the server is never blocked for more than a few
// milliseconds: a checkpoint of a million keys cannot make Sentinel fail the master over.
// The price is that a checkpoint is not one instant: each key is copied atomically with its
// metadata and TTL, but a key written while the checkpoint runs may be in it or not.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/clients/redis.h"
#include "core/state/backend.h"

namespace statectl::state::redis_checkpoint {

// How the steps reach the server: one command, with the backend's timeout, reconnection and
// error mapping; `expect` checks a reply's type (throwing the backend's error otherwise).
struct Server {
  std::function<clients::RedisValue(const std::vector<std::string>&)> command;
  std::function<void(const clients::RedisValue&, clients::RedisValue::Type, const std::string&)> expect;
};

// kp: the key prefix of the state keys; ip: the internal prefix (metadata, checkpoints).
CheckpointInfo create(const Server& s, const std::string& kp, const std::string& ip, const std::string& name);
CheckpointInfo restore(const Server& s, const std::string& kp, const std::string& ip, const std::string& id);

// Shared with the Redis Cluster's checkpoints (core/state/redis_cluster_checkpoint.h):
// The record of unfinished checkpoints at <ip>checkpoint:pending, one short script: op 'begin'
// records id and returns the entries whose lease ran out (id/chunks pairs, removed from the
// record), 'step' extends id's lease (chunks written so far), 'end' removes id.
clients::RedisValue pending(const Server& s, const std::string& ip, const std::string& op, const std::string& id, std::int64_t chunks);
// Deletes the chunk hashes <base>:<c>:{v,m,x} for c in 0..chunks-1, a few hundred keys per DEL
// (on a cluster base carries a hash tag, so they share one slot).
void drop_chunks(const Server& s, const std::string& base, std::int64_t chunks);
// A reply element as an integer (an integer reply, or a string of digits).
std::int64_t int_of(const clients::RedisValue& v);

} // namespace statectl::state::redis_checkpoint

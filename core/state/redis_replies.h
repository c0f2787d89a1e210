#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clients/redis.h"
#include "core/error.h"
#include "core/state/backend.h"

// What the two Redis backends (one master, a Cluster) read out of the same replies: they send
// the same commands for the same keys and differ only in where a command goes.
namespace statectl::state::redis_replies {

// Throws Error(failed, "redis <what> failed at <address>") unless r has the expected type (the
// server's error text as the detail when it answered with an error).
void expect(const clients::RedisValue& r, clients::RedisValue::Type type, const std::string& what, const std::string& address);

// One entry of `keys` from the replies to STRLEN value, PTTL value and GET metadata; nothing when
// the key expired (or changed type) between SCAN and the lookups.
std::optional<KeyInfo> key_info(std::string name, const clients::RedisValue& strlen, const clients::RedisValue& pttl,
                                const clients::RedisValue& meta);

// `ttl` of a key from its PTTL reply (-2: no such key, -1: no TTL).
TtlInfo ttl_info(const clients::RedisValue& pttl);

// The values DEL replies counted, reading every `stride`-th reply from the first (the value
// keys; their metadata keys' DELs in between do not count).
std::uint64_t deleted(const std::vector<clients::RedisValue>& replies, std::size_t stride);

// One lease of `locks` from the replies to HMGET lock token owner and PTTL lock; nothing when
// it expired meanwhile or is malformed.
std::optional<LockInfo> lock_info(const std::string& name, const clients::RedisValue& hmget, const clients::RedisValue& pttl);

// The error of a lease the replicas did not confirm (it was released again).
Error lock_not_granted(const std::string& name, const std::string& why, const std::string& hint);

// A checkpoint's description from its JSON record (numbers may come as floats from Lua's
// cjson); an empty CheckpointInfo when the record is not a JSON object.
CheckpointInfo checkpoint_info(const std::string& json);

// Every checkpoint of an HGETALL reply of the checkpoints hash, by id (numerically).
std::vector<CheckpointInfo> checkpoint_infos(const clients::RedisValue& hgetall);

// Throws Error(usage) unless id looks like a checkpoint id (1..18 decimal digits).
void check_checkpoint_id(const std::string& id);

} // namespace statectl::state::redis_replies

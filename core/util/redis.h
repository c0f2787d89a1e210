#pragma once

#include <hiredis/hiredis.h>
#include <memory>
#include <string>
#include <vector>

namespace statectl::util {

// Owning handles of hiredis objects.
struct RedisFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct RedisReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisConn = std::unique_ptr<redisContext, RedisFree>;
using RedisReply = std::unique_ptr<redisReply, RedisReplyFree>;

// Runs one command given as separate arguments (binary-safe: values are never formatted into a
// command string). Null when the connection failed; c->errstr says why.
RedisReply redis_command(redisContext* c, const std::vector<std::string>& args);

} // namespace statectl::util

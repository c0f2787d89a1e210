#pragma once

// The Lua scripts both Redis backends run (core/state/redis.cpp on one master,
// core/state/redis_cluster.cpp on a cluster, where every key a script is given shares one slot).

namespace statectl::state::redis_scripts {

// Sets a value and its metadata blob with the same TTL; with ARGV[4] = '1' only when absent.
inline constexpr const char* k_put_script = R"lua(
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[3])
end
return 1
)lua";

// The token comes from INCR in the same script as the NX write of the lease, so grants are
// strictly ordered per name.
inline constexpr const char* k_acquire_script = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local t = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'token', t, 'owner', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return t
)lua";

// Renew and release act only on our own lease: token and owner must both match, so a token
// handed out again (by a server that lost the grant) never lets one holder touch another's lease.
inline constexpr const char* k_renew_script = R"lua(
local h = redis.call('HMGET', KEYS[1], 'token', 'owner')
if h[1] == ARGV[1] and h[2] == ARGV[3] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua";

// The compare-and-delete counterpart of k_renew_script: releases only our own lease.
inline constexpr const char* k_release_script = R"lua(
local h = redis.call('HMGET', KEYS[1], 'token', 'owner')
if h[1] == ARGV[1] and h[2] == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

} // namespace statectl::state::redis_scripts

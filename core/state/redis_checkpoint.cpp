#include "core/state/redis_checkpoint.h"

#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/state/redis.h"
#include "core/state/redis_replies.h"

namespace statectl::state::redis_checkpoint {

using Type = clients::RedisValue::Type;

namespace {

// Keys a step's SCAN asks for (a hint: Redis may return a few more). About 500 keys is a few
// milliseconds of script time on a small machine.
constexpr int k_ckpt_scan_count = 500;
// How long an unfinished checkpoint's record lives without a step; after that the next
// `checkpoint create` removes what it wrote.
constexpr std::int64_t k_ckpt_lease_ms = 120000;
// Chunk hashes removed per DEL when an abandoned checkpoint is cleaned up.
constexpr int k_ckpt_del_keys = 300;

// One step of create: one SCAN call from cursor ARGV[6], and every string key it returns copied
// with its metadata and absolute expiry into the chunk hashes <base>:<chunk>:{v,m,x}. Returns
// {next cursor, keys copied, bytes copied}.
const char* k_ckpt_copy_step = R"lua(
local pattern, kp, ip, base, chunk = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local r = redis.call('SCAN', ARGV[6], 'MATCH', pattern, 'COUNT', tonumber(ARGV[7]))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cv, cm, cx = base .. ':' .. chunk .. ':v', base .. ':' .. chunk .. ':m', base .. ':' .. chunk .. ':x'
local n, bytes = 0, 0
for _, k in ipairs(r[2]) do
  if string.sub(k, 1, #ip) ~= ip and redis.call('TYPE', k).ok == 'string' then
    local v = redis.call('GET', k)
    local pttl = redis.call('PTTL', k)
    if v and pttl ~= -2 then
      local user = string.sub(k, #kp + 1)
      redis.call('HSET', cv, user, v)
      local m = redis.call('GET', ip .. 'meta:' .. user)
      if m then redis.call('HSET', cm, user, m) end
      if pttl > 0 then redis.call('HSET', cx, user, tostring(now + pttl)) end
      n = n + 1
      bytes = bytes + #user + #v
    end
  end
end
return {r[1], n, bytes}
)lua";

// One step of restore's first half: one SCAN call, and every state key it returns deleted with
// its metadata. Returns the next cursor.
const char* k_ckpt_clear_step = R"lua(
local pattern, kp, ip = ARGV[1], ARGV[2], ARGV[3]
local r = redis.call('SCAN', ARGV[4], 'MATCH', pattern, 'COUNT', tonumber(ARGV[5]))
for _, k in ipairs(r[2]) do
  if string.sub(k, 1, #ip) ~= ip then redis.call('DEL', k, ip .. 'meta:' .. string.sub(k, #kp + 1)) end
end
return r[1]
)lua";

// One step of restore's second half: the hashes ARGV[3]:{v,m,x} written back (one chunk; or the
// whole of a checkpoint made before the stepwise format, which has one hash per part and so is
// restored in one script, blocking the server as long as it always did); a key whose expiry has
// passed stays absent. Returns the keys written.
const char* k_ckpt_write_step = R"lua(
local kp, ip, c = ARGV[1], ARGV[2], ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local vals = redis.call('HGETALL', c .. ':v')
local n = 0
for i = 1, #vals, 2 do
  local user, v = vals[i], vals[i + 1]
  local x = redis.call('HGET', c .. ':x', user)
  local m = redis.call('HGET', c .. ':m', user)
  if x then
    local left = tonumber(x) - now
    if left > 0 then
      redis.call('SET', kp .. user, v, 'PX', left)
      if m then redis.call('SET', ip .. 'meta:' .. user, m, 'PX', left) end
      n = n + 1
    end
  else
    redis.call('SET', kp .. user, v)
    if m then redis.call('SET', ip .. 'meta:' .. user, m) end
    n = n + 1
  end
end
return n
)lua";

// The record of unfinished checkpoints, KEYS[1] (a JSON object id -> {until, chunks}), kept by
// one script so concurrent runs do not lose each other's entries. ARGV: op, id, chunks, lease,
// where op is 'begin' (returns the entries whose lease ran out, as id/chunks pairs, and removes
// them), 'step' (extends the lease) or 'end' (removes the entry).
const char* k_ckpt_pending = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local raw = redis.call('GET', KEYS[1])
local p = {}
if raw then p = cjson.decode(raw) end
local out = {}
if ARGV[1] == 'begin' then
  for id, e in pairs(p) do
    if tonumber(e['until']) < now then
      out[#out + 1] = id
      out[#out + 1] = tostring(e['chunks'])
      p[id] = nil
    end
  end
end
if ARGV[1] == 'end' then p[ARGV[2]] = nil else p[ARGV[2]] = {['until'] = now + tonumber(ARGV[4]), chunks = tonumber(ARGV[3])} end
if next(p) == nil then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], cjson.encode(p)) end
return out
)lua";


std::string base_of(const std::string& ip, const std::string& id) { return ip + "checkpoint:" + id; }

} // namespace

std::int64_t int_of(const clients::RedisValue& v)
{
  if (v.type == Type::integer) return v.integer;
  return std::atoll(v.str.c_str());
}

clients::RedisValue pending(const Server& s, const std::string& ip, const std::string& op, const std::string& id, std::int64_t chunks)
{
  auto r = s.command({"EVAL", k_ckpt_pending, "1", ip + "checkpoint:pending", op, id, std::to_string(chunks),
                      std::to_string(k_ckpt_lease_ms)});
  s.expect(r, Type::array, "checkpoint record");
  return r;
}

void drop_chunks(const Server& s, const std::string& base, std::int64_t chunks)
{
  std::vector<std::string> del{"DEL"};
  auto flush = [&] {
    if (del.size() > 1) s.command(del);
    del.resize(1);
  };
  for (std::int64_t c = 0; c < chunks; ++c) {
    for (const char* part : {":v", ":m", ":x"}) del.push_back(fmt::format("{}:{}{}", base, c, part));
    if (static_cast<int>(del.size()) > k_ckpt_del_keys) flush();
  }
  flush();
}

CheckpointInfo create(const Server& s, const std::string& kp, const std::string& ip, const std::string& name)
{
  auto seq = s.command({"INCR", ip + "checkpoint:seq"});
  s.expect(seq, Type::integer, "checkpoint create");
  std::string id = std::to_string(seq.integer);
  std::string base = base_of(ip, id);

  // Record this run first, and remove what runs that stopped half-way (killed, or lost their
  // connection for longer than the lease) left behind.
  auto abandoned = pending(s, ip, "begin", id, 0);
  for (std::size_t i = 0; i + 1 < abandoned.elements.size(); i += 2)
    drop_chunks(s, base_of(ip, abandoned.elements[i].str), int_of(abandoned.elements[i + 1]));

  auto now = s.command({"TIME"});
  s.expect(now, Type::array, "checkpoint create");
  std::int64_t created = now.elements.size() == 2 ? int_of(now.elements[0]) * 1000 + int_of(now.elements[1]) / 1000 : 0;

  std::int64_t chunks = 0;
  std::uint64_t keys = 0, bytes = 0;
  std::string pattern = redis_glob_escape(kp) + "*";
  std::string cursor = "0";
  try {
    do {
      auto r = s.command({"EVAL", k_ckpt_copy_step, "0", pattern, kp, ip, base, std::to_string(chunks), cursor,
                          std::to_string(k_ckpt_scan_count)});
      s.expect(r, Type::array, "checkpoint create");
      if (r.elements.size() != 3) throw Error(ExitCode::failed, "redis checkpoint create failed", "unexpected reply of a checkpoint step");
      cursor = r.elements[0].str;
      std::int64_t n = int_of(r.elements[1]);
      if (n > 0) {
        ++chunks;
        keys += static_cast<std::uint64_t>(n);
        bytes += static_cast<std::uint64_t>(int_of(r.elements[2]));
        if (chunks % 64 == 0) pending(s, ip, "step", id, chunks);
      }
    } while (cursor != "0");
    nlohmann::json info = {{"id", id}, {"name", name}, {"created", created}, {"keys", keys}, {"bytes", bytes}, {"chunks", chunks}};
    auto r = s.command({"HSET", ip + "checkpoints", id, info.dump()});
    s.expect(r, Type::integer, "checkpoint create");
    pending(s, ip, "end", id, chunks);
    return redis_replies::checkpoint_info(info.dump());
  } catch (...) {
    // Best effort: the record's lease lets the next create remove what is left if this fails too.
    try {
      drop_chunks(s, base, chunks + 1);
      pending(s, ip, "end", id, 0);
    } catch (...) {
    }
    throw;
  }
}

CheckpointInfo restore(const Server& s, const std::string& kp, const std::string& ip, const std::string& id)
{
  redis_replies::check_checkpoint_id(id);
  auto rec = s.command({"HGET", ip + "checkpoints", id});
  if (rec.is_nil())
    throw Error(ExitCode::failed, fmt::format("checkpoint {} not found", id), {}, "list checkpoints with: statectl checkpoint list");
  s.expect(rec, Type::string, "checkpoint restore");
  auto info = nlohmann::json::parse(rec.str, nullptr, false);
  std::string pattern = redis_glob_escape(kp) + "*";
  bool legacy = info.is_discarded() || !info.is_object() || !info.contains("chunks");
  std::string cursor = "0";
  do {
    auto r = s.command({"EVAL", k_ckpt_clear_step, "0", pattern, kp, ip, cursor, std::to_string(k_ckpt_scan_count)});
    s.expect(r, Type::string, "checkpoint restore");
    cursor = r.str;
  } while (cursor != "0");
  if (legacy) {
    auto r = s.command({"EVAL", k_ckpt_write_step, "0", kp, ip, base_of(ip, id)});
    s.expect(r, Type::integer, "checkpoint restore");
    return redis_replies::checkpoint_info(rec.str);
  }
  auto chunks = info.value("chunks", std::int64_t{0});
  std::string base = base_of(ip, id);
  for (std::int64_t c = 0; c < chunks; ++c) {
    auto r = s.command({"EVAL", k_ckpt_write_step, "0", kp, ip, fmt::format("{}:{}", base, c)});
    s.expect(r, Type::integer, "checkpoint restore");
  }
  return redis_replies::checkpoint_info(rec.str);
}

} // namespace statectl::state::redis_checkpoint

#include "core/state/redis_cluster_checkpoint.h"

#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/state/common.h"
#include "core/state/redis.h"
#include "core/state/redis_checkpoint.h"
#include "core/state/redis_replies.h"

namespace statectl::state::redis_cluster_checkpoint {

using clients::RedisValue;
using clients::RoutedCommand;
using Type = RedisValue::Type;

namespace {

// Keys a step's SCAN asks each master for (a hint: Redis may return a few more).
constexpr const char* k_cc_scan_count = "500";
// The unfinished-checkpoint record's lease is extended every this many chunks.
constexpr std::int64_t k_cc_lease_every = 64;

std::string cc_base(const std::string& ip, const std::string& id) { return ip + "checkpoint:{" + id + "}"; }

// redis_checkpoint's record and chunk removal, every command sent to one slot.
redis_checkpoint::Server cc_at_slot(const Cluster& c, int slot)
{
  return {[&c, slot](const std::vector<std::string>& args) { return c.command(args, slot); }, c.expect};
}

// Every master's state keys, SCAN call by SCAN call: step gets the user keys (without the key
// prefix) of one call, at most a few hundred.
void cc_each_step(const Cluster& c, const std::string& kp, const std::string& ip, const std::function<void(std::vector<std::string>&)>& step)
{
  std::string pattern = redis_glob_escape(kp) + "*";
  for (const auto& node : c.masters()) {
    std::string cursor = "0";
    do {
      auto r = c.command_at(node, {"SCAN", cursor, "MATCH", pattern, "COUNT", k_cc_scan_count});
      c.expect(r, Type::array, "SCAN");
      cursor = r.elements.at(0).str;
      std::vector<std::string> names;
      for (auto& e : r.elements.at(1).elements)
        if (e.str.compare(0, ip.size(), ip) != 0) names.push_back(e.str.substr(kp.size()));
      if (!names.empty()) step(names);
    } while (cursor != "0");
  }
}

// Writes back one page of <hashes>:v (field/value pairs) with the keys' metadata and expiry from
// <hashes>:m and <hashes>:x; a key whose expiry has passed stays absent.
void cc_write_back(const Cluster& c, const std::string& kp, const std::string& hashes, int bs, const std::vector<RedisValue>& pairs)
{
  std::size_t n = pairs.size() / 2;
  if (n == 0) return;
  std::vector<std::string> hm{"HMGET", hashes + ":m"}, hx{"HMGET", hashes + ":x"};
  for (std::size_t i = 0; i < n; ++i) {
    hm.push_back(pairs[2 * i].str);
    hx.push_back(pairs[2 * i].str);
  }
  auto mx = c.pipeline({{std::move(hm), bs}, {std::move(hx), bs}}, false);
  for (const auto& r : mx) {
    c.expect(r, Type::array, "checkpoint restore");
    if (r.elements.size() != n) throw Error(ExitCode::failed, "redis checkpoint restore failed", "unexpected reply to HMGET");
  }
  std::int64_t now = now_ms();
  std::vector<RoutedCommand> writes;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& user = pairs[2 * i].str;
    std::vector<std::string> ex;
    if (const auto& x = mx[1].elements[i]; x.type == Type::string) {
      std::int64_t left = std::atoll(x.str.c_str()) - now;
      if (left <= 0) continue;
      ex = {"PX", std::to_string(left)};
    }
    int s = c.slot(user);
    std::vector<std::string> set{"SET", kp + user, pairs[2 * i + 1].str};
    set.insert(set.end(), ex.begin(), ex.end());
    writes.push_back({std::move(set), s});
    if (const auto& m = mx[0].elements[i]; m.type == Type::string) {
      std::vector<std::string> sm{"SET", c.meta_key(user), m.str};
      sm.insert(sm.end(), ex.begin(), ex.end());
      writes.push_back({std::move(sm), s});
    }
  }
  if (!writes.empty()) c.pipeline(writes, false);
}

} // namespace

CheckpointInfo create(const Cluster& c, const std::string& kp, const std::string& ip, const std::string& name)
{
  std::string seq = ip + "checkpoint:seq";
  auto id_reply = c.command({"INCR", seq}, clients::key_slot(seq));
  c.expect(id_reply, Type::integer, "checkpoint create");
  std::string id = std::to_string(id_reply.integer);
  std::string base = cc_base(ip, id);
  int bs = clients::key_slot(base);
  auto record = cc_at_slot(c, clients::key_slot(ip + "checkpoint:pending"));

  // Record this run first, and remove what runs that stopped half-way left behind.
  auto abandoned = redis_checkpoint::pending(record, ip, "begin", id, 0);
  for (std::size_t i = 0; i + 1 < abandoned.elements.size(); i += 2) {
    std::string other = cc_base(ip, abandoned.elements[i].str);
    redis_checkpoint::drop_chunks(cc_at_slot(c, clients::key_slot(other)), other, redis_checkpoint::int_of(abandoned.elements[i + 1]));
  }

  std::int64_t created = now_ms();
  std::int64_t chunks = 0;
  std::uint64_t keys = 0, bytes = 0;
  try {
    // A key that moves between masters during a resharding may be seen on both: the chunks then
    // hold it twice (restore writes it twice) and the key count counts it twice.
    cc_each_step(c, kp, ip, [&](std::vector<std::string>& names) {
      std::vector<RoutedCommand> reads;
      reads.reserve(3 * names.size());
      for (const auto& n : names) {
        int s = c.slot(n);
        reads.push_back({{"GET", kp + n}, s});
        reads.push_back({{"PTTL", kp + n}, s});
        reads.push_back({{"GET", c.meta_key(n)}, s});
      }
      auto r = c.pipeline(reads, true);
      std::int64_t now = now_ms();
      std::string chunk = fmt::format("{}:{}", base, chunks);
      std::vector<std::string> v{"HSET", chunk + ":v"}, m{"HSET", chunk + ":m"}, x{"HSET", chunk + ":x"};
      std::uint64_t copied = 0;
      for (std::size_t i = 0; i < names.size(); ++i) {
        const auto& val = r[3 * i];
        const auto& pttl = r[3 * i + 1];
        const auto& meta = r[3 * i + 2];
        if (val.type != Type::string || pttl.type != Type::integer || pttl.integer == -2) continue; // gone, or not a string
        bytes += names[i].size() + val.str.size();
        if (meta.type == Type::string) m.insert(m.end(), {names[i], meta.str});
        if (pttl.integer > 0) x.insert(x.end(), {names[i], std::to_string(now + pttl.integer)});
        v.insert(v.end(), {std::move(names[i]), val.str});
        ++copied;
      }
      if (copied == 0) return;
      std::vector<RoutedCommand> writes;
      for (auto* cmd : {&v, &m, &x})
        if (cmd->size() > 2) writes.push_back({std::move(*cmd), bs});
      c.pipeline(writes, false);
      ++chunks;
      keys += copied;
      if (chunks % k_cc_lease_every == 0) redis_checkpoint::pending(record, ip, "step", id, chunks);
    });
    nlohmann::json info = {{"id", id}, {"name", name}, {"created", created}, {"keys", keys}, {"bytes", bytes}, {"chunks", chunks}};
    std::string list = ip + "checkpoints";
    c.expect(c.command({"HSET", list, id, info.dump()}, clients::key_slot(list)), Type::integer, "checkpoint create");
    redis_checkpoint::pending(record, ip, "end", id, chunks);
    return redis_replies::checkpoint_info(info.dump());
  } catch (...) {
    // Best effort: the record's lease lets the next create remove what is left if this fails too.
    try {
      redis_checkpoint::drop_chunks(cc_at_slot(c, bs), base, chunks + 1);
      redis_checkpoint::pending(record, ip, "end", id, 0);
    } catch (...) {
    }
    throw;
  }
}

CheckpointInfo restore(const Cluster& c, const std::string& kp, const std::string& ip, const std::string& id)
{
  redis_replies::check_checkpoint_id(id);
  std::string list = ip + "checkpoints";
  auto rec = c.command({"HGET", list, id}, clients::key_slot(list));
  if (rec.is_nil())
    throw Error(ExitCode::failed, fmt::format("checkpoint {} not found", id), {}, "list checkpoints with: statectl checkpoint list");
  c.expect(rec, Type::string, "checkpoint restore");
  auto info = nlohmann::json::parse(rec.str, nullptr, false);
  bool legacy = info.is_discarded() || !info.is_object() || !info.contains("chunks");
  std::string base = cc_base(ip, id);
  int bs = clients::key_slot(base);

  // Every state key and its metadata deleted, master by master, then the chunks written back.
  cc_each_step(c, kp, ip, [&](std::vector<std::string>& names) {
    std::vector<RoutedCommand> dels;
    dels.reserve(2 * names.size());
    for (const auto& n : names) {
      int s = c.slot(n);
      dels.push_back({{"DEL", kp + n}, s});
      dels.push_back({{"DEL", c.meta_key(n)}, s});
    }
    c.pipeline(dels, false);
  });
  // A checkpoint made before the chunks is one hash per part, read whole as it always was.
  std::int64_t chunks = legacy ? 1 : info.value("chunks", std::int64_t{0});
  for (std::int64_t ch = 0; ch < chunks; ++ch) {
    std::string hashes = legacy ? base : fmt::format("{}:{}", base, ch);
    auto r = c.command({"HGETALL", hashes + ":v"}, bs);
    c.expect(r, Type::array, "checkpoint restore");
    cc_write_back(c, kp, hashes, bs, r.elements);
  }
  return redis_replies::checkpoint_info(rec.str);
}

} // namespace statectl::state::redis_cluster_checkpoint

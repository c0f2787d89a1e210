#include "core/state/redis_replies.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

namespace statectl::state::redis_replies {

using clients::RedisValue;
using Type = RedisValue::Type;

void expect(const RedisValue& r, Type type, const std::string& what, const std::string& address)
{
  if (r.type == type) return;
  if (r.is_error()) throw Error(ExitCode::failed, fmt::format("redis {} failed at {}", what, address), r.str);
  throw Error(ExitCode::failed, fmt::format("redis {} failed at {}", what, address), "unexpected reply type");
}

std::optional<KeyInfo> key_info(std::string name, const RedisValue& strlen, const RedisValue& pttl, const RedisValue& meta)
{
  if (strlen.type != Type::integer || pttl.type != Type::integer || pttl.integer == -2) return std::nullopt; // expired meanwhile
  KeyInfo k;
  k.key = std::move(name);
  k.size = static_cast<std::uint64_t>(strlen.integer);
  if (pttl.integer >= 0) k.ttl = Millis(pttl.integer);
  if (meta.type == Type::string) k.updated_at_ms = std::atoll(meta.str.c_str());
  return k;
}

TtlInfo ttl_info(const RedisValue& pttl)
{
  TtlInfo t;
  t.exists = pttl.integer != -2;
  if (pttl.integer >= 0) t.remaining = Millis(pttl.integer);
  return t;
}

std::uint64_t deleted(const std::vector<RedisValue>& replies, std::size_t stride)
{
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < replies.size(); i += stride) n += static_cast<std::uint64_t>(replies[i].integer);
  return n;
}

std::optional<LockInfo> lock_info(const std::string& name, const RedisValue& hmget, const RedisValue& pttl)
{
  if (hmget.type != Type::array || hmget.elements.size() != 2 || hmget.elements[0].type != Type::string) return std::nullopt;
  if (pttl.type != Type::integer || pttl.integer < 0) return std::nullopt;
  LockInfo l;
  l.name = name;
  l.token = std::atoll(hmget.elements[0].str.c_str());
  if (hmget.elements[1].type == Type::string) l.owner = hmget.elements[1].str;
  l.expires_in = Millis(pttl.integer);
  return l;
}

Error lock_not_granted(const std::string& name, const std::string& why, const std::string& hint)
{
  return Error(ExitCode::unavailable, fmt::format("lock '{}' not granted: {}", name, why),
               "a failover now could hand the same fencing token to another process", hint);
}

CheckpointInfo checkpoint_info(const std::string& json)
{
  auto j = nlohmann::json::parse(json, nullptr, false);
  CheckpointInfo i;
  if (j.is_discarded() || !j.is_object()) return i;
  i.id = j.value("id", std::string());
  i.name = j.value("name", std::string());
  i.created_ms = static_cast<std::int64_t>(j.value("created", 0.0));
  i.keys = static_cast<std::uint64_t>(j.value("keys", 0.0));
  i.bytes = static_cast<std::uint64_t>(j.value("bytes", 0.0));
  return i;
}

std::vector<CheckpointInfo> checkpoint_infos(const RedisValue& hgetall)
{
  std::vector<CheckpointInfo> out;
  for (std::size_t i = 0; i + 1 < hgetall.elements.size(); i += 2) out.push_back(checkpoint_info(hgetall.elements[i + 1].str));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::atoll(a.id.c_str()) < std::atoll(b.id.c_str()); });
  return out;
}

void check_checkpoint_id(const std::string& id)
{
  if (id.empty() || id.size() > 18 || !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw Error(ExitCode::usage, fmt::format("invalid checkpoint id '{}'", id), "ids are numbers",
                "list checkpoints with: statectl checkpoint list");
}

} // namespace statectl::state::redis_replies

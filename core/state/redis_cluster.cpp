// The Redis backend on a Redis Cluster ([redis] mode = "cluster"). Keys and values are laid out
// as on a single master (the value of KEY at <key_prefix>KEY), except that every internal key
// that belongs to a user key carries a hash tag that puts it into the user key's slot: the
// metadata at statectl#<prefix>meta:{T}KEY with T = slot_tag(slot of the value key), a lease and
// its fencing-token counter at statectl#<prefix>lock:{T}NAME / token:{T}NAME, so every Lua script
// touches one slot and stays atomic. `keys`, `locks` and checkpoints scan every master.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include <fmt/format.h>

#include "core/clients/credentials.h"
#include "core/clients/redis.h"
#include "core/clients/redis_cluster.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/stack/endpoints.h"
#include "core/state/common.h"
#include "core/state/redis.h"
#include "core/state/redis_cluster_checkpoint.h"
#include "core/state/redis_replies.h"
#include "core/state/redis_scripts.h"
#include "core/util/strings.h"

namespace statectl::state {

namespace {

using clients::RedisError;
using clients::RedisValue;
using clients::RoutedCommand;
using Type = RedisValue::Type;

using namespace redis_scripts;

// A put --batch window on a cluster: lines grouped by slot and written before the next window is
// read. Its commands and their formatted copy take about 1.2 KB per short line (1M short lines:
// 29 MiB peak with 16k-line windows, 45 with 32k, 74 with 64k); larger windows make longer MSETs
// but were not faster on 3 local masters.
constexpr std::size_t k_cluster_window = 16384;
constexpr std::size_t k_cluster_window_bytes = 4u << 20;
constexpr std::size_t k_cluster_mset_items = 250;
constexpr std::size_t k_cluster_mset_bytes = 4u << 20;

class RedisClusterBackend final : public Backend {
public:
  explicit RedisClusterBackend(const config::Config& cfg) : m_settings(Settings::from(cfg))
  {
    m_kp = m_settings.key_prefix;
    m_ip = redis_internal_prefix(m_kp);
    if (m_kp.find('{') != std::string::npos || m_kp.find('}') != std::string::npos)
      throw Error(ExitCode::usage, "invalid [state] key_prefix for a Redis Cluster", fmt::format("'{}' contains a brace", m_kp),
                  "braces are Redis Cluster hash tags; choose a prefix without { and }");
    auto ep = stack::resolve(cfg);
    clients::RedisOptions o;
    std::vector<clients::HostPort> seeds = ep.redis_cluster;
    if (!ep.redis_url.empty()) {
      o = clients::parse_redis_url(ep.redis_url);
      seeds = {{o.host, o.port}};
    } else {
      if (seeds.empty()) seeds = {ep.redis};
      o.tls = clients::redis_tls(ep.redis_tls); // every node, redirected ones too: CA pinning
    }
    std::vector<std::string> passwords;
    if (o.password.empty()) {
      // The stack's application user when it has ACL users, else the one stack password.
      o.user = ep.redis_app_user;
      passwords = clients::login_passwords(cfg, ep.redis_app_user.empty() ? ep.redis_password_secret : ep.redis_app_password_secret);
      if (!passwords.empty()) o.password = passwords.front();
      else if (const char* env = std::getenv("REDISCLI_AUTH"); env && *env) {
        o.password = env;
        exec::register_secret(o.password);
      }
    }
    o.connect_timeout = m_settings.timeout;
    o.command_timeout = m_settings.timeout;
    auto nat = stack::redis_address_map(ep);
    m_cluster.emplace(seeds, o, nat);
    m_address = "cluster " + m_cluster->display();
    connect_with_retry(m_settings, "redis", m_address, [&]() -> std::string {
      try {
        m_cluster->refresh();
        return {};
      } catch (const RedisError& e) {
        if (e.kind() != clients::RedisFailureKind::auth) return e.what();
        // During an interrupted rotation the nodes may hold the journal's other value.
        if (passwords.size() > 1) {
          clients::RedisOptions other = o;
          other.password = passwords[1];
          m_cluster.emplace(seeds, other, nat);
          try {
            m_cluster->refresh();
            return {};
          } catch (const RedisError&) {
            m_cluster.emplace(seeds, o, nat);
          }
        }
        throw clients::to_error(e.failure(), "cannot connect to redis at " + m_address);
      }
    });
  }

  std::string kind() const override { return "redis"; }
  std::string address() const override { return m_address; }

  std::optional<std::string> get(const std::string& key) override
  {
    check_key(key);
    auto r = call({"GET", m_kp + key}, slot(key), "GET");
    if (r.is_nil()) return std::nullopt;
    expect(r, Type::string, "GET");
    return std::move(r.str);
  }

  bool put(const std::string& key, const std::string& value, const PutOptions& o) override
  {
    check_key(key);
    check_value(m_settings, key, value.size());
    std::string ttl = std::to_string(o.ttl ? o.ttl->count() : 0);
    auto r = call({"EVAL", k_put_script, "2", m_kp + key, meta_key(key), value, ttl, std::to_string(now_ms()) + "\n" + o.metadata,
                   o.if_absent ? "1" : "0"},
                  slot(key), "put");
    expect(r, Type::integer, "put");
    return r.integer == 1;
  }

  std::uint64_t del(const std::vector<std::string>& keys) override
  {
    std::vector<RoutedCommand> cmds;
    for (const auto& k : keys) {
      check_key(k);
      cmds.push_back({{"DEL", m_kp + k}, slot(k)});
      cmds.push_back({{"DEL", meta_key(k)}, slot(k)});
    }
    return redis_replies::deleted(pipeline(cmds, "DEL"), 2);
  }

  std::uint64_t keys(const std::string& prefix, std::uint64_t limit, const std::function<void(const KeyInfo&)>& sink) override
  {
    std::vector<std::string> names = scan_user_keys(prefix);
    std::uint64_t n = 0;
    constexpr std::size_t page = 10000;
    for (std::size_t start = 0; start < names.size() && (limit == 0 || n < limit); start += page) {
      std::size_t end = std::min(names.size(), start + page);
      std::vector<RoutedCommand> cmds;
      for (std::size_t i = start; i < end; ++i) {
        int s = slot(names[i]);
        cmds.push_back({{"STRLEN", m_kp + names[i]}, s});
        cmds.push_back({{"PTTL", m_kp + names[i]}, s});
        cmds.push_back({{"GET", meta_key(names[i])}, s});
      }
      auto replies = pipeline(cmds, "keys", true);
      for (std::size_t i = start; i < end && (limit == 0 || n < limit); ++i) {
        std::size_t at = 3 * (i - start);
        if (auto k = redis_replies::key_info(std::move(names[i]), replies[at], replies[at + 1], replies[at + 2])) {
          sink(*k);
          ++n;
        }
      }
    }
    return n;
  }

  TtlInfo ttl(const std::string& key) override
  {
    check_key(key);
    auto r = call({"PTTL", m_kp + key}, slot(key), "PTTL");
    expect(r, Type::integer, "PTTL");
    return redis_replies::ttl_info(r);
  }

  std::uint64_t gc() override { return 0; }

  std::uint64_t put_batch_stream(BatchSource& source) override
  {
    // As on a single master: nothing can be undone, so the whole input is validated first.
    source.prescan();
    return write_batch(source);
  }

  // Writes the items of source in windows of at most k_cluster_window lines or
  // k_cluster_window_bytes. Within a window the items are grouped by slot, in input order within
  // each slot (a later line for the same key wins); a run of items without TTL becomes one MSET
  // of their values and metadata (which share the slot), an item with a TTL two SETs with PX.
  // Keys of different slots are different keys, so the order between slots does not matter; the
  // windows are written one after the other, so a later window's line wins too. The commands of
  // a window go out pipelined per node; memory holds one window's commands.
  std::uint64_t write_batch(BatchSource& source)
  {
    std::string now_blob = std::to_string(now_ms()) + "\n";
    // Per slot: its commands so far in this window (the last one an MSET still growing, or not).
    struct SlotCommands {
      std::vector<std::vector<std::string>> cmds;
      bool open = false;     // the last command is an MSET that takes more pairs
      std::size_t bytes = 0; // of that MSET's values
    };
    std::vector<SlotCommands> by_slot(clients::k_cluster_slots);
    std::vector<int> used; // slots with commands in this window, in first-use order
    std::vector<RoutedCommand> cmds;
    std::uint64_t n = 0;
    bool more = true;
    while (more) {
      std::size_t lines = 0, bytes = 0;
      while (lines < k_cluster_window && bytes < k_cluster_window_bytes) {
        BatchItem it;
        if (!source.next(it)) {
          more = false;
          break;
        }
        check_key(it.key);
        check_value(m_settings, it.key, it.value.size());
        ++lines;
        bytes += it.key.size() + it.value.size() + it.metadata.size();
        int s = slot(it.key);
        auto& sc = by_slot[static_cast<std::size_t>(s)];
        if (sc.cmds.empty()) used.push_back(s);
        if (it.ttl) {
          std::string px = std::to_string(it.ttl->count());
          sc.cmds.push_back({"SET", m_kp + it.key, std::move(it.value), "PX", px});
          sc.cmds.push_back({"SET", meta_key(it.key), now_blob + it.metadata, "PX", px});
          sc.open = false;
          continue;
        }
        if (!sc.open || sc.cmds.back().size() >= 1 + 4 * k_cluster_mset_items || sc.bytes >= k_cluster_mset_bytes) {
          sc.cmds.push_back({"MSET"});
          sc.open = true;
          sc.bytes = 0;
        }
        sc.bytes += it.key.size() + it.value.size();
        auto& mset = sc.cmds.back();
        mset.push_back(m_kp + it.key);
        mset.push_back(std::move(it.value));
        mset.push_back(meta_key(it.key));
        mset.push_back(now_blob + it.metadata);
      }
      n += lines;
      if (used.empty()) continue;
      cmds.clear();
      for (int s : used) {
        auto& sc = by_slot[static_cast<std::size_t>(s)];
        for (auto& c : sc.cmds) cmds.push_back({std::move(c), s});
        sc = SlotCommands{};
      }
      used.clear();
      pipeline(cmds, "batch");
    }
    return n;
  }

  std::optional<std::int64_t> lock_acquire(const std::string& name, const std::string& owner, Millis ttl) override
  {
    check_lock_name(name);
    int s = clients::key_slot(lock_key(name));
    auto r = call({"EVAL", k_acquire_script, "2", lock_key(name), token_key(name), owner, std::to_string(ttl.count())}, s, "lock");
    if (r.is_nil()) return std::nullopt;
    expect(r, Type::integer, "lock");
    std::int64_t token = r.integer;
    // As on Sentinel: the grant counts only once every replica of the slot's master has it,
    // since the cluster may promote any of them.
    if (auto why = replicate(s, ttl); !why.empty()) {
      try {
        lock_release(name, owner, token);
      } catch (const Error&) {
        // It expires after ttl; the token was never handed out.
      }
      throw redis_replies::lock_not_granted(name, why, "check the replicas ('statectl status'); or use --backend postgres");
    }
    return token;
  }

  bool lock_renew(const std::string& name, const std::string& owner, std::int64_t token, Millis ttl) override
  {
    int s = clients::key_slot(lock_key(name));
    auto r = call({"EVAL", k_renew_script, "1", lock_key(name), std::to_string(token), std::to_string(ttl.count()), owner}, s, "lock renew");
    expect(r, Type::integer, "lock renew");
    if (r.integer != 1) return false;
    if (auto why = replicate(s, ttl); !why.empty())
      throw Error(ExitCode::unavailable, fmt::format("renewal of lock '{}' not confirmed", name), why);
    return true;
  }

  void lock_release(const std::string& name, const std::string& owner, std::int64_t token) override
  {
    auto r = call({"EVAL", k_release_script, "1", lock_key(name), std::to_string(token), owner}, clients::key_slot(lock_key(name)),
                  "lock release");
    expect(r, Type::integer, "lock release");
  }

  std::vector<LockInfo> locks() override
  {
    std::string lp = m_ip + "lock:";
    std::vector<std::string> found = scan_all(redis_glob_escape(lp) + "*");
    std::map<std::string, std::string> names; // name -> full key
    for (const auto& k : found) {
      auto close = k.find('}', lp.size());
      if (close != std::string::npos) names[k.substr(close + 1)] = k;
    }
    std::vector<RoutedCommand> cmds;
    for (const auto& [n, k] : names) {
      cmds.push_back({{"HMGET", k, "token", "owner"}, clients::key_slot(k)});
      cmds.push_back({{"PTTL", k}, clients::key_slot(k)});
    }
    auto replies = pipeline(cmds, "locks", true);
    std::vector<LockInfo> out;
    std::size_t i = 0;
    for (const auto& [n, k] : names) {
      if (auto l = redis_replies::lock_info(n, replies[2 * i], replies[2 * i + 1])) out.push_back(std::move(*l));
      ++i;
    }
    return out;
  }

  // Bounded steps per master (core/state/redis_cluster_checkpoint.h); not one atomic snapshot.
  CheckpointInfo checkpoint_create(const std::string& name) override { return redis_cluster_checkpoint::create(checkpoint_cluster(), m_kp, m_ip, name); }

  std::vector<CheckpointInfo> checkpoint_list() override
  {
    std::string list = m_ip + "checkpoints";
    auto r = call({"HGETALL", list}, clients::key_slot(list), "HGETALL");
    expect(r, Type::array, "HGETALL");
    return redis_replies::checkpoint_infos(r);
  }

  // Not one atomic step on a cluster: the keys are deleted master by master, then written back.
  CheckpointInfo checkpoint_restore(const std::string& id) override { return redis_cluster_checkpoint::restore(checkpoint_cluster(), m_kp, m_ip, id); }

private:

  int slot(const std::string& user_key) const { return clients::key_slot(m_kp + user_key); }
  std::string tag_of(const std::string& user_key) const { return "{" + clients::slot_tag(slot(user_key)) + "}"; }
  std::string meta_key(const std::string& key) const { return m_ip + "meta:" + tag_of(key) + key; }
  std::string lock_tag(const std::string& name) const { return "{" + clients::slot_tag(clients::key_slot(name)) + "}"; }
  std::string lock_key(const std::string& name) const { return m_ip + "lock:" + lock_tag(name) + name; }
  std::string token_key(const std::string& name) const { return m_ip + "token:" + lock_tag(name) + name; }

  // The checkpoint steps reach the cluster through this backend's routing, timeout and errors.
  redis_cluster_checkpoint::Cluster checkpoint_cluster()
  {
    return {[this] {
              ensure_map();
              return m_cluster->masters();
            },
            [this](const std::string& node, const std::vector<std::string>& args) {
              try {
                return m_cluster->command_at(node, args);
              } catch (const RedisError& e) {
                throw io_error(args.front(), e);
              }
            },
            [this](const std::vector<std::string>& args, int s) { return call(args, s, "checkpoint"); },
            [this](const std::vector<RoutedCommand>& cmds, bool allow_errors) { return pipeline(cmds, "checkpoint", allow_errors); },
            [this](const RedisValue& r, Type t, const std::string& what) { expect(r, t, what); },
            [this](const std::string& user) { return slot(user); },
            [this](const std::string& user) { return meta_key(user); }};
  }

  // Every key on every master matching pattern (SCAN, never KEYS), sorted and unique.
  std::vector<std::string> scan_all(const std::string& pattern)
  {
    ensure_map();
    std::set<std::string> out;
    for (const auto& node : m_cluster->masters()) {
      std::string cursor = "0";
      do {
        RedisValue r;
        try {
          r = m_cluster->command_at(node, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        } catch (const RedisError& e) {
          throw io_error("SCAN", e);
        }
        expect(r, Type::array, "SCAN");
        cursor = r.elements.at(0).str;
        for (auto& e : r.elements.at(1).elements) out.insert(std::move(e.str));
      } while (cursor != "0");
    }
    return {out.begin(), out.end()};
  }

  // The user keys starting with prefix (without the key prefix), sorted.
  std::vector<std::string> scan_user_keys(const std::string& prefix)
  {
    std::vector<std::string> names;
    for (auto& k : scan_all(redis_glob_escape(m_kp + prefix) + "*"))
      if (k.compare(0, m_ip.size(), m_ip) != 0) names.push_back(k.substr(m_kp.size()));
    return names;
  }

  void ensure_map()
  {
    if (!m_cluster->masters().empty()) return;
    try {
      m_cluster->refresh();
    } catch (const RedisError& e) {
      throw io_error("CLUSTER SLOTS", e);
    }
  }

  // Waits (WAIT) until every replica of slot's master has the last write on that connection.
  std::string replicate(int slot, Millis ttl)
  {
    int need = m_cluster->replicas_of(slot);
    if (need == 0) return {};
    Millis wait = std::max(Millis(1), std::min(m_settings.timeout / 2, ttl / 2));
    RedisValue r;
    try {
      r = m_cluster->command_at(m_cluster->master_of(slot), {"WAIT", std::to_string(need), std::to_string(wait.count())});
    } catch (const RedisError& e) {
      return fmt::format("the master of its slot went away before the replicas confirmed the lease ({})", e.what());
    }
    expect(r, Type::integer, "WAIT");
    if (r.integer >= need) return {};
    return fmt::format("its lease reached {} of {} replica{} within {}", r.integer, need, need == 1 ? "" : "s",
                       util::format_duration(wait));
  }

  Error io_error(const std::string& what, const RedisError& e) const
  {
    if (e.kind() == clients::RedisFailureKind::timeout) return timeout_error(m_settings, fmt::format("redis {} timed out at {}", what, m_address));
    return clients::to_error(e.failure(), fmt::format("redis {} failed at {}", what, m_address));
  }

  void expect(const RedisValue& r, Type type, const std::string& what) const { redis_replies::expect(r, type, what, m_address); }

  RedisValue call(const std::vector<std::string>& args, int s, const std::string& what)
  {
    try {
      return m_cluster->command(args, s);
    } catch (const RedisError& e) {
      throw io_error(what, e);
    }
  }

  std::vector<RedisValue> pipeline(const std::vector<RoutedCommand>& cmds, const std::string& what, bool allow_errors = false)
  {
    std::vector<RedisValue> out;
    try {
      out = m_cluster->pipeline(cmds);
    } catch (const RedisError& e) {
      throw io_error(what, e);
    }
    if (!allow_errors)
      for (const auto& r : out)
        if (r.is_error()) throw Error(ExitCode::failed, fmt::format("redis {} failed at {}", what, m_address), r.str);
    return out;
  }

  Settings m_settings;
  std::string m_kp;
  std::string m_ip;
  std::string m_address;
  std::optional<clients::RedisCluster> m_cluster;
};

} // namespace

std::unique_ptr<Backend> make_redis_cluster_backend(const config::Config& cfg) { return std::make_unique<RedisClusterBackend>(cfg); }

} // namespace statectl::state

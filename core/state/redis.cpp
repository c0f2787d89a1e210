#include "core/state/redis.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "core/clients/credentials.h"
#include "core/clients/redis.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/store.h"
#include "core/stack/endpoints.h"
#include "core/state/common.h"
#include "core/state/redis_checkpoint.h"
#include "core/state/redis_replies.h"
#include "core/state/redis_scripts.h"
#include "core/util/strings.h"

namespace statectl::state {

std::string redis_internal_prefix(const std::string& key_prefix) { return "statectl#" + key_prefix; }

std::string redis_glob_escape(const std::string& text)
{
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Keys looked up per pipeline by `keys`.
constexpr std::size_t k_keys_page = 10000;

namespace {

constexpr std::size_t k_window_commands = 10000;
constexpr std::size_t k_mset_pairs = 1000;
constexpr std::size_t k_mset_bytes = 4u << 20;

using namespace redis_scripts;

using clients::RedisConnection;
using clients::RedisError;
using clients::RedisValue;
using Reply = RedisValue;
using Type = RedisValue::Type;

class RedisBackend final : public Backend {
public:
  explicit RedisBackend(const config::Config& cfg) : m_settings(Settings::from(cfg))
  {
    m_kp = m_settings.key_prefix;
    m_ip = redis_internal_prefix(m_kp);
    auto ep = stack::resolve(cfg);
    if (!ep.redis_url.empty()) {
      m_direct = clients::parse_redis_url(ep.redis_url);
    } else {
      m_direct.host = ep.redis.host;
      m_direct.port = ep.redis.port;
      m_direct.tls = clients::redis_tls(ep.redis_tls);
      m_sentinels = ep.sentinels;
      m_master_name = ep.master_name;
      m_nat = stack::redis_address_map(ep);
    }
    if (m_direct.password.empty()) {
      // The stack's application user when it has ACL users (limited to the state keys and
      // commands), else the one stack password.
      if (!ep.redis_app_user.empty()) m_direct.user = ep.redis_app_user;
      m_passwords = clients::login_passwords(cfg, ep.redis_app_user.empty() ? ep.redis_password_secret : ep.redis_app_password_secret);
      if (!m_passwords.empty()) m_direct.password = m_passwords.front();
      else if (const char* env = std::getenv("REDISCLI_AUTH"); env && *env) {
        m_direct.password = env;
        exec::register_secret(m_direct.password);
      }
    }
    connect();
  }

  std::string kind() const override { return "redis"; }
  std::string address() const override { return m_address; }

  std::optional<std::string> get(const std::string& key) override
  {
    check_key(key);
    auto r = command({"GET", m_kp + key});
    if (r.is_nil()) return std::nullopt;
    expect(r, Type::string, "GET");
    return std::move(r.str);
  }

  bool put(const std::string& key, const std::string& value, const PutOptions& o) override
  {
    check_key(key);
    check_value(m_settings, key, value.size());
    std::string ttl = std::to_string(o.ttl ? o.ttl->count() : 0);
    auto r = command({"EVAL", k_put_script, "2", m_kp + key, meta_key(key), value, ttl, meta_blob(o.metadata),
                      o.if_absent ? "1" : "0"});
    expect(r, Type::integer, "put");
    return r.integer == 1;
  }

  std::uint64_t del(const std::vector<std::string>& keys) override
  {
    for (const auto& k : keys) check_key(k);
    // DEL of both keys at once would count the metadata too: delete them separately in one
    // pipeline and count only the values.
    std::vector<std::vector<std::string>> cmds;
    for (const auto& k : keys) {
      cmds.push_back({"DEL", m_kp + k});
      cmds.push_back({"DEL", meta_key(k)});
    }
    return redis_replies::deleted(pipeline(cmds), 2);
  }

  std::uint64_t keys(const std::string& prefix, std::uint64_t limit, const std::function<void(const KeyInfo&)>& sink) override
  {
    // SCAN in steps (never KEYS, which blocks the server), the names only; sorted, they are
    // looked up k_keys_page at a time in one pipeline each and handed on, so nothing but the
    // names is held.
    std::vector<std::string> names;
    std::string pattern = redis_glob_escape(m_kp + prefix) + "*";
    std::string cursor = "0";
    do {
      auto r = command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      expect(r, Type::array, "SCAN");
      cursor = r.elements.at(0).str;
      for (const auto& e : r.elements.at(1).elements) {
        const std::string& k = e.str;
        if (k.compare(0, m_ip.size(), m_ip) == 0) continue;
        names.push_back(k.substr(m_kp.size()));
      }
    } while (cursor != "0");
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end()); // SCAN may return a key twice
    std::uint64_t n = 0;
    std::vector<std::vector<std::string>> cmds;
    for (std::size_t start = 0; start < names.size() && (limit == 0 || n < limit); start += k_keys_page) {
      std::size_t end = std::min(names.size(), start + k_keys_page);
      cmds.clear();
      for (std::size_t i = start; i < end; ++i) {
        cmds.push_back({"STRLEN", m_kp + names[i]});
        cmds.push_back({"PTTL", m_kp + names[i]});
        cmds.push_back({"GET", meta_key(names[i])});
      }
      auto replies = pipeline(cmds, true);
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
    auto r = command({"PTTL", m_kp + key});
    expect(r, Type::integer, "PTTL");
    return redis_replies::ttl_info(r);
  }

  std::uint64_t gc() override { return 0; }

  std::uint64_t put_batch_stream(BatchSource& source) override
  {
    // Redis cannot undo a write: the whole input is read and validated first (constant memory;
    // a pipe is copied aside to be read twice), so a bad line anywhere leaves nothing written.
    source.prescan();
    return write_batch(source);
  }

  // Writes the items of source as they are read; memory holds one MSET and the unread replies.
  std::uint64_t write_batch(BatchSource& source)
  {
    ensure_connected();
    // Values without TTL go out as MSETs (one for values, one for their metadata blobs);
    // values with a TTL as SET ... PX. Order is kept, so a later line wins.
    std::vector<std::string> vals{"MSET"}, metas{"MSET"};
    std::size_t bytes = 0, pending = 0, unsent = 0;
    std::string now_blob = std::to_string(now_ms()) + "\n";
    auto append = [&](const std::vector<std::string>& args) {
      try {
        m_conn.append(args);
      } catch (const RedisError& e) {
        fail_io("batch", e);
      }
      ++pending;
      ++unsent;
    };
    // Sends what was appended so far, so Redis executes the first commands while the next ones
    // are formatted (hiredis would otherwise send the whole window only when reading replies).
    // The replies wait in the socket until drain(): a few bytes each, far below its buffer.
    auto send = [&]() {
      try {
        m_conn.send();
      } catch (const RedisError& e) {
        fail_io("batch", e);
      }
      unsent = 0;
    };
    auto drain = [&]() {
      for (; pending > 0; --pending) {
        Reply r;
        try {
          r = m_conn.read();
        } catch (const RedisError& e) {
          fail_io("batch", e);
        }
        if (r.is_error()) {
          for (--pending; pending > 0; --pending) {
            try {
              m_conn.read();
            } catch (const RedisError&) {
              break;
            }
          }
          throw Error(ExitCode::failed, "redis batch write failed at " + m_address, r.str);
        }
      }
    };
    auto flush_mset = [&]() {
      if (vals.size() > 1) {
        append(vals);
        append(metas);
        vals.resize(1);
        metas.resize(1);
        bytes = 0;
        send();
      }
      if (pending >= k_window_commands) drain();
    };
    std::uint64_t n = 0;
    for (BatchItem it; source.next(it); ++n) {
      check_key(it.key);
      check_value(m_settings, it.key, it.value.size());
      std::string blob = it.metadata.empty() ? now_blob : now_blob + it.metadata;
      if (it.ttl) {
        flush_mset();
        std::string px = std::to_string(it.ttl->count());
        append({"SET", m_kp + it.key, it.value, "PX", px});
        append({"SET", meta_key(it.key), blob, "PX", px});
        if (unsent >= 2 * k_mset_pairs) send();
        if (pending >= k_window_commands) drain();
        continue;
      }
      vals.push_back(m_kp + it.key);
      bytes += it.key.size() + it.value.size();
      vals.push_back(std::move(it.value));
      metas.push_back(meta_key(it.key));
      metas.push_back(std::move(blob));
      if (vals.size() / 2 >= k_mset_pairs || bytes >= k_mset_bytes) flush_mset();
    }
    flush_mset();
    drain();
    return n;
  }

  std::optional<std::int64_t> lock_acquire(const std::string& name, const std::string& owner, Millis ttl) override
  {
    check_lock_name(name);
    auto r = command({"EVAL", k_acquire_script, "2", m_ip + "lock:" + name, m_ip + "token:" + name, owner,
                      std::to_string(ttl.count())});
    if (r.is_nil()) return std::nullopt;
    expect(r, Type::integer, "lock");
    std::int64_t token = r.integer;
    // The grant counts only once every replica has the lease and the token: Sentinel may promote
    // any of them, and one without the INCR would hand this token out again.
    if (auto why = replicate(ttl); !why.empty()) {
      try {
        lock_release(name, owner, token);
      } catch (const Error&) {
        // It expires after ttl; the token was never handed out.
      }
      throw redis_replies::lock_not_granted(name, why,
                                            "check the replicas ('statectl status'): Redis locks work again once every replica "
                                            "follows the master; or use --backend postgres");
    }
    return token;
  }

  bool lock_renew(const std::string& name, const std::string& owner, std::int64_t token, Millis ttl) override
  {
    auto r = command({"EVAL", k_renew_script, "1", m_ip + "lock:" + name, std::to_string(token), std::to_string(ttl.count()), owner});
    expect(r, Type::integer, "lock renew");
    if (r.integer != 1) return false;
    // An extension only the master knows would end early after a failover: not confirmed yet.
    if (auto why = replicate(ttl); !why.empty())
      throw Error(ExitCode::unavailable, fmt::format("renewal of lock '{}' not confirmed", name), why);
    return true;
  }

  void lock_release(const std::string& name, const std::string& owner, std::int64_t token) override
  {
    auto r = command({"EVAL", k_release_script, "1", m_ip + "lock:" + name, std::to_string(token), owner});
    expect(r, Type::integer, "lock release");
  }

  std::vector<LockInfo> locks() override
  {
    std::set<std::string> names;
    std::string lp = m_ip + "lock:";
    std::string cursor = "0";
    do {
      auto r = command({"SCAN", cursor, "MATCH", redis_glob_escape(lp) + "*", "COUNT", "1000"});
      expect(r, Type::array, "SCAN");
      cursor = r.elements.at(0).str;
      for (const auto& e : r.elements.at(1).elements) names.insert(e.str.substr(lp.size()));
    } while (cursor != "0");
    std::vector<std::vector<std::string>> cmds;
    for (const auto& n : names) {
      cmds.push_back({"HMGET", lp + n, "token", "owner"});
      cmds.push_back({"PTTL", lp + n});
    }
    auto replies = pipeline(cmds, true);
    std::vector<LockInfo> out;
    std::size_t i = 0;
    for (const auto& n : names) {
      if (auto l = redis_replies::lock_info(n, replies[2 * i], replies[2 * i + 1])) out.push_back(std::move(*l));
      ++i;
    }
    return out;
  }

  CheckpointInfo checkpoint_create(const std::string& name) override { return redis_checkpoint::create(checkpoint_server(), m_kp, m_ip, name); }

  std::vector<CheckpointInfo> checkpoint_list() override
  {
    auto r = command({"HGETALL", m_ip + "checkpoints"});
    expect(r, Type::array, "HGETALL");
    return redis_replies::checkpoint_infos(r);
  }

  CheckpointInfo checkpoint_restore(const std::string& id) override { return redis_checkpoint::restore(checkpoint_server(), m_kp, m_ip, id); }

private:

  std::string meta_key(const std::string& key) const { return m_ip + "meta:" + key; }

  // Checkpoints run in bounded steps (core/state/redis_checkpoint.h) through this backend's
  // command(): its timeout, reconnection after a failover and error mapping apply to each step.
  redis_checkpoint::Server checkpoint_server()
  {
    return {[this](const std::vector<std::string>& args) { return command(args); },
            [this](const Reply& r, Type t, const std::string& what) { expect(r, t, what); }};
  }

  // Waits (WAIT) until every replica that could be promoted has this connection's last write;
  // returns why not, or an empty string. Throws when the server refuses WAIT.
  std::string replicate(Millis ttl)
  {
    std::uint64_t generation = m_generation;
    int need = replicas_needed();
    if (need == 0) return {};
    Millis wait = std::max(Millis(1), std::min(m_settings.timeout / 2, ttl / 2));
    auto r = command({"WAIT", std::to_string(need), std::to_string(wait.count())});
    if (r.is_error())
      throw Error(ExitCode::failed, "the redis lock backend cannot guarantee fencing at " + m_address, "WAIT is refused: " + r.str,
                  "use --backend postgres for locks on this server");
    expect(r, Type::integer, "WAIT");
    // A reconnect in between would make WAIT measure a connection that wrote nothing.
    if (generation != m_generation) return "the connection to the master changed before the replicas confirmed the lease";
    if (r.integer >= need) return {};
    return fmt::format("its lease reached {} of {} replica{} within {}", r.integer, need, need == 1 ? "" : "s",
                       util::format_duration(wait));
  }

  // How many replicas must confirm a lock write: every replica the Sentinels know for the master
  // (a disconnected one too: it may be promoted later), else the master's connected replicas.
  int replicas_needed()
  {
    if (m_replicas_generation == m_generation) return m_replicas;
    std::optional<int> n;
    for (const auto& s : m_sentinels) {
      clients::RedisOptions o = options_for(s.host, s.port);
      o.user.clear();
      o.password.clear();
      o.db = 0;
      try {
        auto c = RedisConnection::connect(o);
        Reply r = c.command({"SENTINEL", "replicas", m_master_name});
        if (r.is_error() && r.str.find("NOAUTH") != std::string::npos && !m_direct.password.empty()) {
          o.user = m_direct.user;
          o.password = m_direct.password;
          c = RedisConnection::connect(o);
          r = c.command({"SENTINEL", "replicas", m_master_name});
        }
        if (r.type == Type::array) {
          n = static_cast<int>(r.elements.size());
          break;
        }
      } catch (const RedisError&) {
        // Ask the next Sentinel.
      }
    }
    if (!n) {
      auto r = command({"INFO", "replication"});
      expect(r, Type::string, "INFO replication");
      auto at = r.str.find("connected_slaves:");
      n = at == std::string::npos ? 0 : std::atoi(r.str.c_str() + at + 17);
    }
    m_replicas = *n;
    m_replicas_generation = m_generation;
    return m_replicas;
  }
  static std::string meta_blob(const std::string& metadata) { return std::to_string(now_ms()) + "\n" + metadata; }

  clients::RedisOptions options_for(const std::string& host, int port) const
  {
    clients::RedisOptions o = m_direct;
    o.host = host;
    o.port = port;
    o.connect_timeout = m_settings.timeout;
    o.command_timeout = m_settings.timeout;
    return o;
  }

  void connect()
  {
    std::string where = m_direct.display();
    if (!m_sentinels.empty()) {
      where.clear();
      for (const auto& s : m_sentinels) where += (where.empty() ? "sentinel " : ",") + fmt::format("{}:{}", s.host, s.port);
    }
    m_address = where;
    connect_with_retry(m_settings, "redis", where, [&]() -> std::string {
      auto why = connect_once();
      // During an interrupted rotation the servers may hold the journal's other value.
      if (!why.empty() && m_passwords.size() > 1 && m_direct.password == m_passwords.front()) {
        m_direct.password = m_passwords[1];
        if (connect_once().empty()) return {};
        m_direct.password = m_passwords.front();
      }
      return why;
    });
  }

  // One connection attempt with m_direct's credentials; returns why it failed.
  std::string connect_once()
  {
    if (!m_sentinels.empty()) {
      clients::SentinelOptions so;
      so.sentinels = m_sentinels;
      so.master_name = m_master_name;
      so.user = m_direct.user;
      so.password = m_direct.password;
      so.timeout = m_settings.timeout;
      so.nat = m_nat;
      so.tls = m_direct.tls;
      auto m = clients::connect_master(so, options_for(m_direct.host, m_direct.port));
      if (!m) return m.error();
      m_address = fmt::format("{}:{}", m->address.host, m->address.port);
      m_conn = std::move(m->connection);
      ++m_generation;
      return {};
    }
    m_address = m_direct.display();
    try {
      m_conn = RedisConnection::connect(options_for(m_direct.host, m_direct.port));
      ++m_generation;
    } catch (const RedisError& e) {
      // Rejected credentials do not get better with retries: fail now, with the password hint.
      if (e.kind() == clients::RedisFailureKind::auth && m_passwords.size() < 2)
        throw clients::to_error(e.failure(), "cannot connect to redis at " + m_address);
      return fmt::format("{}: {}", m_direct.display(), e.what());
    }
    return {};
  }

  void ensure_connected()
  {
    if (!m_conn) connect();
  }

  [[noreturn]] void fail_io(const std::string& what, const RedisError& e)
  {
    m_conn = RedisConnection();
    if (e.kind() == clients::RedisFailureKind::timeout)
      throw timeout_error(m_settings, fmt::format("redis {} timed out at {}", what, m_address));
    throw clients::to_error(e.failure(), fmt::format("redis {} failed at {}", what, m_address));
  }

  void expect(const Reply& r, Type type, const std::string& what) const { redis_replies::expect(r, type, what, m_address); }

  // One command; reconnects once when the connection was lost (e.g. after a failover).
  Reply command(const std::vector<std::string>& args)
  {
    for (int attempt = 0;; ++attempt) {
      ensure_connected();
      try {
        Reply r = m_conn.command(args);
        // A demoted master answers READONLY; ask the Sentinels again.
        if (r.is_error() && attempt == 0 && !m_sentinels.empty() && r.str.starts_with("READONLY")) {
          m_conn = RedisConnection();
          continue;
        }
        return r;
      } catch (const RedisError& e) {
        bool timed_out = e.kind() == clients::RedisFailureKind::timeout;
        if (timed_out) {
          m_conn = RedisConnection();
          throw timeout_error(m_settings, "redis call timed out at " + m_address);
        }
        if (attempt > 0) fail_io(args[0], e);
        m_conn = RedisConnection();
      }
    }
  }

  std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& cmds, bool allow_errors = false)
  {
    std::vector<Reply> out;
    out.reserve(cmds.size());
    ensure_connected();
    for (std::size_t start = 0; start < cmds.size(); start += k_window_commands) {
      std::size_t end = std::min(cmds.size(), start + k_window_commands);
      std::size_t i = start;
      try {
        for (; i < end; ++i) m_conn.append(cmds[i]);
        for (i = start; i < end; ++i) {
          Reply r = m_conn.read();
          if (!allow_errors && r.is_error())
            throw Error(ExitCode::failed, fmt::format("redis {} failed at {}", cmds[i][0], m_address), r.str);
          out.push_back(std::move(r));
        }
      } catch (const RedisError& e) {
        fail_io(cmds[std::min(i, end - 1)][0], e);
      }
    }
    return out;
  }

  Settings m_settings;
  std::string m_kp;
  std::string m_ip;
  clients::RedisOptions m_direct;
  std::vector<stack::HostPort> m_sentinels;
  clients::AddressMap m_nat;
  std::string m_master_name;
  std::string m_address;
  RedisConnection m_conn;
  std::vector<std::string> m_passwords; // the stored password, then an unfinished rotation's other value
  std::uint64_t m_generation = 0;          // bumped on every new connection
  std::uint64_t m_replicas_generation = 0; // the connection m_replicas was counted for
  int m_replicas = 0;
};

} // namespace

std::unique_ptr<Backend> make_redis_backend(const config::Config& cfg)
{
  if (config::settings(cfg).redis.mode == "cluster") return make_redis_cluster_backend(cfg);
  return std::make_unique<RedisBackend>(cfg);
}

} // namespace statectl::state

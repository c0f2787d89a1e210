#include "core/state/postgres.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "core/clients/postgres.h"
#include "core/config/url.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/stack/endpoints.h"
#include "core/state/common.h"
#include "core/util/strings.h"

namespace statectl::state {
namespace {

// Lines per window of put --batch, and the bytes of keys, values and metadata that end a window
// sooner (one line may exceed it: a value can be [state] max_value_size).
constexpr std::size_t k_batch_window = 10000;
constexpr std::size_t k_batch_window_bytes = 16u << 20;
// Rows per page of `keys`.
constexpr std::uint64_t k_keys_page = 10000;
// 1: the tables; 2: the metadata GIN index covers only rows that have metadata (a row without
// it no longer costs an index entry; `metadata @> ...` queries still use the index).
constexpr int k_schema_version = 2;
// Rows per statement of checkpoint create and restore.
constexpr std::size_t k_checkpoint_step = 20000;

using clients::PgConnection;
using clients::PgParam;
using clients::PgTransaction;

PgParam bin(const std::string& s) { return PgParam::binary(s); }

// Cancels the running query of a connection when a call outlives [state] timeout. libpq has no
// per-call timeout, and statement_timeout would cost a round trip per call through PgBouncer
// (startup options are not forwarded).
class Watchdog {
public:
  ~Watchdog()
  {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
  }

  void arm(const PgConnection* conn, Millis timeout)
  {
    std::lock_guard lock(m_mutex);
    if (!m_thread.joinable()) m_thread = std::thread([this] { loop(); });
    m_conn = conn;
    m_fired = false;
    m_deadline = std::chrono::steady_clock::now() + timeout;
    m_armed = true;
    m_cv.notify_all();
  }

  // Returns true when the watchdog cancelled the call.
  bool disarm()
  {
    std::lock_guard lock(m_mutex);
    m_armed = false;
    return m_fired;
  }

private:
  void loop()
  {
    std::unique_lock lock(m_mutex);
    while (!m_stop) {
      if (!m_armed) {
        m_cv.wait(lock);
        continue;
      }
      if (m_cv.wait_until(lock, m_deadline) == std::cv_status::timeout && m_armed && !m_stop &&
          std::chrono::steady_clock::now() >= m_deadline) {
        m_fired = true;
        m_armed = false;
        if (m_conn) m_conn->cancel();
      }
    }
  }

  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::thread m_thread;
  const PgConnection* m_conn = nullptr;
  std::chrono::steady_clock::time_point m_deadline{};
  bool m_armed = false;
  bool m_fired = false;
  bool m_stop = false;
};

class PostgresBackend final : public Backend {
public:
  explicit PostgresBackend(const config::Config& cfg) : m_settings(Settings::from(cfg))
  {
    static const std::regex ident("[A-Za-z_][A-Za-z0-9_]{0,40}");
    if (!std::regex_match(m_settings.table, ident))
      throw Error(ExitCode::usage, fmt::format("invalid [state] table '{}'", m_settings.table),
                  "use a plain identifier of at most 41 letters, digits and underscores");
    const std::string& t = m_settings.table;
    m_t = "\"" + t + "\"";
    m_locks = "\"" + t + "_locks\"";
    m_seq = t + "_lock_token_seq";
    m_cps = "\"" + t + "_checkpoints\"";
    m_cpd = "\"" + t + "_checkpoint_data\"";
    m_schema = "\"" + t + "_schema\"";

    auto all = stack::resolve(cfg);
    auto ep = all.pooler;
    m_params = clients::PgParams::from(ep);
    if (!all.pg_app_user.empty()) {
      // The application role's client certificate (files, never argv): no password, no PBKDF2.
      m_params.user = all.pg_app_user;
      m_params.tls.sslcert = all.pg_app_cert;
      m_params.tls.sslkey = all.pg_app_key;
    } else {
      m_passwords = clients::login_passwords(cfg, ep.password_secret);
      if (!m_passwords.empty()) m_params.password = m_passwords.front();
    }
    m_params.connect_timeout_s = clients::timeout_seconds(m_settings.timeout);
    m_params.application_name = "statectl";
    m_address = ep.url.empty() ? fmt::format("{}:{}", ep.host, ep.port) : config::redact_url(ep.url);
    connect();
  }

  std::string kind() const override { return "postgres"; }
  std::string address() const override { return m_address; }

  std::optional<std::string> get(const std::string& key) override
  {
    check_key(key);
    return call<std::optional<std::string>>([&](PgConnection& c) -> std::optional<std::string> {
      auto r = c.exec("SELECT value FROM " + m_t + " WHERE key = $1 AND (expires_at IS NULL OR expires_at > now())", {bin(key)});
      if (r.empty()) return std::nullopt;
      return r[0][0].bytes();
    });
  }

  bool put(const std::string& key, const std::string& value, const PutOptions& o) override
  {
    check_key(key);
    check_value(m_settings, key, value.size());
    long long ttl = o.ttl ? o.ttl->count() : 0;
    std::string sql = "INSERT INTO " + m_t +
                      " AS t (key, value, metadata, expires_at) VALUES ($1, $2, NULLIF($3, '')::jsonb, "
                      "CASE WHEN $4::bigint > 0 THEN clock_timestamp() + $4::bigint * interval '1 millisecond' END) "
                      "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, metadata = EXCLUDED.metadata, "
                      "updated_at = now(), expires_at = EXCLUDED.expires_at, "
                      "created_at = CASE WHEN t.expires_at <= now() THEN now() ELSE t.created_at END";
    if (o.if_absent) sql += " WHERE t.expires_at IS NOT NULL AND t.expires_at <= now()";
    sql += " RETURNING 1";
    return call<bool>([&](PgConnection& c) {
      return !c.exec(sql, {bin(key), bin(value), o.metadata, ttl}).empty();
    });
  }

  std::uint64_t del(const std::vector<std::string>& keys) override
  {
    for (const auto& k : keys) check_key(k);
    // One statement for all keys: hex-encoded, so binary keys survive the text parameter.
    std::string hex;
    for (const auto& k : keys) {
      if (!hex.empty()) hex += ',';
      hex += to_hex(k);
    }
    return call<std::uint64_t>([&](PgConnection& c) {
      auto r = c.exec("WITH d AS (DELETE FROM " + m_t +
                                " WHERE key IN (SELECT decode(h, 'hex') FROM unnest(string_to_array($1, ',')) h) "
                                "RETURNING expires_at IS NULL OR expires_at > now() AS live) SELECT count(*) FILTER (WHERE live) FROM d", {hex});
      return r[0][0].as<std::uint64_t>();
    });
  }

  std::uint64_t keys(const std::string& prefix, std::uint64_t limit, const std::function<void(const KeyInfo&)>& sink) override
  {
    // A range scan on the primary key, prefix <= key < successor(prefix), read in pages of
    // k_keys_page rows after the last key seen (keyset pagination: each page is an index range
    // scan, whatever the table size, and works through PgBouncer in any pool mode).
    std::string upper = prefix;
    while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xff) upper.pop_back();
    if (!upper.empty()) upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
    std::string sql = "SELECT key, octet_length(value), "
                      "CASE WHEN expires_at IS NULL THEN -1 ELSE greatest(0, ceil(extract(epoch FROM expires_at - now()) * 1000))::bigint END, "
                      "(extract(epoch FROM updated_at) * 1000)::bigint FROM " +
                      m_t + " WHERE key >= $1 AND (expires_at IS NULL OR expires_at > now())" +
                      (upper.empty() ? " AND $2::bytea IS NOT NULL" : " AND key < $2") +
                      " AND ($4 = 0 OR key > $1) ORDER BY key LIMIT $3";
    std::uint64_t n = 0;
    std::string from = prefix;
    bool after = false; // the first page includes `prefix` itself, later ones start after `from`
    while (limit == 0 || n < limit) {
      long long page = static_cast<long long>(limit == 0 ? k_keys_page : std::min<std::uint64_t>(k_keys_page, limit - n));
      // A page is collected first, so a call retried after a lost connection repeats no row.
      auto rows = call<std::vector<KeyInfo>>([&](PgConnection& c) {
        std::vector<KeyInfo> out;
        for (const auto& row : c.exec(sql, {bin(from), bin(upper), page, after ? 1 : 0})) {
          KeyInfo k;
          k.key = row[0].bytes();
          k.size = row[1].as<std::uint64_t>();
          auto ttl = row[2].as<long long>();
          if (ttl >= 0) k.ttl = Millis(ttl);
          k.updated_at_ms = row[3].as<std::int64_t>();
          out.push_back(std::move(k));
        }
        return out;
      });
      for (const auto& k : rows) sink(k);
      std::uint64_t got = rows.size();
      if (!rows.empty()) from = rows.back().key;
      n += got;
      after = true;
      if (got < static_cast<std::uint64_t>(page)) break;
    }
    return n;
  }

  TtlInfo ttl(const std::string& key) override
  {
    check_key(key);
    return call<TtlInfo>([&](PgConnection& c) {
      auto r = c.exec("SELECT CASE WHEN expires_at IS NULL THEN -1 ELSE "
                              "greatest(0, ceil(extract(epoch FROM expires_at - now()) * 1000))::bigint END FROM " +
                                m_t + " WHERE key = $1 AND (expires_at IS NULL OR expires_at > now())", {bin(key)});
      TtlInfo t;
      if (r.empty()) return t;
      t.exists = true;
      auto ms = r[0][0].as<long long>();
      if (ms >= 0) t.remaining = Millis(ms);
      return t;
    });
  }

  std::uint64_t gc() override
  {
    return call<std::uint64_t>([&](PgConnection& c) {
      PgTransaction tx(c);
      auto r = c.exec("DELETE FROM " + m_t + " WHERE expires_at <= now()");
      // Released lease rows are kept so tokens stay monotonic through concurrent first grants;
      // after a day nobody can still race on them.
      c.exec("DELETE FROM " + m_locks + " WHERE expires_at < now() - interval '1 day'");
      tx.commit();
      return static_cast<std::uint64_t>(r.affected_rows());
    });
  }

  std::uint64_t put_batch_stream(BatchSource& source) override
  {
    // One transaction for the whole batch, written while it is read, in windows of at most
    // k_batch_window lines or k_batch_window_bytes: a malformed line rolls everything back, and
    // memory holds one window whatever the batch size. Each window's rows without a TTL are
    // COPYed straight into the table as they are read, under a savepoint: when their keys are
    // new that is the whole write. When a key exists (or comes twice in the window, or a
    // concurrent writer inserts it), COPY fails with unique_violation, the savepoint is rolled
    // back and the window goes the general way, as every later one does: its last line per key,
    // sorted by key, COPYed into a staging table, then one upsert. Rows with a TTL always go that
    // way, as their expiry is computed with the server's clock_timestamp() like a single put's.
    // Windows apply in input order, so a later line of a key wins over an earlier one.
    bool started = false;
    return call<std::uint64_t>([&](PgConnection& c) -> std::uint64_t {
      // A retried call (lost connection, deadlock) starts over: its transaction rolled back.
      if (started && !source.rewind())
        throw Error(ExitCode::failed, "batch not written: the attempt failed and rolled back, and standard input cannot be read twice",
                    {}, "run it again, or give the batch as a file");
      started = true;
      ensure_schema(c);
      PgTransaction tx(c);
      std::uint64_t total = 0;
      bool try_direct = true, staged = false, in_savepoint = false, more = true;
      std::vector<BatchItem> window;
      std::vector<const BatchItem*> upsert;
      while (more) {
        // Each window gets the whole [state] timeout: a long batch is not cut short by it.
        m_watchdog.arm(&m_conn, m_settings.timeout);
        window.clear();
        std::size_t bytes = 0;
        auto read_window = [&](clients::PgCopyWriter* w) {
          while (window.size() < k_batch_window && bytes < k_batch_window_bytes) {
            BatchItem& it = window.emplace_back();
            if (!source.next(it)) {
              window.pop_back();
              more = false;
              return;
            }
            check_key(it.key);
            check_value(m_settings, it.key, it.value.size());
            bytes += it.key.size() + it.value.size() + it.metadata.size();
            if (w && !it.ttl) {
              w->bytea_field(it.key);
              w->bytea_field(it.value);
              w->text_field(it.metadata.empty() ? std::nullopt : std::optional<std::string_view>(it.metadata));
              w->end_row();
            }
          }
        };
        bool direct = false;
        if (try_direct) {
          // One round trip: the previous window's savepoint is released as this one's is made.
          c.exec(in_savepoint ? "RELEASE SAVEPOINT statectl_batch; SAVEPOINT statectl_batch" : "SAVEPOINT statectl_batch");
          in_savepoint = true;
          try {
            c.copy_in("COPY " + m_t + " (key, value, metadata) FROM STDIN", [&](clients::PgCopyWriter& w) { read_window(&w); });
            direct = true;
          } catch (const clients::PgError& e) {
            if (e.sqlstate() != "23505") throw;
            // The server stops at the conflict, the rest of the window was still read and sent.
            c.exec("ROLLBACK TO SAVEPOINT statectl_batch; RELEASE SAVEPOINT statectl_batch");
            in_savepoint = false;
            try_direct = false; // keys exist: the following windows most likely overlap the table too
          }
        } else {
          read_window(nullptr);
        }
        total += window.size();
        // The last line of each key, sorted by key (concurrent batches lock rows in one order).
        // After a direct COPY only the winners with a TTL are left: a winner without one was
        // COPYed (it was its key's only such line, else COPY had failed), and a TTL line followed
        // by a line without one lost.
        upsert.clear();
        for (const auto& it : window) upsert.push_back(&it);
        std::stable_sort(upsert.begin(), upsert.end(), [](const BatchItem* a, const BatchItem* b) { return a->key < b->key; });
        std::size_t kept = 0;
        for (std::size_t i = 0; i < upsert.size(); ++i) {
          bool last = i + 1 == upsert.size() || upsert[i + 1]->key != upsert[i]->key;
          if (last && (!direct || upsert[i]->ttl)) upsert[kept++] = upsert[i];
        }
        upsert.resize(kept);
        if (upsert.empty()) continue;
        c.exec(staged ? "TRUNCATE statectl_stage"
                      : "CREATE TEMP TABLE statectl_stage (key bytea, value bytea, ttl_ms bigint, metadata text) ON COMMIT DROP");
        staged = true;
        c.copy_in("COPY statectl_stage (key, value, ttl_ms, metadata) FROM STDIN", [&](clients::PgCopyWriter& w) {
          for (const auto* it : upsert) {
            w.bytea_field(it->key);
            w.bytea_field(it->value);
            w.text_field(std::to_string(it->ttl ? it->ttl->count() : 0));
            w.text_field(it->metadata);
            w.end_row();
          }
        });
        c.exec("INSERT INTO " + m_t +
                " AS t (key, value, metadata, expires_at) SELECT key, value, NULLIF(metadata, '')::jsonb, "
                "CASE WHEN ttl_ms > 0 THEN clock_timestamp() + ttl_ms * interval '1 millisecond' END FROM statectl_stage "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, metadata = EXCLUDED.metadata, "
                "updated_at = now(), expires_at = EXCLUDED.expires_at, "
                "created_at = CASE WHEN t.expires_at <= now() THEN now() ELSE t.created_at END");
      }
      tx.commit();
      return total;
    });
  }

  std::optional<std::int64_t> lock_acquire(const std::string& name, const std::string& owner, Millis ttl) override
  {
    check_lock_name(name);
    // The token comes from the sequence in the same statement that writes the lease row; in the
    // DO UPDATE branch nextval() runs after the row lock is held, so grants are ordered.
    std::string sql = "INSERT INTO " + m_locks +
                      " AS l (name, owner, token, expires_at) VALUES ($1, $2, nextval('" + m_seq +
                      "'), clock_timestamp() + $3::bigint * interval '1 millisecond') "
                      "ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, token = nextval('" +
                      m_seq + "'), expires_at = EXCLUDED.expires_at WHERE l.expires_at <= clock_timestamp() RETURNING token";
    return call<std::optional<std::int64_t>>([&](PgConnection& c) -> std::optional<std::int64_t> {
      auto r = c.exec(sql, {name, owner, static_cast<long long>(ttl.count())});
      if (r.empty()) return std::nullopt;
      return r[0][0].as<std::int64_t>();
    });
  }

  bool lock_renew(const std::string& name, const std::string& owner, std::int64_t token, Millis ttl) override
  {
    return call<bool>([&](PgConnection& c) {
      auto r = c.exec("UPDATE " + m_locks +
                        " SET expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond' "
                        "WHERE name = $1 AND token = $2 AND owner = $4 AND expires_at > clock_timestamp()",
                      {name, static_cast<long long>(token), static_cast<long long>(ttl.count()), owner});
      return r.affected_rows() == 1;
    });
  }

  void lock_release(const std::string& name, const std::string& owner, std::int64_t token) override
  {
    // The release commits asynchronously (synchronous_commit off for this one transaction, set
    // inside the statement: through PgBouncer's transaction pooling a separate SET could land on
    // another server connection). Losing it in a crash or failover only leaves the lease to
    // expire within its ttl, as after a SIGKILL of the holder; fencing rests on the grant, whose
    // commit stays synchronous and is flushed before any later grant's.
    call<bool>([&](PgConnection& c) {
      c.exec("UPDATE " + m_locks +
               " SET expires_at = '-infinity', owner = '' WHERE name = $1 AND token = $2 AND owner = $3"
               " AND set_config('synchronous_commit', 'off', true) IS NOT NULL",
             {name, static_cast<long long>(token), owner});
      return true;
    });
  }

  std::vector<LockInfo> locks() override
  {
    return call<std::vector<LockInfo>>([&](PgConnection& c) {
      std::vector<LockInfo> out;
      for (const auto& row :
           c.exec("SELECT name, owner, token, greatest(0, ceil(extract(epoch FROM expires_at - clock_timestamp()) * 1000))::bigint FROM " +
                   m_locks + " WHERE expires_at > clock_timestamp() ORDER BY name")) {
        LockInfo l;
        l.name = row[0].as<std::string>();
        l.owner = row[1].as<std::string>();
        l.token = row[2].as<std::int64_t>();
        l.expires_in = Millis(row[3].as<long long>());
        out.push_back(std::move(l));
      }
      return out;
    });
  }

  // In steps of k_checkpoint_step rows (keyset pages by key), each under its own [state]
  // timeout: a checkpoint of a million keys is not cut short by a limit meant for one call. One
  // REPEATABLE READ transaction, so the steps read one snapshot and a failure leaves nothing.
  CheckpointInfo checkpoint_create(const std::string& name) override
  {
    return call<CheckpointInfo>([&](PgConnection& c) {
      PgTransaction tx(c);
      c.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      auto id = c.exec("INSERT INTO " + m_cps + " (name) VALUES ($1) RETURNING id", {name})[0][0].as<std::int64_t>();
      std::int64_t keys = 0, bytes = 0;
      in_key_pages(c,
                   "INSERT INTO " + m_cpd + " (checkpoint_id, key, value, metadata, created_at, updated_at, expires_at) "
                   "SELECT $1, key, value, metadata, created_at, updated_at, expires_at FROM " + m_t +
                   " WHERE (expires_at IS NULL OR expires_at > now()) AND key > decode($2, 'hex') ORDER BY key LIMIT {step}"
                   " RETURNING key, octet_length(key) + octet_length(value) AS b",
                   ", coalesce(sum(b), 0)", {std::to_string(id)}, [&](const clients::PgRow& row) {
                     keys += row[0].as<std::int64_t>();
                     bytes += row[2].as<std::int64_t>();
                   });
      c.exec("UPDATE " + m_cps + " SET keys = $2, bytes = $3 WHERE id = $1", {std::to_string(id), std::to_string(keys), std::to_string(bytes)});
      auto info = one_checkpoint(c, id);
      tx.commit();
      return *info;
    });
  }

  std::vector<CheckpointInfo> checkpoint_list() override
  {
    return call<std::vector<CheckpointInfo>>([&](PgConnection& c) {
      std::vector<CheckpointInfo> out;
      for (const auto& row : c.exec("SELECT id, name, (extract(epoch FROM created_at) * 1000)::bigint, keys, bytes FROM " +
                                     m_cps + " ORDER BY id"))
        out.push_back(to_info(row));
      return out;
    });
  }

  CheckpointInfo checkpoint_restore(const std::string& id) override
  {
    auto num = parse_id(id);
    return call<CheckpointInfo>([&](PgConnection& c) {
      PgTransaction tx(c);
      auto info = one_checkpoint(c, num, true);
      if (!info)
        throw Error(ExitCode::failed, fmt::format("checkpoint {} not found", id), {}, "list checkpoints with: statectl checkpoint list");
      // Both halves in steps, each under its own [state] timeout, in the one transaction.
      in_key_pages(c,
                   "DELETE FROM " + m_t + " WHERE key IN (SELECT key FROM " + m_t +
                   " WHERE key > decode($1, 'hex') ORDER BY key LIMIT {step}) RETURNING key",
                   "", {});
      in_key_pages(c,
                   "INSERT INTO " + m_t + " (key, value, metadata, created_at, updated_at, expires_at) "
                   "SELECT key, value, metadata, created_at, updated_at, expires_at FROM " + m_cpd +
                   " WHERE checkpoint_id = $1 AND key > decode($2, 'hex') ORDER BY key LIMIT {step} RETURNING key",
                   "", {std::to_string(num)});
      tx.commit();
      return *info;
    });
  }

private:
  // Runs `change` (an INSERT or DELETE ... RETURNING key, with "{step}" for its page size and
  // the hex of the last key done as its last parameter) page after page, in key order, each
  // page under its own [state] timeout, until a page comes back short. on_page sees each
  // page's row: count, the last key's hex, then `extra` columns over the returned rows.
  void in_key_pages(PgConnection& c, std::string change, const std::string& extra, std::vector<std::string> params,
                    const std::function<void(const clients::PgRow&)>& on_page = {})
  {
    change.replace(change.find("{step}"), 6, std::to_string(k_checkpoint_step));
    std::string sql = "WITH s AS (" + change + ") SELECT count(*), "
                      "coalesce((SELECT encode(key, 'hex') FROM s ORDER BY key DESC LIMIT 1), '')" + extra + " FROM s";
    params.emplace_back(); // "" = from the first key
    for (;;) {
      m_watchdog.arm(&m_conn, m_settings.timeout);
      auto r = c.exec(sql, std::vector<PgParam>(params.begin(), params.end()));
      if (on_page) on_page(r[0]);
      params.back() = r[0][1].as<std::string>();
      if (r[0][0].as<std::int64_t>() < static_cast<std::int64_t>(k_checkpoint_step)) break;
    }
  }

  static std::int64_t parse_id(const std::string& id)
  {
    static const std::regex digits("[0-9]{1,18}");
    if (!std::regex_match(id, digits))
      throw Error(ExitCode::usage, fmt::format("invalid checkpoint id '{}'", id), "ids are numbers",
                  "list checkpoints with: statectl checkpoint list");
    return std::stoll(id);
  }

  static CheckpointInfo to_info(const clients::PgRow& row)
  {
    CheckpointInfo i;
    i.id = row[0].as<std::string>();
    i.name = row[1].as<std::string>();
    i.created_ms = row[2].as<std::int64_t>();
    i.keys = row[3].as<std::uint64_t>();
    i.bytes = row[4].as<std::uint64_t>();
    return i;
  }

  std::optional<CheckpointInfo> one_checkpoint(PgConnection& c, std::int64_t id, bool lock = false)
  {
    auto r = c.exec("SELECT id, name, (extract(epoch FROM created_at) * 1000)::bigint, keys, bytes FROM " + m_cps +
                              " WHERE id = $1" + (lock ? " FOR SHARE" : ""), {id});
    if (r.empty()) return std::nullopt;
    return to_info(r[0]);
  }

  // Creates or migrates the schema once per backend when it is older than k_schema_version
  // (single-key calls only create it when the table is missing; they work on every version).
  void ensure_schema(PgConnection& c)
  {
    if (m_schema_checked) return;
    int version = 0;
    {
      version = c.exec("SELECT coalesce(max(version), 0) FROM " + m_schema)[0][0].as<int>();
    }
    if (version < k_schema_version) migrate();
    m_schema_checked = true;
  }

  void connect()
  {
    connect_with_retry(m_settings, "postgresql", m_address, [&]() -> std::string {
      try {
        m_conn = PgConnection::connect(m_params);
        return {};
      } catch (const clients::PgError& e) {
        m_conn = PgConnection();
        // During an interrupted rotation the server may hold the journal's other value.
        if (e.kind() == clients::PgFailureKind::auth && m_passwords.size() > 1 && m_params.password == m_passwords.front()) {
          m_params.password = m_passwords[1];
          try {
            m_conn = PgConnection::connect(m_params);
            return {};
          } catch (const clients::PgError&) {
            m_conn = PgConnection();
            m_params.password = m_passwords.front();
          }
        }
        // Rejected credentials do not get better with retries: fail now, with the password hint.
        if (e.kind() == clients::PgFailureKind::auth)
          throw clients::to_error(e.failure(), "cannot connect to postgresql at " + m_address);
        // libpq's last line says why (its first names the address, which the message has).
        std::string why = e.failure().message;
        auto nl = why.rfind('\n');
        return util::trim(nl == std::string::npos ? why : why.substr(nl + 1));
      }
    });
  }

  void migrate()
  {
    PgConnection& c = m_conn;
    PgTransaction tx(c);
    c.exec("SELECT pg_advisory_xact_lock(hashtext('statectl schema " + m_settings.table + "'))");
    c.exec("CREATE TABLE IF NOT EXISTS " + m_schema + " (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    auto v = c.exec("SELECT coalesce(max(version), 0) FROM " + m_schema)[0][0].as<int>();
    if (v < 1) {
      const std::string& t = m_settings.table;
      c.exec("CREATE TABLE IF NOT EXISTS " + m_t +
              " (key bytea PRIMARY KEY, value bytea NOT NULL, metadata jsonb, "
              "created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz)");
      c.exec("CREATE INDEX IF NOT EXISTS \"" + t + "_expires_at_idx\" ON " + m_t + " (expires_at) WHERE expires_at IS NOT NULL");
      c.exec("CREATE SEQUENCE IF NOT EXISTS \"" + m_seq + "\"");
      c.exec("CREATE TABLE IF NOT EXISTS " + m_locks +
              " (name text PRIMARY KEY, owner text NOT NULL, token bigint NOT NULL, expires_at timestamptz NOT NULL)");
      c.exec("CREATE TABLE IF NOT EXISTS " + m_cps +
              " (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now(), "
              "keys bigint NOT NULL DEFAULT 0, bytes bigint NOT NULL DEFAULT 0)");
      c.exec("CREATE TABLE IF NOT EXISTS " + m_cpd + " (checkpoint_id bigint NOT NULL REFERENCES " + m_cps +
              " (id) ON DELETE CASCADE, key bytea NOT NULL, value bytea NOT NULL, metadata jsonb, created_at timestamptz, "
              "updated_at timestamptz, expires_at timestamptz, PRIMARY KEY (checkpoint_id, key))");
    }
    if (v < 2) {
      const std::string idx = "\"" + m_settings.table + "_metadata_idx\"";
      c.exec("DROP INDEX IF EXISTS " + idx);
      c.exec("CREATE INDEX " + idx + " ON " + m_t + " USING gin (metadata) WHERE metadata IS NOT NULL");
    }
    c.exec("INSERT INTO " + m_schema + " (version) VALUES (" + std::to_string(k_schema_version) + ") ON CONFLICT DO NOTHING");
    tx.commit();
  }

  // Runs one call: reconnects once on a broken connection, creates the schema on first use,
  // retries serialization failures and deadlocks, and cancels after [state] timeout.
  template <typename R, typename F>
  R call(F&& f)
  {
    bool reconnected = false;
    bool migrated = false;
    Millis backoff{20};
    for (int attempt = 1;; ++attempt) {
      if (!m_conn) {
        connect();
        reconnected = true;
      }
      m_watchdog.arm(&m_conn, m_settings.timeout);
      try {
        R r = f(m_conn);
        m_watchdog.disarm();
        return r;
      } catch (const clients::PgError& e) {
        bool fired = m_watchdog.disarm();
        const std::string& state = e.sqlstate();
        if (e.kind() == clients::PgFailureKind::in_doubt) {
          m_conn = PgConnection();
          throw Error(ExitCode::unavailable, "lost the connection to postgresql at " + m_address + " during commit",
                      "the outcome of the last write is unknown");
        }
        if (e.kind() == clients::PgFailureKind::broken) {
          m_conn = PgConnection();
          if (reconnected) throw Error(ExitCode::unavailable, "lost the connection to postgresql at " + m_address, e.failure().message);
          continue;
        }
        if (fired || e.kind() == clients::PgFailureKind::timeout)
          throw timeout_error(m_settings, "postgresql call timed out at " + m_address);
        if (state == "42P01" && !migrated) {
          migrated = true;
          migrate();
          continue;
        }
        if ((state == "40001" || state == "40P01") && attempt < 6) {
          std::this_thread::sleep_for(backoff);
          backoff *= 2;
          continue;
        }
        throw clients::to_error(e.failure(), "postgresql error at " + m_address);
      } catch (...) {
        m_watchdog.disarm();
        throw;
      }
    }
  }

  Settings m_settings;
  clients::PgParams m_params;
  std::vector<std::string> m_passwords; // the stored password, then an unfinished rotation's other value
  std::string m_address;
  std::string m_t, m_locks, m_seq, m_cps, m_cpd, m_schema;
  PgConnection m_conn;
  bool m_schema_checked = false;
  Watchdog m_watchdog; // destroyed before m_conn
};

} // namespace

std::unique_ptr<Backend> make_postgres_backend(const config::Config& cfg)
{
  return std::make_unique<PostgresBackend>(cfg);
}

} // namespace statectl::state

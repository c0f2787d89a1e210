// Redis servers and Sentinels of the local stack.
#include <csignal>
#include <fmt/format.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include "core/local/components.h"
#include "core/config/settings.h"
#include "core/local/process.h"
#include "core/local/redis_acl.h"

namespace statectl::local::redis {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

fs::path pid_path(const Member& m) { return fs::path(m.dir) / (m.kind + ".pid"); }

// Sets the process umask for its lifetime (children spawned meanwhile inherit it).
class UmaskGuard {
public:
  explicit UmaskGuard(mode_t mask) : m_old(::umask(mask)) {}
  ~UmaskGuard() { ::umask(m_old); }
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;

private:
  mode_t m_old;
};

// A redis.conf argument: quoted, with \ and " escaped.
std::string quote(const std::string& s)
{
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string common(const Site& site, const Member& m)
{
  std::string text = fmt::format("bind 127.0.0.1\n"
                                 "protected-mode yes\n"
                                 "daemonize yes\n"
                                 "pidfile {}\n"
                                 "logfile {}\n"
                                 "dir {}\n",
                                 quote(pid_path(m).string()), quote(m.log), quote(m.dir));
  if (!site.tls()) return text + fmt::format("port {}\n", m.port);
  // The member's port speaks TLS only; replication and Sentinel's own links use TLS too.
  TlsFiles tls = tls_files(site.cfg);
  return text + fmt::format("port 0\n"
                            "tls-port {}\n"
                            "tls-cert-file {}\n"
                            "tls-key-file {}\n"
                            "tls-ca-cert-file {}\n"
                            "tls-auth-clients no\n"
                            "tls-replication yes\n"
                            "tls-protocols \"TLSv1.3\"\n",
                            m.port, quote(tls.cert.string()), quote(tls.key.string()), quote(tls.ca.string()));
}

// A stable 40-hex Sentinel id per state directory and member, so every Sentinel can list the
// others as known from its first second (instead of finding them through hello messages).
std::string sentinel_id(const Site& site, const std::string& name)
{
  std::string seed = site.state_dir().string() + "/" + name;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), digest);
  std::string hex;
  for (unsigned char b : digest) hex += fmt::format("{:02x}", b);
  return hex;
}

} // namespace

Member describe_server(const Site& site, int index, int port, const std::string& role)
{
  Member m;
  m.name = fmt::format("redis-{}", index);
  m.kind = "redis";
  m.role = role;
  m.port = port;
  m.dir = site.member_dir(m.name).string();
  m.data_dir = m.dir;
  m.log = (fs::path(m.dir) / "redis.log").string();
  m.config = (fs::path(m.dir) / "redis.conf").string();
  return m;
}

Member describe_sentinel(const Site& site, int index, int port)
{
  Member m;
  m.name = fmt::format("sentinel-{}", index);
  m.kind = "sentinel";
  m.role = "sentinel";
  m.port = port;
  m.dir = site.member_dir(m.name).string();
  m.log = (fs::path(m.dir) / "sentinel.log").string();
  m.config = (fs::path(m.dir) / "sentinel.conf").string();
  return m;
}

std::string acl_config(Site& site)
{
  std::string text;
  const auto& s = config::settings(site.cfg);
  for (const auto& u : redis_acl::users(s.state.key_prefix, s.redis.mode == "cluster"))
    text += redis_acl::conf_line(u.name, redis_acl::user_rules(u, site.secret(u.secret)));
  return text + redis_acl::conf_line("default", redis_acl::default_user_rules());
}

void configure_server(Site& site, const Member& m, bool acl, std::optional<int> master_port, const std::string& extra)
{
  const auto& cfg = site.cfg;
  site.make_dir(m.dir, 0700);
  std::string text = "# Written by statectl when it created " + m.name + "; Sentinel may rewrite it after a failover.\n" +
                     common(site, m) +
                     fmt::format("save \"\"\n"
                                 "appendonly yes\n"
                                 "appendfsync everysec\n"
                                 "maxmemory {maxmem}\n"
                                 "maxmemory-policy {policy}\n"
                                 "min-replicas-to-write {min_replicas}\n"
                                 "min-replicas-max-lag 10\n"
                                 "replica-read-only yes\n"
                                 "repl-diskless-sync-delay 0\n",
                                 fmt::arg("maxmem", config::settings(cfg).redis.maxmemory),
                                 fmt::arg("policy", config::settings(cfg).redis.maxmemory_policy),
                                 fmt::arg("min_replicas", config::settings(cfg).redis.min_replicas_to_write));
  if (acl) {
    // Every server gets masteruser/masterauth: Sentinel may make any of them a replica.
    text += acl_config(site) + fmt::format("masteruser {}\nmasterauth {}\n", redis_acl::k_replication_user,
                                           quote(site.secret(redis_acl::k_replication_secret)));
  } else {
    std::string password = site.secret("redis");
    text += fmt::format("requirepass {pw}\nmasterauth {pw}\n", fmt::arg("pw", quote(password)));
  }
  if (master_port) text += fmt::format("replicaof 127.0.0.1 {}\n", *master_port);
  text += extra;
  site.write_file(m.config, text, 0600);
}

void configure_sentinel(Site& site, const Member& m, bool acl, int master_port, const std::vector<std::pair<std::string, int>>& peers)
{
  const auto& cfg = site.cfg;
  std::string name = config::settings(cfg).redis.master_name;
  site.make_dir(m.dir, 0700);
  std::string text = "# Written by statectl when it created " + m.name + "; Sentinel rewrites it as it learns.\n" + common(site, m) +
                     fmt::format("sentinel monitor {name} 127.0.0.1 {port} {quorum}\n"
                                 "sentinel down-after-milliseconds {name} {down}\n"
                                 "sentinel failover-timeout {name} {failover}\n"
                                 "sentinel parallel-syncs {name} 1\n",
                                 fmt::arg("name", name), fmt::arg("port", master_port), fmt::arg("quorum", config::settings(cfg).redis.quorum),
                                 fmt::arg("down", config::settings(cfg).redis.down_after.count()),
                                 fmt::arg("failover", config::settings(cfg).redis.failover_timeout.count()));
  if (acl)
    text += fmt::format("sentinel auth-user {} {}\nsentinel auth-pass {} {}\n", name, redis_acl::k_sentinel_user, name,
                        quote(site.secret(redis_acl::k_sentinel_secret)));
  else
    text += fmt::format("sentinel auth-pass {} {}\n", name, quote(site.secret("redis")));
  text += fmt::format("sentinel myid {}\n", sentinel_id(site, m.name));
  for (const auto& [peer, port] : peers)
    if (peer != m.name) text += fmt::format("sentinel known-sentinel {} 127.0.0.1 {} {}\n", name, port, sentinel_id(site, peer));
  site.write_file(m.config, text, 0600);
}

void start(Site& site, Member& m)
{
  if (!site.planning() && m.pid > 0 && process_matches(m.pid, m.start_time)) return;
  std::string program = m.kind == "sentinel" ? site.binary("redis-sentinel", "redis-sentinel") : site.binary("redis-server", "redis-server");
  if (!site.planning()) {
    auto old = read_pidfile(pid_path(m));
    if (old && !process_start_time(*old)) fs::remove(pid_path(m));
    // A file rewritten by a server started before umask 077 was set may be 0644: the password
    // is in it.
    std::error_code ec;
    fs::permissions(m.config, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
  }
  auto c = site.server_command({program, m.config});
  c.timeout = 30s;
  {
    // Redis and Sentinel rewrite their config file (password included) as 0644 & ~umask on
    // CONFIG REWRITE and after every failover: the daemon inherits umask 077 from this spawn,
    // so what it writes stays private. statectl runs one command at a time here.
    UmaskGuard private_files(077);
    site.run(c, m.name, "starting " + fs::path(program).filename().string(), "see " + m.log);
  }
  await_daemon(site, m, pid_path(m), 15s);
}

void stop(Site& site, Member& m, StopMode mode, milliseconds timeout)
{
  stop_by_signal(site, m, SIGTERM, mode, timeout);
  if (!site.planning()) fs::remove(pid_path(m));
}

} // namespace statectl::local::redis

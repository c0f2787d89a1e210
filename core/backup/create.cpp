// backup create: logical (pg_dump -Fc) and Redis (BGSAVE) backups, and the dispatch to the physical
// ones (core/backup/physical.cpp).
#include <filesystem>
#include <fmt/format.h>
#include <regex>
#include <thread>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "core/backup/backup.h"
#include "core/backup/create_parts.h"
#include "core/backup/pg.h"
#include "core/backup/stream.h"
#include "core/backup/tar.h"
#include "core/backup/wal.h"
#include "core/clients/credentials.h"
#include "core/clients/endpoint.h"
#include "core/clients/redis.h"
#include "core/clients/redis_cluster.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/store.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string pg_tool(const config::Config& cfg, const std::string& name)
{
  fs::path p = fs::path(config::settings(cfg).postgres.bin_dir) / name;
  return fs::exists(p) ? p.string() : name;
}

std::string new_backup_id(const Repository& repo, char kind)
{
  for (int attempt = 0; attempt < 30; ++attempt) {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    // Taken when any backup has this second, whatever its kind: IDs must sort in the order the
    // backups were made (a fast incr and the full after it can start within one second).
    bool taken = false;
    for (char k : std::string("FDILR")) taken = taken || repo.has_backup(std::string(buf) + k);
    if (!taken) return std::string(buf) + kind;
    std::this_thread::sleep_for(200ms);
  }
  throw Error(ExitCode::failed, "cannot name the backup", "a backup with the same second already exists");
}

std::int64_t db_now_us(PgSession& s) { return std::stoll(s.scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")); }

Cleanup::~Cleanup()
{
  if (!armed) return;
  try {
    repo.remove_backup(id);
  } catch (const Error&) {
    // Still not listed as valid: it has no manifest. prune removes it later.
  }
}

StoredWriter::StoredWriter(const Repository& r, const std::string& id, const std::string& name, int level, int threads, std::uint64_t frame_size)
  : repo(r), key(Repository::backup_key(id, name)), staged(r.storage().stage(key)), out(staged, level, threads, 0640, r.cipher_key(), frame_size)
{
}

StoredFile StoredWriter::finish()
{
  auto st = out.finish();
  repo.storage().commit(key, staged);
  return {key.substr(key.rfind('/') + 1), st.raw_size, st.stored_size, st.raw_sha256, st.stored_sha256, std::move(st.frames)};
}

namespace {

Manifest create_logical(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const CreateOptions& o, const Repository& repo)
{
  PgTarget t = primary_target(cfg);
  exec::Command cmd;
  cmd.argv = {pg_tool(cfg, "pg_dump")};
  if (t.url.empty()) {
    auto conn = t.argv();
    cmd.argv.insert(cmd.argv.end(), conn.begin(), conn.end());
    cmd.argv.insert(cmd.argv.end(), {"-d", t.database});
  } else {
    cmd.argv.insert(cmd.argv.end(), {"-d", t.url});
  }
  cmd.argv.insert(cmd.argv.end(), {"-Fc", "-Z", "0", "--no-password"});
  cmd.env = t.env();
  cmd.mutating = true;
  if (runner.dry_run() == exec::DryRun::plan) {
    runner.run(cmd);
    return {};
  }
  PgSession s(t);
  Manifest m;
  m.type = "logical";
  m.id = new_backup_id(repo, 'L');
  m.database = t.database;
  m.system_identifier = s.scalar("SELECT system_identifier FROM pg_control_system()");
  m.pg_version = s.scalar("SHOW server_version");
  m.compress_level = static_cast<int>(config::settings(cfg).backup.compress_level);
  m.start_time = format_time(db_now_us(s));
  Cleanup cleanup{repo, m.id};
  printer.info(fmt::format("backup {}: dumping database {} of {}", m.id, t.database, t.display()));
  StoredWriter stored(repo, m.id, "dump.pgdump.zst", m.compress_level, static_cast<int>(config::settings(cfg).backup.threads));
  ZstdFileWriter& out = stored.out;
  output::Progress progress(printer, "backup " + m.id, 0, o.tty);
  std::uint64_t done = 0;
  cmd.io = exec::Io::stream;
  cmd.on_stdout = [&](std::string_view chunk) {
    out.write(chunk);
    done += chunk.size();
    progress.update(done);
  };
  auto res = runner.run(cmd);
  progress.finish();
  if (!res.ok()) throw Error(ExitCode::external, "pg_dump failed", exec::redact(util::trim(res.err)));
  m.files.push_back(stored.finish());
  m.stop_time = format_time(db_now_us(s));
  repo.write_manifest(m);
  cleanup.armed = false;
  return m;
}

struct Redis {
  clients::RedisConnection c;
  clients::RedisValue cmd(const std::vector<std::string>& args)
  {
    clients::RedisValue r;
    try {
      r = c.command(args);
    } catch (const clients::RedisError& e) {
      throw Error(ExitCode::unavailable, "lost the connection to Redis", e.what());
    }
    if (r.is_error()) throw Error(ExitCode::failed, fmt::format("redis {} failed", args[0]), r.str);
    return r;
  }
  std::string str(const std::vector<std::string>& args)
  {
    auto r = cmd(args);
    return r.type == clients::RedisValue::Type::array || r.is_nil() ? "" : r.text();
  }
  std::string config_get(const std::string& key)
  {
    auto r = cmd({"CONFIG", "GET", key});
    return r.type == clients::RedisValue::Type::array && r.elements.size() == 2 ? r.elements[1].text() : "";
  }
};

std::string info_field(const std::string& info, const std::string& key)
{
  for (const auto& line : util::split(info, '\n'))
    if (util::starts_with(line, key + ":")) return util::trim(line.substr(key.size() + 1));
  return "";
}

// A snapshot of a Redis server whose files statectl cannot read (containers, pods): `redis-cli
// --rdb` asks the server for a full replication sync, which makes the server write a fresh RDB
// and stream it here, as a replica would receive it. The master is the one the Sentinels report
// (mapped to a published address) when there are Sentinels.
Manifest create_redis_remote(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const Repository& repo,
                             const clients::Endpoints& ep)
{
  std::string password = clients::stored_password(cfg, ep.redis_password_secret, true).value_or("");
  std::string host = ep.redis.host;
  int port = ep.redis.port;
  if (!ep.sentinels.empty()) {
    auto m = clients::ask_sentinels(clients::sentinel_options(ep, password));
    if (!m) throw Error(ExitCode::unavailable, "no Sentinel reports a reachable Redis master", m.error(), "run `statectl status`");
    host = m->host;
    port = m->port;
  }
  exec::Command cmd;
  cmd.argv = {"redis-cli", "-h", host, "-p", std::to_string(port), "--rdb", ""};
  if (ep.redis_tls.enabled) cmd.argv.insert(cmd.argv.begin() + 1, {"--tls", "--cacert", ep.redis_tls.ca_file});
  if (!ep.redis_user.empty()) cmd.argv.insert(cmd.argv.end() - 2, {"--user", ep.redis_user});
  if (!password.empty()) cmd.env["REDISCLI_AUTH"] = password;
  cmd.timeout = 600s;
  if (runner.dry_run() == exec::DryRun::plan) {
    cmd.argv.back() = "<backup>/dump.rdb";
    cmd.mutating = true;
    runner.run(cmd);
    printer.plan(fmt::format("compress the snapshot into {}", repo.location()));
    return {};
  }
  Manifest m;
  m.type = "redis";
  m.id = new_backup_id(repo, 'R');
  m.pg_version.clear();
  m.compress_level = static_cast<int>(config::settings(cfg).backup.compress_level);
  m.start_time = format_time(now_us());
  // redis-cli writes the snapshot into a private local file first (the repository may be S3).
  std::string tmpl = (fs::temp_directory_path() / "statectl-rdb-XXXXXX").string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw Error(ExitCode::failed, "cannot create a temporary file for the Redis snapshot", std::strerror(errno));
  ::close(fd);
  fs::path rdb = tmpl;
  struct RemoveFile {
    fs::path p;
    ~RemoveFile()
    {
      std::error_code ec;
      fs::remove(p, ec);
    }
  } remove_rdb{rdb};
  cmd.argv.back() = rdb.string();
  printer.info(fmt::format("backup {}: redis-cli --rdb from Redis {}:{}", m.id, host, port));
  exec::Result res = runner.run(cmd);
  if (res.exit_code == 127) throw Error(ExitCode::unavailable, "cannot back up Redis: redis-cli is not installed", "", "install redis-tools");
  if (!res.ok())
    throw Error(ExitCode::external, fmt::format("redis-cli --rdb from {}:{} failed", host, port),
                exec::redact(util::trim(res.err.empty() ? res.out : res.err)));
  auto data = util::read_file(rdb);
  if (!data || data->size() < 9 || data->compare(0, 5, "REDIS") != 0)
    throw Error(ExitCode::failed, fmt::format("redis-cli --rdb from {}:{} gave no RDB snapshot", host, port), data ? "" : data.error());
  m.stop_time = format_time(now_us());
  Cleanup cleanup{repo, m.id};
  StoredWriter stored(repo, m.id, "dump.rdb.zst", m.compress_level, static_cast<int>(config::settings(cfg).backup.threads));
  stored.out.write(*data);
  m.files.push_back(stored.finish());
  repo.write_manifest(m);
  cleanup.armed = false;
  return m;
}

// BGSAVE on one server and its RDB file's bytes (statectl runs beside the server).
std::string bgsave(const clients::RedisOptions& o)
{
  Redis r;
  try {
    r.c = clients::RedisConnection::connect(o);
  } catch (const clients::RedisError& e) {
    throw clients::to_error(e.failure(), fmt::format("cannot connect to Redis at {}", o.display()),
                            "start the stack (`statectl deploy`) or check [local] redis_port");
  }
  std::string before = r.str({"LASTSAVE"});
  // LASTSAVE has one-second resolution; the rdb_saves counter (Redis 7) tells a new save apart.
  std::string saves_before = info_field(r.str({"INFO", "persistence"}), "rdb_saves");
  // A save may already run; BGSAVE SCHEDULE queues ours behind it.
  r.str({"BGSAVE", "SCHEDULE"});
  auto end = std::chrono::steady_clock::now() + 600s;
  while (true) {
    std::string info = r.str({"INFO", "persistence"});
    bool saved = saves_before.empty() ? r.str({"LASTSAVE"}) != before : info_field(info, "rdb_saves") != saves_before;
    if (info_field(info, "rdb_bgsave_in_progress") == "0" && saved) {
      if (info_field(info, "rdb_last_bgsave_status") != "ok")
        throw Error(ExitCode::failed, "redis BGSAVE failed", "rdb_last_bgsave_status is " + info_field(info, "rdb_last_bgsave_status"),
                    "check the Redis log and free disk space");
      break;
    }
    if (std::chrono::steady_clock::now() > end) throw Error(ExitCode::failed, "redis BGSAVE did not finish within 10 minutes");
    std::this_thread::sleep_for(100ms);
  }
  fs::path rdb = fs::path(r.config_get("dir")) / r.config_get("dbfilename");
  auto data = util::read_file(rdb);
  if (!data) throw Error(ExitCode::failed, "cannot read the Redis snapshot", data.error(), "statectl must run on the Redis host to copy its RDB file");
  return std::move(*data);
}

Manifest create_redis(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const Repository& repo)
{
  auto ep = clients::resolve_endpoints(cfg);
  if (!ep.redis_files_local && ep.redis_url.empty()) return create_redis_remote(cfg, runner, printer, repo, ep);
  clients::RedisOptions o;
  o.host = ep.redis.host;
  o.port = ep.redis.port;
  o.connect_timeout = 5s;
  o.command_timeout = 5s;
  o.tls = clients::redis_tls(ep.redis_tls);
  // An unreadable store is not fatal: a server without requirepass needs no password (and
  // refuses AUTH, which the client tolerates); a wrong one fails the connect with a hint.
  o.password = clients::stored_password(cfg, ep.redis_password_secret, true).value_or("");
  o.user = ep.redis_user; // the admin user on a stack with ACL users (BGSAVE, CONFIG GET dir)
  // A Redis Cluster is backed up as one RDB per master, named after it, in one backup.
  std::vector<std::string> masters;
  bool cluster = config::settings(cfg).redis.mode == "cluster" && !ep.redis_cluster.empty();
  if (cluster) {
    clients::RedisCluster c(ep.redis_cluster, o, clients::redis_address_map(ep));
    try {
      c.refresh();
    } catch (const clients::RedisError& e) {
      throw clients::to_error(e.failure(), "cannot read the Redis Cluster's slot map", "start the stack (`statectl deploy`)");
    }
    masters = c.masters();
  } else {
    masters = {o.display()};
  }
  if (runner.dry_run() == exec::DryRun::plan) {
    for (const auto& node : masters) printer.plan(fmt::format("BGSAVE on redis {}, then copy the RDB file into {}", node, repo.location()));
    return {};
  }
  Manifest m;
  m.type = "redis";
  m.id = new_backup_id(repo, 'R');
  m.pg_version.clear();
  m.compress_level = static_cast<int>(config::settings(cfg).backup.compress_level);
  m.start_time = format_time(now_us());
  Cleanup cleanup{repo, m.id};
  for (const auto& node : masters) {
    auto colon = node.rfind(':');
    o.host = node.substr(0, colon);
    o.port = std::atoi(node.c_str() + colon + 1);
    printer.info(fmt::format("backup {}: BGSAVE on Redis {}", m.id, node));
    std::string data = bgsave(o);
    std::string name = cluster ? fmt::format("dump-{}-{}.rdb.zst", o.host, o.port) : std::string("dump.rdb.zst");
    StoredWriter stored(repo, m.id, name, m.compress_level, static_cast<int>(config::settings(cfg).backup.threads));
    stored.out.write(data);
    m.files.push_back(stored.finish());
  }
  m.stop_time = format_time(now_us());
  repo.write_manifest(m);
  cleanup.armed = false;
  return m;
}

} // namespace

std::optional<Manifest> create_backup(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const CreateOptions& o)
{
  Repository repo = Repository::from_config(cfg);
  bool plan = runner.dry_run() == exec::DryRun::plan;
  std::optional<RepoLock> lock;
  if (!plan) lock.emplace(repo, "backup create --type " + o.type);
  try {
    Manifest m = is_physical(o.type)     ? create_physical(cfg, runner, printer, o, repo)
                 : o.type == "logical" ? create_logical(cfg, runner, printer, o, repo)
                                       : create_redis(cfg, runner, printer, repo);
    if (plan) return std::nullopt;
    return m;
  } catch (const Error& e) {
    if (!plan) repo.record_failure(fmt::format("backup create --type {}: {}", o.type, exec::redact(e.message())));
    throw;
  }
}

} // namespace statectl::backup

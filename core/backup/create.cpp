// backup create: full (pg_basebackup tar stream), logical (pg_dump -Fc) and Redis (BGSAVE).
#include <filesystem>
#include <fmt/format.h>
#include <regex>
#include <thread>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "core/backup/backup.h"
#include "core/backup/pg.h"
#include "core/backup/stream.h"
#include "core/backup/tar.h"
#include "core/backup/wal.h"
#include "core/clients/credentials.h"
#include "core/clients/redis.h"
#include "core/error.h"
#include "core/exec/redact.h"
#include "core/secrets/store.h"
#include "core/stack/endpoints.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string tool(const config::Config& cfg, const std::string& name)
{
  fs::path p = fs::path(cfg.get_string("postgres.bin_dir")) / name;
  return fs::exists(p) ? p.string() : name;
}

// IDs sort by time: 20261122-033512F (F full, L logical, R redis).
std::string new_id(const Repository& repo, char kind)
{
  for (int attempt = 0; attempt < 30; ++attempt) {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    std::string id = std::string(buf) + kind;
    if (!repo.has_backup(id)) return id;
    std::this_thread::sleep_for(200ms);
  }
  throw Error(ExitCode::failed, "cannot name the backup", "a backup with the same second already exists");
}

std::int64_t db_now_us(PgSession& s) { return std::stoll(s.scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")); }

std::uint64_t next_xid(PgSession& s) { return std::stoull(s.scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")); }

// Waits until the archive holds `name` (moving what the servers spooled into it meanwhile);
// false on timeout.
bool wait_archived(const config::Config& cfg, const Repository& repo, const std::string& name, std::chrono::seconds timeout)
{
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    import_spool(cfg, repo);
    if (repo.find_wal(name)) return true;
    std::this_thread::sleep_for(100ms);
  }
  import_spool(cfg, repo);
  return repo.find_wal(name).has_value();
}

std::string archiver_state(PgSession& s)
{
  try {
    auto rows = s.query("SELECT coalesce(last_failed_wal, ''), coalesce(last_failed_time::text, ''), failed_count FROM pg_stat_archiver");
    if (!rows.empty() && rows[0][0] && !rows[0][0]->empty())
      return fmt::format("; the server's last archive failure was {} at {} ({} failures; see the server log)", *rows[0][0], rows[0][1].value_or(""),
                         rows[0][2].value_or("0"));
  } catch (const Error&) {
  }
  return "";
}

// The source must archive into this repository; a backup that cannot be recovered is worse
// than no backup.
void check_archiving(const config::Config& cfg, PgSession& s, const Repository& repo, const PgTarget& t, std::chrono::seconds timeout)
{
  std::string mode = s.scalar("SHOW archive_mode");
  std::string command = s.scalar("SHOW archive_command");
  if (mode == "off")
    throw Error(ExitCode::failed, "cannot back up: WAL archiving is off", fmt::format("archive_mode is off on {}", t.display()),
                "set archive_mode = on and archive_command = 'statectl wal push %p' on the server and restart it");
  if (command.empty() || command == "(disabled)")
    throw Error(ExitCode::failed, "cannot back up: WAL archiving is not configured", fmt::format("archive_command is empty on {}", t.display()),
                "set archive_command = 'statectl wal push %p' and reload the server");
  if (s.scalar("SELECT pg_is_in_recovery()") == "t")
    throw Error(ExitCode::usage, "cannot back up from a standby", fmt::format("{} is in recovery", t.display()),
                "point statectl at the primary");
  std::string seg = s.scalar("SELECT pg_walfile_name(pg_switch_wal())");
  if (!wait_archived(cfg, repo, seg, timeout))
    throw Error(ExitCode::failed, "cannot back up: WAL archiving does not reach the repository",
                fmt::format("segment {} was not archived into {} within {}s{}", seg, repo.location(), timeout.count(), archiver_state(s)),
                "check that archive_command runs `statectl wal push %p` with this repository");
}

// Removes a backup's objects unless disarmed: a failed backup leaves nothing behind.
struct Cleanup {
  const Repository& repo;
  std::string id;
  bool armed = true;
  ~Cleanup()
  {
    if (!armed) return;
    try {
      repo.remove_backup(id);
    } catch (const Error&) {
      // Still not listed as valid: it has no manifest. prune removes it later.
    }
  }
};

// Streams a backup file through zstd into the repository: written to the storage's staging
// path, published on finish().
struct StoredWriter {
  const Repository& repo;
  std::string key;
  std::filesystem::path staged;
  ZstdFileWriter out;
  StoredWriter(const Repository& r, const std::string& id, const std::string& name, int level, int threads)
    : repo(r), key(Repository::backup_key(id, name)), staged(r.storage().stage(key)), out(staged, level, threads, 0640, r.cipher_key())
  {
  }
  StoredFile finish()
  {
    auto st = out.finish();
    repo.storage().commit(key, staged);
    return {key.substr(key.rfind('/') + 1), st.raw_size, st.stored_size, st.raw_sha256, st.stored_sha256};
  }
};

Manifest create_full(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const CreateOptions& o, const Repository& repo)
{
  PgTarget t = primary_target(cfg);
  int level = static_cast<int>(cfg.get_int("backup.compress_level"));
  int threads = static_cast<int>(cfg.get_int("backup.threads"));
  exec::Command cmd;
  cmd.argv = {tool(cfg, "pg_basebackup")};
  auto conn = t.argv();
  cmd.argv.insert(cmd.argv.end(), conn.begin(), conn.end());
  cmd.argv.insert(cmd.argv.end(), {"-D", "-", "-Ft", "-X", "none", "-c", "fast", "-v", "--no-password", "-l", "statectl backup"});
  cmd.env = t.env();
  cmd.mutating = true;
  if (runner.dry_run() == exec::DryRun::plan) {
    runner.run(cmd);
    return {};
  }

  PgSession s(t);
  check_archiving(cfg, s, repo, t, o.archive_timeout);
  Manifest m;
  m.type = "full";
  m.id = new_id(repo, 'F');
  m.system_identifier = s.scalar("SELECT system_identifier FROM pg_control_system()");
  m.pg_version = s.scalar("SHOW server_version");
  m.wal_segment_size = util::parse_size(s.scalar("SHOW wal_segment_size")).ok() ? *util::parse_size(s.scalar("SHOW wal_segment_size")) : 16u << 20;
  m.compress_level = level;
  m.start_xid = next_xid(s);
  m.start_time = format_time(db_now_us(s));
  std::uint64_t estimate = std::stoull(s.scalar("SELECT coalesce(sum(pg_database_size(oid)), 0) FROM pg_database"));

  Cleanup cleanup{repo, m.id};
  printer.info(fmt::format("backup {}: streaming a base backup of {} (about {})", m.id, t.display(), util::format_size(estimate)));

  StoredWriter stored(repo, m.id, "base.tar.zst", level, threads);
  ZstdFileWriter& out = stored.out;
  TarScanner tar;
  std::optional<Sha256> member;
  ContentFile current;
  tar.on_begin = [&](const TarEntry& e) {
    current = ContentFile{e.path, e.size, ""};
    if (e.type == '0') member.emplace();
  };
  std::string label, bmanifest; // backup_label and backup_manifest hold the WAL range
  tar.on_data = [&](std::string_view d) {
    member->update(d);
    if (current.path == "backup_label") label.append(d);
    if (current.path == "backup_manifest") bmanifest.append(d);
  };
  tar.on_end = [&](const TarEntry& e) {
    if (e.type != '0') return;
    current.sha256 = member->hex();
    member.reset();
    m.contents.push_back(current);
  };
  output::Progress progress(printer, "backup " + m.id, estimate, o.tty);
  std::uint64_t done = 0;
  cmd.io = exec::Io::stream;
  cmd.on_stdout = [&](std::string_view chunk) {
    tar.feed(chunk);
    out.write(chunk);
    done += chunk.size();
    progress.update(done);
  };
  auto res = runner.run(cmd);
  progress.finish();
  if (!res.ok())
    throw Error(ExitCode::external, "pg_basebackup failed", exec::redact(util::trim(res.err)), "check the server log and `statectl backup info`");
  if (!tar.finished()) throw Error(ExitCode::failed, "the base backup stream ended early", "pg_basebackup output has no end-of-archive marker");
  std::smatch mt;
  std::regex start_re(R"(write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+))");
  std::regex end_re(R"(write-ahead log end point: ([0-9A-F]+/[0-9A-F]+))");
  std::string info = res.err + "\n" + label + "\n" + bmanifest;
  std::regex label_re(R"(START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+)[^\n]*\n(?:[^\n]*\n)*?START TIMELINE: (\d+))");
  std::regex wr_re(R"re("End-LSN": "([0-9A-F]+/[0-9A-F]+)")re");
  if (std::regex_search(label, mt, label_re)) info += fmt::format("\nwrite-ahead log start point: {} on timeline {}\n", mt[1].str(), mt[2].str());
  if (std::regex_search(bmanifest, mt, wr_re)) info += fmt::format("\nwrite-ahead log end point: {}\n", mt[1].str());
  if (!std::regex_search(info, mt, start_re)) throw Error(ExitCode::failed, "cannot read the backup's start point", "pg_basebackup -v printed no start point");
  m.start_lsn = mt[1];
  m.timeline = static_cast<std::uint32_t>(std::stoul(mt[2]));
  if (!std::regex_search(info, mt, end_re)) throw Error(ExitCode::failed, "cannot read the backup's end point", "pg_basebackup -v printed no end point");
  m.stop_lsn = mt[1];
  m.files.push_back(stored.finish());
  m.stop_time = format_time(db_now_us(s));
  m.stop_xid = next_xid(s);
  std::uint64_t start = *parse_lsn(m.start_lsn), stop = *parse_lsn(m.stop_lsn);
  m.start_wal = wal_segment_name(m.timeline, start, m.wal_segment_size);
  m.stop_wal = wal_segment_name(m.timeline, stop > start ? stop - 1 : stop, m.wal_segment_size);

  // Valid only once every segment from start to stop is archived.
  printer.info(fmt::format("backup {}: waiting for WAL {} to be archived", m.id, m.stop_wal));
  if (!wait_archived(cfg, repo, m.stop_wal, o.archive_timeout)) {
    s.query("SELECT pg_switch_wal()");
    if (!wait_archived(cfg, repo, m.stop_wal, o.archive_timeout))
      throw Error(ExitCode::failed, fmt::format("backup {} is incomplete", m.id),
                  fmt::format("WAL segment {} was not archived within {}s{}", m.stop_wal, o.archive_timeout.count(), archiver_state(s)),
                  "check archive_command and run the backup again");
  }
  auto chain = check_wal_chain(repo, m.timeline, start / m.wal_segment_size, m.wal_segment_size, stop / m.wal_segment_size);
  if (chain.missing && parse_wal_name(*chain.missing)->segment <= (stop > start ? stop - 1 : stop) / m.wal_segment_size)
    throw Error(ExitCode::failed, fmt::format("backup {} is incomplete", m.id), fmt::format("WAL segment {} is missing from the archive", *chain.missing));
  repo.write_manifest(m);
  cleanup.armed = false;
  return m;
}

Manifest create_logical(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const CreateOptions& o, const Repository& repo)
{
  PgTarget t = primary_target(cfg);
  exec::Command cmd;
  cmd.argv = {tool(cfg, "pg_dump")};
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
  m.id = new_id(repo, 'L');
  m.database = t.database;
  m.system_identifier = s.scalar("SELECT system_identifier FROM pg_control_system()");
  m.pg_version = s.scalar("SHOW server_version");
  m.compress_level = static_cast<int>(cfg.get_int("backup.compress_level"));
  m.start_time = format_time(db_now_us(s));
  Cleanup cleanup{repo, m.id};
  printer.info(fmt::format("backup {}: dumping database {} of {}", m.id, t.database, t.display()));
  StoredWriter stored(repo, m.id, "dump.pgdump.zst", m.compress_level, static_cast<int>(cfg.get_int("backup.threads")));
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
                             const stack::Endpoints& ep)
{
  std::string password = clients::stored_password(cfg, ep.redis_password_secret, true).value_or("");
  std::string host = ep.redis.host;
  int port = ep.redis.port;
  if (!ep.sentinels.empty()) {
    clients::SentinelOptions so;
    so.sentinels = ep.sentinels;
    so.master_name = ep.master_name;
    so.password = password;
    so.nat = stack::redis_address_map(ep);
    auto m = clients::ask_sentinels(so);
    if (!m) throw Error(ExitCode::unavailable, "no Sentinel reports a reachable Redis master", m.error(), "run `statectl status`");
    host = m->host;
    port = m->port;
  }
  exec::Command cmd;
  cmd.argv = {"redis-cli", "-h", host, "-p", std::to_string(port), "--rdb", ""};
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
  m.id = new_id(repo, 'R');
  m.pg_version.clear();
  m.compress_level = static_cast<int>(cfg.get_int("backup.compress_level"));
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
  StoredWriter stored(repo, m.id, "dump.rdb.zst", m.compress_level, static_cast<int>(cfg.get_int("backup.threads")));
  stored.out.write(*data);
  m.files.push_back(stored.finish());
  repo.write_manifest(m);
  cleanup.armed = false;
  return m;
}

Manifest create_redis(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const Repository& repo)
{
  auto ep = stack::resolve(cfg);
  if (!ep.redis_files_local && ep.redis_url.empty()) return create_redis_remote(cfg, runner, printer, repo, ep);
  std::string host = ep.redis.host;
  int port = ep.redis.port;
  if (runner.dry_run() == exec::DryRun::plan) {
    printer.plan(fmt::format("BGSAVE on redis {}:{}, then copy the RDB file into {}", host, port, repo.location()));
    return {};
  }
  Redis r;
  clients::RedisOptions o;
  o.host = host;
  o.port = port;
  o.connect_timeout = 5s;
  o.command_timeout = 5s;
  // An unreadable store is not fatal: a server without requirepass needs no password (and
  // refuses AUTH, which the client tolerates); a wrong one fails the connect with a hint.
  o.password = clients::stored_password(cfg, ep.redis_password_secret, true).value_or("");
  try {
    r.c = clients::RedisConnection::connect(o);
  } catch (const clients::RedisError& e) {
    throw clients::to_error(e.failure(), fmt::format("cannot connect to Redis at {}:{}", host, port),
                            "start the stack (`statectl deploy`) or check [local] redis_port");
  }
  Manifest m;
  m.type = "redis";
  m.id = new_id(repo, 'R');
  m.pg_version.clear();
  m.compress_level = static_cast<int>(cfg.get_int("backup.compress_level"));
  std::string before = r.str({"LASTSAVE"});
  // LASTSAVE has one-second resolution; the rdb_saves counter (Redis 7) tells a new save apart.
  std::string saves_before = info_field(r.str({"INFO", "persistence"}), "rdb_saves");
  m.start_time = format_time(now_us());
  printer.info(fmt::format("backup {}: BGSAVE on Redis {}:{}", m.id, host, port));
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
  m.stop_time = format_time(now_us());
  Cleanup cleanup{repo, m.id};
  StoredWriter stored(repo, m.id, "dump.rdb.zst", m.compress_level, static_cast<int>(cfg.get_int("backup.threads")));
  ZstdFileWriter& out = stored.out;
  auto data = util::read_file(rdb);
  if (!data) throw Error(ExitCode::failed, "cannot read the Redis snapshot", data.error(), "statectl must run on the Redis host to copy its RDB file");
  out.write(*data);
  m.files.push_back(stored.finish());
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
    Manifest m = o.type == "full"      ? create_full(cfg, runner, printer, o, repo)
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

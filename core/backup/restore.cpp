// restore: preflight, unpack with checksum checks, recovery settings, start and watch recovery.
#include "core/backup/restore.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <regex>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unordered_set>
#include <unistd.h>

#include "core/backup/delta.h"
#include "core/backup/pg.h"
#include "core/backup/repository.h"
#include "core/backup/restore_parts.h"
#include "core/backup/stream.h"
#include "core/backup/unpack.h"
#include "core/backup/wal.h"
#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/fs.h"
#include "core/util/parallel.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

int free_port()
{
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) ::close(fd);
  if (port == 0) throw Error(ExitCode::failed, "cannot find a free port", std::strerror(errno), "pass --port");
  return port;
}

void check_target_dir(const fs::path& dir)
{
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec))
    throw Error(ExitCode::usage, fmt::format("cannot restore into {}", dir.string()), "it exists and is not a directory", "pass a new directory to --to");
  if (!fs::is_empty(dir, ec))
    throw Error(ExitCode::usage, fmt::format("cannot restore into {}", dir.string()),
                restore_incomplete(dir) ? "the directory is not empty: it holds an unfinished restore" : "the directory is not empty",
                restore_incomplete(dir) ? "finish it with --delta (the same restore again), or pass a new or empty directory to --to"
                                        : "pass a new or empty directory to --to, or --delta to restore into the data directory of a stopped server");
}

bool absent_or_empty(const fs::path& dir)
{
  std::error_code ec;
  return !fs::exists(dir, ec) || (fs::is_directory(dir, ec) && fs::is_empty(dir, ec));
}

// A PostgreSQL string literal.
} // namespace

namespace {

void chown_tree(const fs::path& dir, const std::string& user)
{
  if (user.empty() || ::geteuid() != 0) return;
  struct passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw Error(ExitCode::unavailable, fmt::format("cannot hand {} to user '{}'", dir.string(), user), "no such user", "set [local] run_as");
  [[maybe_unused]] int r = ::lchown(dir.c_str(), pw->pw_uid, pw->pw_gid);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec))
    r = ::lchown(it->path().c_str(), pw->pw_uid, pw->pw_gid);
}

std::string tool(const config::Config& cfg, const std::string& name)
{
  fs::path p = fs::path(config::settings(cfg).postgres.bin_dir) / name;
  return fs::exists(p) ? p.string() : name;
}

std::string read_log(const fs::path& p)
{
  auto t = util::read_file(p);
  return t ? *t : std::string();
}

std::string last_match(const std::string& log, const std::regex& re, int group = 0)
{
  std::string out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it) out = (*it)[group];
  return out;
}

// The settings a server replaying the source's WAL must not set lower than the source did
// (PostgreSQL aborts recovery otherwise), as pg_control of the restored directory records them.
// The source's postgresql.conf need not be in the backup: a container image may keep it outside
// the data directory (the compose target's config_file), leaving initdb's defaults here.
std::string source_limits(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const fs::path& dir)
{
  static const std::vector<std::pair<std::string, std::string>> k_limits = {
    {"max_connections setting", "max_connections"},
    {"max_worker_processes setting", "max_worker_processes"},
    {"max_wal_senders setting", "max_wal_senders"},
    {"max_prepared_xacts setting", "max_prepared_transactions"},
    {"max_locks_per_xact setting", "max_locks_per_transaction"},
  };
  // pg_control is still staged (it goes into place last): pg_controldata reads a copy of it.
  char tmpl[] = "/tmp/statectl-pgcontrol.XXXXXX";
  if (!::mkdtemp(tmpl)) {
    printer.warn(fmt::format("cannot read pg_control of {}: {}", dir.string(), std::strerror(errno)));
    return "";
  }
  fs::path copy_dir = tmpl;
  struct Remove {
    fs::path p;
    ~Remove()
    {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } remove_copy{copy_dir};
  std::error_code ec;
  fs::create_directories(copy_dir / "global", ec);
  fs::copy_file(dir / k_pg_control_staged, copy_dir / "global" / "pg_control", ec);
  exec::Command c;
  c.argv = {tool(cfg, "pg_controldata"), "-D", copy_dir.string()};
  c.timeout = std::chrono::seconds(30);
  // Best effort: without pg_controldata (or an answer from it) the server's own check of these
  // settings still applies, and a missing pg_ctl is reported by the step that needs it.
  exec::Result r;
  try {
    r = runner.run(c);
  } catch (const Error& e) {
    printer.warn(fmt::format("cannot read pg_control of {}: {}", dir.string(), e.message()));
    return "";
  }
  if (!r.ok()) {
    printer.warn(fmt::format("cannot read pg_control of {}: {}", dir.string(), util::trim(r.err)));
    return "";
  }
  std::string out;
  for (const auto& line : util::split(r.out, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = util::trim(line.substr(0, colon)), value = util::trim(line.substr(colon + 1));
    for (const auto& [label, guc] : k_limits)
      if (key == label && !value.empty() && value.find_first_not_of("0123456789") == std::string::npos)
        out += fmt::format("{} = {}\n", guc, value);
  }
  return out;
}

} // namespace

RestoreResult restore(const config::Config& cfg, exec::Runner& runner, output::Printer& printer, const RestoreOptions& o)
{
  // Preflight: nothing is written until every check passed. --delta into an absent or empty
  // directory is a plain restore (as pgBackRest's).
  bool delta = o.delta && !absent_or_empty(o.to);
  if (delta) check_delta_target(o.to);
  else check_target_dir(o.to);
  std::optional<std::int64_t> t_us;
  std::optional<std::uint64_t> lsn, xid;
  if (o.kind == TargetKind::time) {
    t_us = parse_time(o.value);
    if (!t_us)
      throw Error(ExitCode::usage, fmt::format("invalid --target-time '{}'", o.value), "",
                  "use 'YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]' (no offset means UTC)");
  } else if (o.kind == TargetKind::lsn) {
    lsn = parse_lsn(o.value);
    if (!lsn) throw Error(ExitCode::usage, fmt::format("invalid --target-lsn '{}'", o.value), "", "use the form 0/3000060");
  } else if (o.kind == TargetKind::xid) {
    if (o.value.empty() || !std::all_of(o.value.begin(), o.value.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      throw Error(ExitCode::usage, fmt::format("invalid --target-xid '{}'", o.value), "", "use a transaction id such as 745");
    xid = std::stoull(o.value);
  } else if (o.kind == TargetKind::name && o.value.empty()) {
    throw Error(ExitCode::usage, "invalid --target-name ''", "", "use the name given to pg_create_restore_point()");
  }
  if (o.action != "promote" && o.action != "pause" && o.action != "shutdown")
    throw Error(ExitCode::usage, fmt::format("invalid --target-action '{}'", o.action), "", "use promote, pause or shutdown");
  Repository repo = Repository::from_config(cfg);
  // WAL the servers spooled (compose) belongs to the archive a restore reads.
  if (runner.dry_run() != exec::DryRun::plan) import_spool(cfg, repo);
  Manifest m = choose_backup(repo, o, t_us, lsn, xid);
  check_wal(repo, m, o, t_us, lsn);
  std::string run_as = exec::running_as_root() ? config::settings(cfg).local.run_as : "";
  int port = o.port ? o.port : (o.start ? free_port() : 0);
  RestoreResult doc;
  doc.backup = m.id;
  doc.target = describe_target(o);
  doc.target_action = o.action;
  doc.data_directory = o.to.string();
  if (port) doc.port = port;
  if (runner.dry_run() == exec::DryRun::plan) {
    printer.plan(fmt::format("restore backup {} into {} with target {}", m.id, o.to.string(), describe_target(o)));
    if (delta)
      printer.plan(fmt::format("keep the files of {} whose size and SHA-256 match the backup, write the others and remove what the backup "
                               "does not hold (--delta)", o.to.string()));
    return doc;
  }

  // Unpack with checksum checks; on any failure remove what was written.
  bool created = !fs::exists(o.to);
  if (auto r = util::make_dirs(o.to, 0700); !r) throw Error(ExitCode::failed, "cannot create the data directory", r.error());
  ::chmod(o.to.c_str(), 0700);
  auto wipe = [&] {
    std::error_code ec;
    if (delta) return; // the marker stays: the directory is an unfinished restore
    if (created) fs::remove_all(o.to, ec);
    else
      for (const auto& de : fs::directory_iterator(o.to, ec)) fs::remove_all(de.path(), ec);
  };
  try {
    printer.info(m.type == "full" ? fmt::format("restoring backup {} into {}", m.id, o.to.string())
                                  : fmt::format("restoring {} backup {} (with files from {}) into {}", m.type, m.id, util::join(m.references, ", "),
                                                o.to.string()));
    begin_restore(o.to, m.id);
    std::unordered_set<std::string> keep;
    std::size_t removed = 0;
    if (delta) {
      auto plan = apply_delta_plan(o.to, m, util::worker_count(4), printer);
      keep.insert(plan.keep.begin(), plan.keep.end());
      removed = plan.remove.size();
    }
    auto unpacked = unpack_backup(repo, m, o.to, printer, o.tty, keep);
    if (delta) {
      removed += remove_strays(o.to, m, unpacked.links_and_dirs);
      doc.delta = DeltaSummary{keep.size(), unpacked.files, removed, unpacked.archives_skipped};
    }

    // Recovery settings, appended to postgresql.auto.conf (read last, so they win).
    std::string cmd = util::shell_quote(o.statectl_path);
    if (config::settings(cfg).file) cmd += " -c " + util::shell_quote(fs::absolute(*config::settings(cfg).file).string());
    cmd += " wal fetch --repo " + util::shell_quote(repo.location()) + " %f %p";
    std::string conf = fmt::format("\n# written by statectl restore of backup {} ({})\nrestore_command = {}\nrecovery_target_timeline = 'latest'\n", m.id,
                                   describe_target(o), util::sql_quote(cmd));
    switch (o.kind) {
    case TargetKind::latest: break;
    case TargetKind::immediate: conf += "recovery_target = 'immediate'\n"; break;
    case TargetKind::time: {
      // PostgreSQL's check of recovery_target_time refuses the ISO 'T'/'Z' spelling.
      std::string t = format_time(*t_us);
      t[10] = ' ';
      t.back() = '+';
      conf += fmt::format("recovery_target_time = {}\n", util::sql_quote(t + "00"));
      break;
    }
    case TargetKind::lsn: conf += fmt::format("recovery_target_lsn = {}\n", util::sql_quote(o.value)); break;
    case TargetKind::xid: conf += fmt::format("recovery_target_xid = {}\n", util::sql_quote(o.value)); break;
    case TargetKind::name: conf += fmt::format("recovery_target_name = {}\n", util::sql_quote(o.value)); break;
    }
    if (o.kind != TargetKind::latest) conf += fmt::format("recovery_target_action = {}\n", util::sql_quote(o.action));
    if (!o.keep_archiving) {
      // A copy must never archive into the source's repository nor wait for its standbys.
      conf += "archive_mode = 'off'\nsynchronous_standby_names = ''\nprimary_conninfo = ''\n";
    }
    conf += "logging_collector = 'off'\nhot_standby = 'on'\nlisten_addresses = '127.0.0.1'\n";
    conf += fmt::format("unix_socket_directories = {}\n", util::sql_quote(o.to.string()));
    if (port) conf += fmt::format("port = {}\n", port);
    conf += source_limits(cfg, runner, printer, o.to);
    std::ofstream(o.to / "postgresql.auto.conf", std::ios::app) << conf;
    std::error_code ec;
    fs::remove(o.to / "standby.signal", ec);
    fs::remove(o.to / "postmaster.pid", ec);
    std::ofstream(o.to / "recovery.signal").flush();
    fs::create_directories(o.to / "log", ec);
    fs::create_directories(o.to / "pg_wal" / "archive_status", ec);
    chown_tree(o.to, run_as);
    // Durable before it is reported restored, as pgBackRest syncs each file: every file and
    // directory of the restored tree (not the whole filesystem: other processes' writes are
    // not waited for); then pg_control goes into place and the marker goes.
    finish_restore(o.to, o.sync);
  } catch (const Error& e) {
    wipe();
    if (!delta) throw;
    throw Error(e.code(), e.what_failed(), e.why(),
                fmt::format("{}{} is left marked as an unfinished restore, which neither statectl nor PostgreSQL starts; fix the cause and run the "
                            "same `statectl restore --delta` again",
                            e.hint().empty() ? "" : e.hint() + "; ", o.to.string()));
  } catch (...) {
    wipe();
    throw;
  }
  doc.restore_command = "statectl wal fetch %f %p";
  if (!o.start) return doc;

  // Start and watch recovery until it reaches the target (or fails to).
  fs::path log = o.to / "log" / "restore.log";
  exec::Command start;
  start.argv = {tool(cfg, "pg_ctl"), "-D", o.to.string(), "-l", log.string(), "-w", "-t", std::to_string(o.timeout.count()), "start"};
  start.run_as = run_as;
  start.mutating = true;
  start.timeout = o.timeout + 10s;
  printer.info(fmt::format("starting PostgreSQL on port {} to replay WAL to {}", port, describe_target(o)));
  auto sr = runner.run(start);
  std::string text = read_log(log);
  static const std::regex fatal_re(R"((FATAL|PANIC):\s+([^\n]*))");
  static const std::regex stop_re(R"(LOG:\s+(recovery stopping[^\n]*))");
  auto ended_early = [](const std::string& t) { return t.find("recovery ended before configured recovery target was reached") != std::string::npos; };
  if (ended_early(text))
    throw Error(ExitCode::failed, fmt::format("recovery ended before reaching the target {}", describe_target(o)),
                "PostgreSQL replayed all archived WAL without reaching it (see " + log.string() + ")",
                "pick an earlier target, or --latest");
  std::string state;
  if (!sr.ok()) {
    if (o.action == "shutdown" && text.find("recovery stopping") != std::string::npos) {
      state = "shut down at the target";
    } else {
      std::string why = last_match(text, fatal_re, 2);
      throw Error(ExitCode::external, "PostgreSQL did not start on the restored directory", why.empty() ? util::trim(sr.err) : why,
                  "see " + log.string());
    }
  }
  PgTarget t = primary_target(cfg);
  t.url.clear();
  t.host = "127.0.0.1";
  t.port = port;
  std::string reached_lsn, query_result;
  auto deadline = std::chrono::steady_clock::now() + o.timeout;
  while (state.empty()) {
    text = read_log(log);
    if (ended_early(text))
      throw Error(ExitCode::failed, fmt::format("recovery ended before reaching the target {}", describe_target(o)),
                  "PostgreSQL replayed all archived WAL without reaching it (see " + log.string() + ")", "pick an earlier target, or --latest");
    if (o.action == "shutdown" && !fs::exists(o.to / "postmaster.pid")) {
      state = "shut down at the target";
      break;
    }
    try {
      // The restored server is the one this command just started on loopback. It has the TLS
      // settings of where the backup came from: a local stack's data directory names its
      // certificates, a container's got them from its command line (so here it has none).
      std::optional<PgSession> session;
      try {
        session.emplace(t, 2);
      } catch (const Error&) {
        if (!t.tls.enabled) throw;
        PgTarget plain = t;
        plain.tls = {};
        session.emplace(plain, 2);
      }
      PgSession& s = *session;
      std::string in_recovery = s.scalar("SELECT pg_is_in_recovery()");
      if (in_recovery == "f") state = "promoted";
      else if (o.action == "pause" && s.scalar("SELECT pg_get_wal_replay_pause_state()") == "paused") state = "paused at the target";
      if (!state.empty()) {
        reached_lsn = s.scalar(in_recovery == "f" ? "SELECT coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text"
                                                  : "SELECT pg_last_wal_replay_lsn()::text");
        query_result = fmt::format("pg_class has {} rows", s.scalar("SELECT count(*) FROM pg_class"));
      }
    } catch (const Error&) {
    }
    if (!state.empty()) break;
    if (std::chrono::steady_clock::now() > deadline)
      throw Error(ExitCode::failed, fmt::format("recovery did not reach the target within {}s", o.timeout.count()), "see " + log.string(),
                  "the server is still running; stop it with pg_ctl -D " + o.to.string() + " stop");
    std::this_thread::sleep_for(200ms);
  }
  text = read_log(log);
  static const std::regex tl_re(R"(selected new timeline ID: (\d+))");
  static const std::regex last_re(R"(last completed transaction was at log time ([^\n]*))");
  auto set = [](const std::string& v) { return v.empty() ? std::nullopt : std::optional<std::string>(v); };
  doc.started = state != "shut down at the target";
  RecoveryOutcome& outcome = doc.recovery.emplace();
  outcome.state = state;
  outcome.reached_lsn = set(reached_lsn);
  outcome.recovery_stop = set(last_match(text, stop_re, 1));
  outcome.last_transaction_time = set(last_match(text, last_re, 1));
  std::string tl = last_match(text, tl_re, 1);
  outcome.timeline = tl.empty() ? m.timeline : static_cast<std::uint32_t>(std::stoul(tl));
  outcome.query_result = query_result;
  outcome.log = log.string();
  return doc;
}

void stop_restored(const config::Config& cfg, exec::Runner& runner, const fs::path& dir)
{
  if (!fs::exists(dir / "postmaster.pid")) return;
  exec::Command stop;
  stop.argv = {tool(cfg, "pg_ctl"), "-D", dir.string(), "-m", "fast", "-w", "stop"};
  stop.run_as = exec::running_as_root() ? config::settings(cfg).local.run_as : "";
  stop.mutating = true;
  stop.timeout = 60s;
  runner.run(stop);
}

RedisRestoreResult restore_redis(const config::Config& cfg, output::Printer& printer, const RestoreOptions& o)
{
  check_target_dir(o.to);
  Repository repo = Repository::from_config(cfg);
  std::optional<Manifest> m;
  if (!o.backup_id.empty() && o.backup_id != "latest") {
    m = repo.manifest(o.backup_id);
    if (!m || m->type != "redis") throw Error(ExitCode::usage, fmt::format("no valid Redis backup '{}'", o.backup_id), "", "run `statectl backup list`");
  } else {
    for (const auto& e : repo.backups())
      if (e.valid && e.manifest->type == "redis") m = e.manifest;
    if (!m) throw Error(ExitCode::usage, "nothing to restore", "the repository has no valid Redis backup", "run `statectl backup create --backend redis`");
  }
  if (auto r = util::make_dirs(o.to, 0750); !r) throw Error(ExitCode::failed, "cannot create the target directory", r.error());
  // A Redis Cluster's backup holds one RDB per master (dump-HOST-PORT.rdb.zst): each is restored
  // beside the others under its own name, the single server's as dump.rdb.
  fs::path dest;
  for (const auto& f : m->files) {
    dest = o.to / (m->files.size() == 1 ? std::string("dump.rdb") : f.name.substr(0, f.name.size() - 4));
    fs::path tmp = o.to / ".dump.rdb.restore";
    {
      std::ofstream out(tmp, std::ios::binary);
      LocalCopy copy = repo.storage().fetch(Repository::backup_key(m->id, f.name));
      auto st = read_zstd_file(
        copy.path(), [&](std::string_view d) { out.write(d.data(), static_cast<std::streamsize>(d.size())); }, repo.cipher_key(),
        Repository::backup_key(m->id, f.name));
      out.close();
      if (st.raw_sha256 != f.sha256 || st.stored_sha256 != f.stored_sha256) {
        fs::remove(tmp);
        throw Error(ExitCode::failed, fmt::format("backup {} is damaged", m->id), fmt::format("backups/{}/{}: checksum mismatch", m->id, f.name));
      }
    }
    fs::rename(tmp, dest);
    printer.info(fmt::format("restored Redis snapshot {} as {}", m->id, dest.string()));
  }
  chown_tree(o.to, exec::running_as_root() ? config::settings(cfg).local.run_as : "");
  const auto& first = m->files.at(0);
  return RedisRestoreResult{m->id, m->files.size() == 1 ? dest.string() : o.to.string(), first.size, first.sha256};
}

} // namespace statectl::backup

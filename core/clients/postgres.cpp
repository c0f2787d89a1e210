#include "core/clients/postgres.h"

#include <algorithm>
#include <cstring>
#include <libpq-fe.h>
#include <poll.h>

#include <fmt/format.h>

#include "core/config/url.h"
#include "core/exec/redact.h"
#include "core/util/strings.h"

namespace statectl::clients {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t k_copy_chunk = 1u << 20;

std::string clean(std::string_view text) { return exec::redact(util::trim(std::string(text))); }

// Quotes a conninfo value the way libpq parses it: single quotes, ' and \ escaped.
std::string quote(const std::string& v)
{
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

PgFailure result_failure(PGconn* c, const PGresult* r)
{
  PgFailure f;
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  f.sqlstate = state ? state : "";
  f.message = clean(r ? PQresultErrorMessage(r) : "");
  if (f.message.empty()) f.message = clean(c ? PQerrorMessage(c) : "out of memory");
  if (c && PQstatus(c) != CONNECTION_OK) f.kind = PgFailureKind::broken;
  else if (f.sqlstate == "57014") f.kind = PgFailureKind::timeout;
  else if (f.sqlstate.empty() && !r) f.kind = PgFailureKind::broken;
  else f.kind = PgFailureKind::sql;
  return f;
}

void silent_notice(void*, const char*) {}

// Waits until fd is readable (or writable) or the deadline passes.
bool wait_fd(int fd, bool for_write, Clock::time_point deadline)
{
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return false;
  pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  return ::poll(&p, 1, static_cast<int>(left)) > 0;
}

} // namespace

// ---- parameters ------------------------------------------------------------------------------

PgParams PgParams::from(const PgEndpoint& ep)
{
  PgParams p;
  p.host = ep.host;
  p.port = ep.port;
  p.user = ep.user;
  p.database = ep.database;
  p.url = ep.url;
  // Without TLS set by the target, libpq's default (prefer) stays: a managed server may ask for it.
  if (ep.tls.enabled) p.tls = pg_tls(ep.tls);
  return p;
}

PgTls pg_tls(const ClientTls& tls)
{
  PgTls t;
  t.sslmode = tls.enabled ? "verify-full" : "disable";
  if (tls.enabled) t.sslrootcert = tls.ca_file;
  return t;
}

std::vector<std::pair<std::string, std::string>> PgParams::keywords() const
{
  std::vector<std::pair<std::string, std::string>> k;
  if (!url.empty()) {
    // expand_dbname: the URL's settings first; later keywords override them.
    k.emplace_back("dbname", url);
  } else {
    k.emplace_back("host", host);
    k.emplace_back("port", std::to_string(port));
    if (!user.empty()) k.emplace_back("user", user);
    if (dbname_override.empty() && !database.empty()) k.emplace_back("dbname", database);
  }
  if (!dbname_override.empty()) k.emplace_back("dbname", dbname_override);
  if (!password.empty()) k.emplace_back("password", password);
  if (connect_timeout_s > 0) k.emplace_back("connect_timeout", std::to_string(connect_timeout_s));
  if (!application_name.empty()) k.emplace_back("application_name", application_name);
  if (!tls.sslmode.empty()) k.emplace_back("sslmode", tls.sslmode);
  if (!tls.sslrootcert.empty()) k.emplace_back("sslrootcert", tls.sslrootcert);
  if (!tls.sslcert.empty()) k.emplace_back("sslcert", tls.sslcert);
  if (!tls.sslkey.empty()) k.emplace_back("sslkey", tls.sslkey);
  return k;
}

std::string PgParams::loggable_conninfo() const
{
  std::string out;
  for (const auto& [key, value] : keywords()) {
    if (key == "password") continue;
    if (!out.empty()) out += ' ';
    out += key + "=" + quote(key == "dbname" && value == url ? config::redact_url(value) : value);
  }
  return out;
}

std::string PgParams::display() const
{
  if (!url.empty()) return config::redact_url(url);
  return fmt::format("{}:{}", host, port);
}

int timeout_seconds(std::chrono::milliseconds timeout, int min_s)
{
  return std::max<int>(min_s, static_cast<int>((timeout.count() + 999) / 1000));
}

// ---- failures --------------------------------------------------------------------------------

ExitCode exit_code(const PgFailure& f, ExitCode sql_code) { return f.kind == PgFailureKind::sql ? sql_code : ExitCode::unavailable; }

Error to_error(const PgFailure& f, const std::string& what, const std::string& hint, ExitCode sql_code)
{
  std::string h = hint;
  if (f.kind == PgFailureKind::auth)
    h = "check the password (the secret store's, see `statectl secrets list`, or [postgres] url's) and the server's pg_hba.conf";
  return Error(exit_code(f, sql_code), what, f.message, h);
}

PgFailureKind classify_connect_error(std::string_view m)
{
  for (const char* s : {"password authentication failed", "no password supplied", "authentication failed", "SCRAM",
                        "no pg_hba.conf entry", "role \""})
    if (m.find(s) != std::string_view::npos) return PgFailureKind::auth;
  if (m.find("timeout expired") != std::string_view::npos) return PgFailureKind::timeout;
  return PgFailureKind::connect;
}

PgError::PgError(PgFailure f) : std::runtime_error(f.message), m_failure(std::move(f)) {}

// ---- COPY ------------------------------------------------------------------------------------

void PgCopyWriter::escape(std::string_view field, std::string& out)
{
  for (char c : field) {
    switch (c) {
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    case '\v': out += "\\v"; break;
    default: out += c;
    }
  }
}

void PgCopyWriter::row(const std::vector<std::optional<std::string_view>>& fields)
{
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) m_buffer += '\t';
    if (fields[i]) escape(*fields[i], m_buffer);
    else m_buffer += "\\N";
  }
  m_buffer += '\n';
  if (m_buffer.size() >= k_copy_chunk) flush();
}

void PgCopyWriter::bytea_field(std::string_view bytes)
{
  if (m_in_row) m_buffer += '\t';
  m_in_row = true;
  std::size_t run = 0; // start of the pending run of bytes that stand for themselves
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') continue;
    m_buffer.append(bytes.data() + run, i - run);
    run = i + 1;
    // bytea's \\ or \ooo, each backslash doubled again for COPY's text format.
    if (c == '\\') {
      m_buffer += "\\\\\\\\";
    } else {
      char octal[5] = {'\\', '\\', static_cast<char>('0' + (c >> 6)), static_cast<char>('0' + ((c >> 3) & 7)), static_cast<char>('0' + (c & 7))};
      m_buffer.append(octal, sizeof octal);
    }
  }
  m_buffer.append(bytes.data() + run, bytes.size() - run);
}

void PgCopyWriter::text_field(std::optional<std::string_view> text)
{
  if (m_in_row) m_buffer += '\t';
  m_in_row = true;
  if (text) escape(*text, m_buffer);
  else m_buffer += "\\N";
}

void PgCopyWriter::end_row()
{
  m_buffer += '\n';
  m_in_row = false;
  if (m_buffer.size() >= k_copy_chunk) flush();
}

void PgCopyWriter::flush()
{
  if (m_buffer.empty()) return;
  if (PQputCopyData(m_conn, m_buffer.data(), static_cast<int>(m_buffer.size())) != 1)
    throw PgError(PgFailure{PgFailureKind::broken, "", clean(PQerrorMessage(m_conn))});
  m_buffer.clear();
}

// ---- connection ------------------------------------------------------------------------------

PgConnection::PgConnection(pg_conn* c, std::string display) : m_conn(c), m_cancel(PQgetCancel(c)), m_display(std::move(display)) {}

PgConnection::~PgConnection()
{
  if (m_cancel) PQfreeCancel(m_cancel);
  if (m_conn) PQfinish(m_conn);
}

PgConnection::PgConnection(PgConnection&& o) noexcept
  : m_conn(std::exchange(o.m_conn, nullptr)), m_cancel(std::exchange(o.m_cancel, nullptr)), m_display(std::move(o.m_display))
{
}

PgConnection& PgConnection::operator=(PgConnection&& o) noexcept
{
  if (this != &o) {
    if (m_cancel) PQfreeCancel(m_cancel);
    if (m_conn) PQfinish(m_conn);
    m_conn = std::exchange(o.m_conn, nullptr);
    m_cancel = std::exchange(o.m_cancel, nullptr);
    m_display = std::move(o.m_display);
  }
  return *this;
}

namespace {

struct Arrays {
  std::vector<std::pair<std::string, std::string>> kw;
  std::vector<const char*> keys, values;
  explicit Arrays(const PgParams& p) : kw(p.keywords())
  {
    for (const auto& [k, v] : kw) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
  }
};

[[noreturn]] void connect_failed(PGconn* c)
{
  std::string why = clean(c ? PQerrorMessage(c) : "out of memory");
  PgFailureKind kind = classify_connect_error(why);
  if (kind == PgFailureKind::timeout) kind = PgFailureKind::connect;
  if (c) PQfinish(c);
  throw PgError(PgFailure{kind, "", why});
}

} // namespace

PgConnection PgConnection::connect(const PgParams& params)
{
  Arrays a(params);
  PGconn* c = PQconnectdbParams(a.keys.data(), a.values.data(), params.url.empty() ? 0 : 1);
  if (!c || PQstatus(c) != CONNECTION_OK) connect_failed(c);
  PQsetNoticeProcessor(c, silent_notice, nullptr);
  return PgConnection(c, params.display());
}

PgConnection PgConnection::connect_until(const PgParams& params, Clock::time_point deadline)
{
  Arrays a(params);
  PGconn* c = PQconnectStartParams(a.keys.data(), a.values.data(), params.url.empty() ? 0 : 1);
  if (!c || PQstatus(c) == CONNECTION_BAD) connect_failed(c);
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) connect_failed(c);
    if (!wait_fd(PQsocket(c), st == PGRES_POLLING_WRITING, deadline)) {
      PQfinish(c);
      throw PgError(PgFailure{PgFailureKind::connect, "", "connect timed out"});
    }
    st = PQconnectPoll(c);
  }
  PQsetNoticeProcessor(c, silent_notice, nullptr);
  return PgConnection(c, params.display());
}

bool PgConnection::ok() const { return m_conn && PQstatus(m_conn) == CONNECTION_OK; }

std::string PgConnection::tls_protocol() const
{
  if (!m_conn || !PQsslInUse(m_conn)) return {};
  const char* p = PQsslAttribute(m_conn, "protocol");
  return p ? p : "";
}

void PgConnection::fail(pg_result* r)
{
  PgFailure f = result_failure(m_conn, r);
  if (r) PQclear(r);
  throw PgError(std::move(f));
}

PgResult PgConnection::check(pg_result* r)
{
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY) fail(r);
  return PgResult(r);
}

PgResult PgConnection::exec(const std::string& sql)
{
  if (!m_conn) throw PgError(PgFailure{PgFailureKind::broken, "", "not connected"});
  return check(PQexec(m_conn, sql.c_str()));
}

namespace {

struct ParamArrays {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  explicit ParamArrays(const std::vector<PgParam>& params)
  {
    for (const auto& p : params) {
      values.push_back(p.is_null() ? nullptr : p.value().data());
      lengths.push_back(static_cast<int>(p.value().size()));
      formats.push_back(p.is_binary() ? 1 : 0);
    }
  }
};

} // namespace

PgResult PgConnection::exec(const std::string& sql, const std::vector<PgParam>& params)
{
  if (!m_conn) throw PgError(PgFailure{PgFailureKind::broken, "", "not connected"});
  ParamArrays p(params);
  return check(PQexecParams(m_conn, sql.c_str(), static_cast<int>(params.size()), nullptr, p.values.data(), p.lengths.data(),
                            p.formats.data(), 0));
}

PgResult PgConnection::exec_until(const std::string& sql, const std::vector<PgParam>& params, Clock::time_point deadline)
{
  if (!m_conn) throw PgError(PgFailure{PgFailureKind::broken, "", "not connected"});
  ParamArrays p(params);
  auto timed_out = [] { throw PgError(PgFailure{PgFailureKind::timeout, "", "no answer within the write timeout"}); };
  if (!PQsendQueryParams(m_conn, sql.c_str(), static_cast<int>(params.size()), nullptr, p.values.data(), p.lengths.data(),
                         p.formats.data(), 0))
    fail(nullptr);
  while (PQflush(m_conn) == 1)
    if (!wait_fd(PQsocket(m_conn), true, deadline)) timed_out();
  PGresult* last = nullptr;
  for (;;) {
    while (PQisBusy(m_conn)) {
      if (!wait_fd(PQsocket(m_conn), false, deadline)) {
        if (last) PQclear(last);
        timed_out();
      }
      if (!PQconsumeInput(m_conn)) {
        if (last) PQclear(last);
        fail(nullptr);
      }
    }
    PGresult* r = PQgetResult(m_conn);
    if (!r) break;
    if (last) PQclear(last);
    last = r;
  }
  return check(last);
}

void PgConnection::copy_in(const std::string& copy_sql, const std::function<void(PgCopyWriter&)>& fill)
{
  if (!m_conn) throw PgError(PgFailure{PgFailureKind::broken, "", "not connected"});
  PGresult* start = PQexec(m_conn, copy_sql.c_str());
  if (!start || PQresultStatus(start) != PGRES_COPY_IN) fail(start);
  PQclear(start);
  PgCopyWriter w(m_conn);
  try {
    fill(w);
    w.flush();
  } catch (...) {
    // Abort the COPY so the connection stays usable, then drain its (error) result.
    PQputCopyEnd(m_conn, "statectl: batch aborted");
    while (PGresult* r = PQgetResult(m_conn)) PQclear(r);
    throw;
  }
  if (PQputCopyEnd(m_conn, nullptr) != 1) fail(nullptr);
  PGresult* last = nullptr;
  while (PGresult* r = PQgetResult(m_conn)) {
    if (last) PQclear(last);
    last = r;
  }
  check(last);
}

void PgConnection::copy_out(const std::string& copy_sql, const std::function<void(std::string_view)>& row)
{
  if (!m_conn) throw PgError(PgFailure{PgFailureKind::broken, "", "not connected"});
  PGresult* start = PQexec(m_conn, copy_sql.c_str());
  if (!start || PQresultStatus(start) != PGRES_COPY_OUT) fail(start);
  PQclear(start);
  for (;;) {
    char* buf = nullptr;
    int n = PQgetCopyData(m_conn, &buf, 0);
    if (n < 0) break;
    std::string_view line(buf, static_cast<std::size_t>(n));
    try {
      row(line);
    } catch (...) {
      PQfreemem(buf);
      throw;
    }
    PQfreemem(buf);
  }
  PGresult* last = nullptr;
  while (PGresult* r = PQgetResult(m_conn)) {
    if (last) PQclear(last);
    last = r;
  }
  check(last);
}

bool PgConnection::cancel() const
{
  if (!m_cancel) return false;
  char err[256];
  return PQcancel(m_cancel, err, sizeof err) == 1;
}

std::string PgConnection::encrypt_password(const std::string& password, const std::string& role)
{
  char* v = PQencryptPasswordConn(m_conn, password.c_str(), role.c_str(), "scram-sha-256");
  if (!v) throw PgError(PgFailure{PgFailureKind::sql, "", clean(PQerrorMessage(m_conn))});
  std::string out = v;
  PQfreemem(v);
  return out;
}

std::string PgConnection::escape_identifier(const std::string& name)
{
  char* s = PQescapeIdentifier(m_conn, name.c_str(), name.size());
  if (!s) throw PgError(PgFailure{PgFailureKind::sql, "", clean(PQerrorMessage(m_conn))});
  std::string out = s;
  PQfreemem(s);
  return out;
}

std::string PgConnection::escape_literal(const std::string& text)
{
  char* s = PQescapeLiteral(m_conn, text.c_str(), text.size());
  if (!s) throw PgError(PgFailure{PgFailureKind::sql, "", clean(PQerrorMessage(m_conn))});
  std::string out = s;
  PQfreemem(s);
  return out;
}

// ---- transactions ----------------------------------------------------------------------------

PgTransaction::PgTransaction(PgConnection& c) : m_conn(c) { m_conn.exec("BEGIN"); }

PgTransaction::~PgTransaction()
{
  if (m_done || !m_conn.ok()) return;
  try {
    m_conn.exec("ROLLBACK");
  } catch (...) {
  }
}

void PgTransaction::commit()
{
  m_done = true;
  try {
    m_conn.exec("COMMIT");
  } catch (const PgError& e) {
    if (e.kind() != PgFailureKind::broken) throw;
    PgFailure f = e.failure();
    f.kind = PgFailureKind::in_doubt;
    throw PgError(std::move(f));
  }
}

} // namespace statectl::clients

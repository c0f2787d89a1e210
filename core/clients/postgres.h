#pragma once

// The one PostgreSQL client of statectl (libpq). Every connection statectl makes to PostgreSQL or
// PgBouncer goes through PgConnection: connection parameters, timeouts, credentials, cancellation
// and the mapping of failures to exit codes live here once.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clients/credentials.h"
#include "core/clients/endpoint.h"
#include "core/error.h"

struct pg_conn;
struct pg_result;
struct pg_cancel;

namespace statectl::config {
class Config;
}

namespace statectl::clients {

// TLS settings of a connection (libpq's ssl* keywords); empty fields are left to libpq's
// defaults.
struct PgTls {
  std::string sslmode;     // disable, prefer, require, verify-ca, verify-full; empty = libpq default
  std::string sslrootcert; // CA file for verify-ca / verify-full
  std::string sslcert;     // client certificate
  std::string sslkey;      // client key
};

// Where and as whom to connect. The password is passed to libpq as the "password" keyword of
// the parameter arrays only: it is never part of a connection string, argv or a message.
struct PgParams {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user;
  std::string database;
  std::string url;      // [postgres] url: used instead of host/port/user/database
  std::string password; // empty = none (libpq may still read PGPASSWORD / .pgpass)
  std::string dbname_override; // replaces the database, also the URL's (e.g. "pgbouncer")
  std::string application_name = "statectl";
  int connect_timeout_s = 0; // libpq's connect_timeout in whole seconds; 0 = not set
  PgTls tls;

  // The parameters of an endpoint of the stack (no password: see with_stored_password); an
  // endpoint with TLS gives sslmode=verify-full with its CA file as sslrootcert.
  static PgParams from(const PgEndpoint& ep);

  // The keyword/value pairs handed to PQconnectdbParams, password included; expand_dbname is
  // on exactly when url is set.
  std::vector<std::pair<std::string, std::string>> keywords() const;
  // The same as a libpq connection string without the password, for logs and -v output.
  std::string loggable_conninfo() const;
  // "host:port", or the URL with its password masked.
  std::string display() const;
};

// libpq's TLS keywords for a ClientTls: verify-full with the CA file when enabled, else disable.
PgTls pg_tls(const ClientTls& tls);

// libpq's connect_timeout for a call timeout: whole seconds rounded up, at least min_s.
int timeout_seconds(std::chrono::milliseconds timeout, int min_s = 2);

// How a PostgreSQL call failed.
enum class PgFailureKind {
  connect, // refused, unreachable, timed out while connecting, server not accepting
  auth,    // the server rejected the credentials
  timeout, // a call outlived its deadline or was cancelled (SQLSTATE 57014)
  broken,  // the connection was lost during a call
  in_doubt, // the connection was lost during COMMIT: the outcome is unknown
  sql,     // the server answered with an error
};

// One failure: its kind, the SQLSTATE when the server sent one, and libpq's or the server's
// message (first line, secrets redacted).
struct PgFailure {
  PgFailureKind kind = PgFailureKind::sql;
  std::string sqlstate;
  std::string message;
};

// The exit code of a failure: every kind but sql is ExitCode::unavailable; sql is sql_code (the
// call sites' "failed" or "external").
ExitCode exit_code(const PgFailure& f, ExitCode sql_code = ExitCode::failed);

// The one mapping of a failure to a statectl::Error: "<what>: <message>" with the exit code of
// exit_code() and the hint given, or for authentication failures a hint about the password.
Error to_error(const PgFailure& f, const std::string& what, const std::string& hint = {}, ExitCode sql_code = ExitCode::failed);

// Classifies a libpq connection error message (auth when the server rejected the credentials).
PgFailureKind classify_connect_error(std::string_view message);

// Thrown by PgConnection's calls.
class PgError : public std::runtime_error {
public:
  explicit PgError(PgFailure f);
  const PgFailure& failure() const { return m_failure; }
  PgFailureKind kind() const { return m_failure.kind; }
  const std::string& sqlstate() const { return m_failure.sqlstate; }

private:
  PgFailure m_failure;
};

// One value of a result row, in text format; NULL reads as is_null().
class PgField {
public:
  PgField(const char* value, int length, bool null) : m_value(value), m_length(length), m_null(null) {}
  bool is_null() const { return m_null; }
  const char* c_str() const { return m_value; }
  std::size_t size() const { return static_cast<std::size_t>(m_length); }
  std::string_view view() const { return {m_value, size()}; }
  // The value as T (std::string, bool, int, long, long long, unsigned long, unsigned long long,
  // double); throws PgError(sql) when it does not parse or is NULL.
  template <typename T>
  T as() const;
  // bytea in hex output format ("\x4142") decoded to its bytes.
  std::string bytes() const;

private:
  const char* m_value;
  int m_length;
  bool m_null;
};

template <>
std::string PgField::as<std::string>() const;
template <>
bool PgField::as<bool>() const;
template <>
int PgField::as<int>() const;
template <>
long PgField::as<long>() const;
template <>
long long PgField::as<long long>() const;
template <>
unsigned long PgField::as<unsigned long>() const;
template <>
unsigned long long PgField::as<unsigned long long>() const;
template <>
double PgField::as<double>() const;

// One row of a result; it keeps the result alive (rows of a temporary result stay valid).
class PgRow {
public:
  PgRow(std::shared_ptr<pg_result> result, int row) : m_result(std::move(result)), m_row(row) {}
  PgField operator[](int column) const;
  int size() const;

private:
  std::shared_ptr<pg_result> m_result;
  int m_row;
};

// The result of one statement: rows of text values, and the affected row count.
class PgResult {
public:
  PgResult() = default;
  explicit PgResult(pg_result* r);

  int size() const;
  bool empty() const { return size() == 0; }
  int columns() const;
  // The index of a named column, -1 when absent.
  int column(const std::string& name) const;
  PgRow operator[](int row) const { return PgRow(m_r, row); }
  std::uint64_t affected_rows() const;

  class Iterator {
  public:
    Iterator(const PgResult* r, int i) : m_r(r), m_i(i) {}
    PgRow operator*() const { return (*m_r)[m_i]; }
    Iterator& operator++()
    {
      ++m_i;
      return *this;
    }
    bool operator!=(const Iterator& o) const { return m_i != o.m_i; }

  private:
    const PgResult* m_r;
    int m_i;
  };
  Iterator begin() const { return Iterator(this, 0); }
  Iterator end() const { return Iterator(this, size()); }

  pg_result* native() const { return m_r.get(); }

private:
  std::shared_ptr<pg_result> m_r;
};

// A statement parameter: text, binary (bytea) or NULL.
class PgParam {
public:
  PgParam(std::nullptr_t) : m_null(true) {}
  PgParam(std::string text) : m_value(std::move(text)) {}
  PgParam(const char* text) : m_value(text) {}
  PgParam(long long v) : m_value(std::to_string(v)) {}
  PgParam(long v) : m_value(std::to_string(v)) {}
  PgParam(int v) : m_value(std::to_string(v)) {}
  // Bytes sent in binary format (for bytea parameters: no escaping, NUL-safe).
  static PgParam binary(std::string_view bytes);

  bool is_null() const { return m_null; }
  bool is_binary() const { return m_binary; }
  const std::string& value() const { return m_value; }

private:
  PgParam() = default;
  std::string m_value;
  bool m_null = false;
  bool m_binary = false;
};

// Writes rows of COPY ... FROM STDIN in text format, escaping every field; sends in chunks.
class PgCopyWriter {
public:
  // One row; nullopt fields are NULL.
  void row(const std::vector<std::optional<std::string_view>>& fields);
  // The same field by field, without building a row: bytes for a bytea column (sent in bytea's
  // escape format, printable ASCII as itself, so text stays its own size), text (nullopt = NULL),
  // then end_row().
  void bytea_field(std::string_view bytes);
  void text_field(std::optional<std::string_view> text);
  void end_row();
  // Appends text escaped for COPY's text format to out.
  static void escape(std::string_view field, std::string& out);

private:
  friend class PgConnection;
  explicit PgCopyWriter(pg_conn* c) : m_conn(c) {}
  void flush();
  pg_conn* m_conn;
  std::string m_buffer;
  bool m_in_row = false;
};

// One connection (RAII, move-only). The blocking calls throw PgError; the *_until calls take a
// deadline and never block past it (the failover probe's writes).
class PgConnection {
public:
  PgConnection() = default;
  ~PgConnection();
  PgConnection(PgConnection&& o) noexcept;
  PgConnection& operator=(PgConnection&& o) noexcept;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Connects (blocking, within the parameters' connect_timeout); throws PgError(connect|auth).
  static PgConnection connect(const PgParams& params);
  // Connects with libpq's asynchronous API, giving up at the deadline; throws PgError.
  static PgConnection connect_until(const PgParams& params, std::chrono::steady_clock::time_point deadline);

  // True while connected and the connection is healthy.
  bool ok() const;
  explicit operator bool() const { return m_conn != nullptr; }

  // Runs sql with the simple query protocol (several statements allowed; PgBouncer's admin
  // console understands nothing else). Returns the last statement's result.
  PgResult exec(const std::string& sql);
  // Runs one statement with parameters ($1, $2, ...) as an unnamed statement (safe through
  // PgBouncer's transaction pooling).
  PgResult exec(const std::string& sql, const std::vector<PgParam>& params);
  // The same as exec(sql, params) without waiting past the deadline (libpq's asynchronous API).
  // Throws PgError(timeout) at the deadline and PgError(broken) when the connection is lost:
  // then the statement may have run, and the connection must not be used again.
  PgResult exec_until(const std::string& sql, const std::vector<PgParam>& params, std::chrono::steady_clock::time_point deadline);

  // COPY ... FROM STDIN: fill writes the rows; throws PgError with the server's SQLSTATE (e.g.
  // 23505 for a duplicate key) when the COPY fails.
  void copy_in(const std::string& copy_sql, const std::function<void(PgCopyWriter&)>& fill);
  // COPY ... TO STDOUT: each data row as the server sends it.
  void copy_out(const std::string& copy_sql, const std::function<void(std::string_view)>& row);

  // Asks the server to cancel the running call; thread-safe (the state backend's watchdog).
  bool cancel() const;

  // A SCRAM-SHA-256 verifier of password for role, computed here with the server's settings.
  std::string encrypt_password(const std::string& password, const std::string& role);
  std::string escape_identifier(const std::string& name);
  std::string escape_literal(const std::string& text);

  // What the connection points at ("host:port" or the masked URL).
  const std::string& display() const { return m_display; }

  // The TLS protocol of the connection ("TLSv1.3"), empty when it is plain text.
  std::string tls_protocol() const;

private:
  PgConnection(pg_conn* c, std::string display);
  [[noreturn]] void fail(pg_result* r);
  PgResult check(pg_result* r);
  pg_conn* m_conn = nullptr;
  pg_cancel* m_cancel = nullptr;
  std::string m_display;
};

// A transaction: BEGIN now, COMMIT with commit(), ROLLBACK when destroyed uncommitted.
class PgTransaction {
public:
  explicit PgTransaction(PgConnection& c);
  ~PgTransaction();
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  // Throws PgError(in_doubt) when the connection is lost during COMMIT.
  void commit();

private:
  PgConnection& m_conn;
  bool m_done = false;
};

} // namespace statectl::clients

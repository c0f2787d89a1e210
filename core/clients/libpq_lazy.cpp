// libpq, loaded when the first PostgreSQL call is made instead of when statectl starts.
//
// Debian's libpq5 brings 22 more shared libraries (Kerberos/GSSAPI, OpenLDAP, SASL, GnuTLS and
// theirs) that the dynamic loader maps and relocates on every start: a third of the start-up of
// `statectl get --backend redis` or `statectl --version`, which never talk to PostgreSQL. The
// binary is therefore not linked against libpq; every libpq function statectl calls is defined
// here with libpq's own prototype (libpq-fe.h) and forwards to the real one, which the first
// call loads with dlopen. A missing libpq is exit 3 with the package to install, at the first
// PostgreSQL command, instead of the loader refusing to start statectl at all.
#include <dlfcn.h>
#include <libpq-fe.h>

#include <fmt/format.h>

#include "core/error.h"

namespace {

constexpr const char* k_libpq = "libpq.so.5";

void* libpq_handle()
{
  static void* h = [] {
    void* p = ::dlopen(k_libpq, RTLD_NOW | RTLD_LOCAL);
    if (!p) {
      const char* why = ::dlerror();
      throw statectl::Error(statectl::ExitCode::unavailable, fmt::format("cannot load {}", k_libpq), why ? why : "",
                            "install PostgreSQL's client library (Debian: apt-get install libpq5)");
    }
    return p;
  }();
  return h;
}

template <typename F>
F resolve_pq(const char* name)
{
  void* p = ::dlsym(libpq_handle(), name);
  if (!p) {
    const char* why = ::dlerror();
    throw statectl::Error(statectl::ExitCode::unavailable, fmt::format("cannot load {} from {}", name, k_libpq), why ? why : "",
                          "install libpq5 of PostgreSQL 10 or later");
  }
  return reinterpret_cast<F>(p);
}

} // namespace

// One forwarder per function: its pointer is looked up once, on its first call.
#define STATECTL_LIBPQ(name, params, args)                                                                                      \
  auto name params -> decltype(name args)                                                                                      \
  {                                                                                                                            \
    static const auto real = resolve_pq<decltype(&name)>(#name);                                                                  \
    return real args;                                                                                                          \
  }

extern "C" {

STATECTL_LIBPQ(PQcancel, (PGcancel * cancel, char* errbuf, int errbufsize), (cancel, errbuf, errbufsize))
STATECTL_LIBPQ(PQclear, (PGresult * res), (res))
STATECTL_LIBPQ(PQcmdTuples, (PGresult * res), (res))
STATECTL_LIBPQ(PQconnectPoll, (PGconn * conn), (conn))
STATECTL_LIBPQ(PQconnectStartParams, (const char* const* keywords, const char* const* values, int expand_dbname),
               (keywords, values, expand_dbname))
STATECTL_LIBPQ(PQconnectdbParams, (const char* const* keywords, const char* const* values, int expand_dbname),
               (keywords, values, expand_dbname))
STATECTL_LIBPQ(PQconsumeInput, (PGconn * conn), (conn))
STATECTL_LIBPQ(PQencryptPasswordConn, (PGconn * conn, const char* passwd, const char* user, const char* algorithm),
               (conn, passwd, user, algorithm))
STATECTL_LIBPQ(PQerrorMessage, (const PGconn* conn), (conn))
STATECTL_LIBPQ(PQescapeIdentifier, (PGconn * conn, const char* str, size_t len), (conn, str, len))
STATECTL_LIBPQ(PQescapeLiteral, (PGconn * conn, const char* str, size_t len), (conn, str, len))
STATECTL_LIBPQ(PQexec, (PGconn * conn, const char* query), (conn, query))
STATECTL_LIBPQ(PQexecParams,
               (PGconn * conn, const char* command, int nParams, const Oid* paramTypes, const char* const* paramValues,
                const int* paramLengths, const int* paramFormats, int resultFormat),
               (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat))
STATECTL_LIBPQ(PQfinish, (PGconn * conn), (conn))
STATECTL_LIBPQ(PQflush, (PGconn * conn), (conn))
STATECTL_LIBPQ(PQfnumber, (const PGresult* res, const char* field_name), (res, field_name))
STATECTL_LIBPQ(PQfreeCancel, (PGcancel * cancel), (cancel))
STATECTL_LIBPQ(PQfreemem, (void* ptr), (ptr))
STATECTL_LIBPQ(PQgetCancel, (PGconn * conn), (conn))
STATECTL_LIBPQ(PQgetCopyData, (PGconn * conn, char** buffer, int async), (conn, buffer, async))
STATECTL_LIBPQ(PQgetResult, (PGconn * conn), (conn))
STATECTL_LIBPQ(PQgetisnull, (const PGresult* res, int tup_num, int field_num), (res, tup_num, field_num))
STATECTL_LIBPQ(PQgetlength, (const PGresult* res, int tup_num, int field_num), (res, tup_num, field_num))
STATECTL_LIBPQ(PQgetvalue, (const PGresult* res, int tup_num, int field_num), (res, tup_num, field_num))
STATECTL_LIBPQ(PQisBusy, (PGconn * conn), (conn))
STATECTL_LIBPQ(PQlibVersion, (void), ())
STATECTL_LIBPQ(PQnfields, (const PGresult* res), (res))
STATECTL_LIBPQ(PQntuples, (const PGresult* res), (res))
STATECTL_LIBPQ(PQputCopyData, (PGconn * conn, const char* buffer, int nbytes), (conn, buffer, nbytes))
STATECTL_LIBPQ(PQputCopyEnd, (PGconn * conn, const char* errormsg), (conn, errormsg))
STATECTL_LIBPQ(PQresultErrorField, (const PGresult* res, int fieldcode), (res, fieldcode))
STATECTL_LIBPQ(PQresultErrorMessage, (const PGresult* res), (res))
STATECTL_LIBPQ(PQresultStatus, (const PGresult* res), (res))
STATECTL_LIBPQ(PQsendQueryParams,
               (PGconn * conn, const char* command, int nParams, const Oid* paramTypes, const char* const* paramValues,
                const int* paramLengths, const int* paramFormats, int resultFormat),
               (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat))
STATECTL_LIBPQ(PQsetNoticeProcessor, (PGconn * conn, PQnoticeProcessor proc, void* arg), (conn, proc, arg))
STATECTL_LIBPQ(PQsocket, (const PGconn* conn), (conn))
STATECTL_LIBPQ(PQsslAttribute, (PGconn * conn, const char* attribute_name), (conn, attribute_name))
STATECTL_LIBPQ(PQsslInUse, (PGconn * conn), (conn))
STATECTL_LIBPQ(PQstatus, (const PGconn* conn), (conn))
STATECTL_LIBPQ(PQunescapeBytea, (const unsigned char* strtext, size_t* retbuflen), (strtext, retbuflen))

} // extern "C"

#undef STATECTL_LIBPQ

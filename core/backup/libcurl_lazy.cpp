// libcurl, loaded when the first S3 request is made instead of when statectl starts.
//
// Only S3 repositories need libcurl, and Debian's libcurl4 brings 30 shared libraries (HTTP/2,
// SSH, RTMP, PSL, Kerberos, LDAP, GnuTLS, ...) that the dynamic loader would map and relocate on
// every start of every command. The binary is therefore not linked against libcurl; the libcurl
// functions statectl calls are defined here with curl's own prototypes and forward to the real
// ones, loaded with dlopen on the first call (core/clients/libpq_lazy.cpp does the same for
// libpq). A missing libcurl is exit 3 with the package to install, when an S3 repository is used.
#include <cstdarg>
#include <curl/curl.h>
#include <dlfcn.h>

#include <fmt/format.h>

#include "core/error.h"

namespace {

constexpr const char* k_libcurl = "libcurl.so.4";

void* libcurl_handle()
{
  static void* h = [] {
    void* p = ::dlopen(k_libcurl, RTLD_NOW | RTLD_LOCAL);
    if (!p) {
      const char* why = ::dlerror();
      throw statectl::Error(statectl::ExitCode::unavailable, fmt::format("cannot load {} (needed for S3 repositories)", k_libcurl),
                            why ? why : "", "install libcurl (Debian: apt-get install libcurl4)");
    }
    return p;
  }();
  return h;
}

template <typename F>
F resolve_curl(const char* name)
{
  void* p = ::dlsym(libcurl_handle(), name);
  if (!p) {
    const char* why = ::dlerror();
    throw statectl::Error(statectl::ExitCode::unavailable, fmt::format("cannot load {} from {}", name, k_libcurl), why ? why : "",
                          "install libcurl 7.75 or later (Debian: apt-get install libcurl4)");
  }
  return reinterpret_cast<F>(p);
}

} // namespace

#define STATECTL_LIBCURL(name, params, args)                                                                                    \
  auto name params -> decltype(name args)                                                                                      \
  {                                                                                                                            \
    static const auto real = resolve_curl<decltype(&name)>(#name);                                                                  \
    return real args;                                                                                                          \
  }

extern "C" {

STATECTL_LIBCURL(curl_global_init, (long flags), (flags))
STATECTL_LIBCURL(curl_easy_init, (void), ())
STATECTL_LIBCURL(curl_easy_cleanup, (CURL * curl), (curl))
STATECTL_LIBCURL(curl_easy_reset, (CURL * curl), (curl))
STATECTL_LIBCURL(curl_easy_perform, (CURL * curl), (curl))
STATECTL_LIBCURL(curl_easy_strerror, (CURLcode code), (code))
STATECTL_LIBCURL(curl_slist_append, (struct curl_slist * list, const char* string), (list, string))
STATECTL_LIBCURL(curl_slist_free_all, (struct curl_slist * list), (list))

// The two variadic functions take exactly one argument after the option. Its type follows
// from the option number, as in libcurl itself: long below CURLOPTTYPE_OBJECTPOINT, curl_off_t
// in the CURLOPTTYPE_OFF_T range, otherwise a data or function pointer.
CURLcode curl_easy_setopt(CURL* curl, CURLoption option, ...)
{
  static const auto real = resolve_curl<decltype(&curl_easy_setopt)>("curl_easy_setopt");
  va_list ap;
  va_start(ap, option);
  CURLcode rc;
  if (option < CURLOPTTYPE_OBJECTPOINT) rc = real(curl, option, va_arg(ap, long));
  else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB) rc = real(curl, option, va_arg(ap, curl_off_t));
  else rc = real(curl, option, va_arg(ap, void*));
  va_end(ap);
  return rc;
}

// Every CURLINFO_* takes a pointer to where the answer goes.
CURLcode curl_easy_getinfo(CURL* curl, CURLINFO info, ...)
{
  static const auto real = resolve_curl<decltype(&curl_easy_getinfo)>("curl_easy_getinfo");
  va_list ap;
  va_start(ap, info);
  void* out = va_arg(ap, void*);
  va_end(ap);
  return real(curl, info, out);
}

} // extern "C"

#undef STATECTL_LIBCURL

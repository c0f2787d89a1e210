#include "core/util/libraries.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <toml++/toml.h>
#include <zstd.h>

namespace statectl::util {

std::map<std::string, std::string> linked_library_versions()
{
  int pq = PQlibVersion();
  return {
    {"libpq", pq >= 100000 ? fmt::format("{}.{}", pq / 10000, pq % 10000) : std::to_string(pq)},
    {"hiredis", fmt::format("{}.{}.{}", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH)},
    {"openssl", OpenSSL_version(OPENSSL_VERSION)},
    {"zstd", ZSTD_versionString()},
    {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
    {"tomlplusplus", fmt::format("{}.{}.{}", TOML_LIB_MAJOR, TOML_LIB_MINOR, TOML_LIB_PATCH)},
  };
}

} // namespace statectl::util

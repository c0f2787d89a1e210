#pragma once

// The versions of the libraries statectl links, for `statectl version`. Kept in core/ so the
// command layer needs none of the server libraries' headers.

#include <map>
#include <string>

namespace statectl::util {

// Library name -> version: libpq, hiredis, openssl, zstd, fmt, tomlplusplus.
std::map<std::string, std::string> linked_library_versions();

} // namespace statectl::util

// Precompiled for every translation unit of statectl_core and the unit tests (issue 13: build
// speed). Only third-party and standard headers that most files include anyway belong here;
// statectl's own headers never do, so editing one of them does not rebuild the precompiled header.
// Every source still includes what it uses: the build stays correct with STATECTL_PCH=OFF.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

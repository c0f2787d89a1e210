#include "core/exec/redact.h"

#include <algorithm>
#include <mutex>
#include <set>

namespace statectl::exec {

namespace {
std::mutex g_mutex;
// Longest first, so a secret that contains another is masked whole.
struct LongerFirst {
  bool operator()(const std::string& a, const std::string& b) const
  {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  }
};
std::set<std::string, LongerFirst>& secrets()
{
  static std::set<std::string, LongerFirst> s;
  return s;
}
} // namespace

void register_secret(std::string_view value)
{
  if (value.size() < 4) return;
  std::lock_guard lock(g_mutex);
  secrets().emplace(value);
}

std::string redact(std::string_view text)
{
  std::string out(text);
  std::lock_guard lock(g_mutex);
  for (const auto& s : secrets()) {
    std::size_t pos = 0;
    while ((pos = out.find(s, pos)) != std::string::npos) {
      out.replace(pos, s.size(), "****");
      pos += 4;
    }
  }
  return out;
}

void clear_secrets()
{
  std::lock_guard lock(g_mutex);
  secrets().clear();
}

} // namespace statectl::exec

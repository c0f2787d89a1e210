#include "core/util/strings.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fmt/format.h>

namespace statectl::util {

std::vector<std::string> split(std::string_view text, char sep)
{
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(text.substr(start));
      return out;
    }
    out.emplace_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string join(const std::vector<std::string>& parts, std::string_view sep)
{
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string trim(std::string_view text)
{
  auto b = text.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string_view::npos) return {};
  auto e = text.find_last_not_of(" \t\r\n\f\v");
  return std::string(text.substr(b, e - b + 1));
}

bool starts_with(std::string_view text, std::string_view prefix)
{
  return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix)
{
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::size_t levenshtein(std::string_view a, std::string_view b)
{
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates)
{
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const auto& c : candidates) {
    auto d = levenshtein(word, c);
    if (!best || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  // Like git and ninja: suggest only when at most about a third of the word is wrong.
  if (best && best_distance <= std::max<std::size_t>(2, word.size() / 3)) return best;
  return std::nullopt;
}

Expected<std::chrono::milliseconds> parse_duration(std::string_view text)
{
  std::string s = trim(text);
  if (s.empty()) return unexpected("empty duration");
  double total_ms = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return unexpected(fmt::format("invalid duration '{}' (use e.g. 300ms, 30s, 5m, 1h)", s));
    double number = 0;
    std::size_t used = 0;
    try {
      number = std::stod(s.substr(i, j - i), &used);
    } catch (...) {
      used = 0;
    }
    // "1.2.3s": stod reads "1.2" and would ignore the rest.
    if (used != j - i) return unexpected(fmt::format("invalid duration '{}' (use e.g. 300ms, 30s, 5m, 1h)", s));
    while (j < s.size() && s[j] == ' ') ++j;
    std::size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string unit = s.substr(j, k - j);
    double factor = 0;
    if (unit.empty() || unit == "s") factor = 1000;
    else if (unit == "ms") factor = 1;
    else if (unit == "m" || unit == "min") factor = 60'000;
    else if (unit == "h") factor = 3'600'000;
    else if (unit == "d") factor = 86'400'000;
    else return unexpected(fmt::format("invalid duration '{}': unknown unit '{}' (use ms, s, m, h, d)", s, unit));
    if (unit.empty() && any) return unexpected(fmt::format("invalid duration '{}' (use e.g. 300ms, 30s, 5m, 1h)", s));
    total_ms += number * factor;
    any = true;
    i = k;
    while (i < s.size() && s[i] == ' ') ++i;
  }
  // Every duration ends up added to a clock (steady_clock counts nanoseconds in 64 bits, about
  // 292 years from boot): a bound far below that, 36500 days, keeps `now + duration` exact
  // wherever a --ttl, --wait, timeout or config duration is used.
  constexpr double k_max_duration_ms = 36'500.0 * 86'400'000;
  if (total_ms > k_max_duration_ms) return unexpected(fmt::format("duration '{}' is too large (at most 36500d, about 100 years)", s));
  return std::chrono::milliseconds(static_cast<long long>(std::llround(total_ms)));
}

std::string format_duration(std::chrono::milliseconds d)
{
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  if (ms % 1000 != 0 && ms < 60'000) return out + fmt::format("{}ms", ms);
  long long s = ms / 1000;
  long long h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  if (h) out += fmt::format("{}h", h);
  if (m) out += fmt::format("{}m", m);
  if (sec || (!h && !m)) out += fmt::format("{}s", sec);
  return out;
}

Expected<std::uint64_t> parse_size(std::string_view text)
{
  std::string s = to_lower(trim(text));
  if (s.empty()) return unexpected("empty size");
  std::size_t j = 0;
  while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
  if (j == 0) return unexpected(fmt::format("invalid size '{}' (use e.g. 512MB, 4GB, 1MiB)", trim(text)));
  double number = 0;
  try {
    number = std::stod(s.substr(0, j));
  } catch (...) {
    return unexpected(fmt::format("invalid size '{}' (use e.g. 512MB, 4GB, 1MiB)", trim(text)));
  }
  std::string unit = trim(s.substr(j));
  double factor = 0;
  if (unit.empty() || unit == "b") factor = 1;
  else if (unit == "k" || unit == "kb" || unit == "ki" || unit == "kib") factor = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mi" || unit == "mib") factor = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gi" || unit == "gib") factor = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "ti" || unit == "tib") factor = 1024.0 * 1024 * 1024 * 1024;
  else return unexpected(fmt::format("invalid size '{}': unknown unit '{}' (use B, KB, MB, GB, TB)", trim(text), unit));
  double bytes = number * factor;
  if (bytes > 1.8e19) return unexpected(fmt::format("size '{}' is too large", trim(text)));
  return static_cast<std::uint64_t>(std::llround(bytes));
}

std::string format_size(std::uint64_t bytes)
{
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string shell_quote(std::string_view word)
{
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789@%+=:,./_-") == std::string_view::npos)
    return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string to_lower(std::string_view text)
{
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string sql_quote(std::string_view text)
{
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

} // namespace statectl::util

#include "core/state/common.h"

#include <array>
#include <ctime>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::state {

Settings Settings::from(const config::Config& cfg)
{
  Settings s;
  s.connect_retries = static_cast<int>(config::settings(cfg).state.connect_retries);
  s.retry_initial = config::settings(cfg).state.retry_initial;
  s.retry_max = config::settings(cfg).state.retry_max;
  s.timeout = config::settings(cfg).state.timeout;
  s.max_value_size = config::settings(cfg).state.max_value_size;
  s.table = config::settings(cfg).state.table;
  s.key_prefix = config::settings(cfg).state.key_prefix;
  return s;
}

void connect_with_retry(const Settings& settings, const std::string& what, const std::string& address,
                        const std::function<std::string()>& connect)
{
  Millis delay = settings.retry_initial;
  std::string why;
  for (int attempt = 1; attempt <= settings.connect_retries; ++attempt) {
    why = connect();
    if (why.empty()) return;
    if (attempt == settings.connect_retries) break;
    std::this_thread::sleep_for(delay);
    delay = std::min(settings.retry_max, delay * 2);
  }
  throw Error(ExitCode::unavailable, fmt::format("cannot connect to {} at {}", what, address),
              fmt::format("{} (after {} attempts)", why, settings.connect_retries),
              "check that the server is running (statectl status) and the address in the config");
}

Error timeout_error(const Settings& settings, const std::string& what)
{
  return Error(ExitCode::unavailable, what, fmt::format("no answer within [state] timeout {}", util::format_duration(settings.timeout)),
               "raise [state] timeout in the config (or STATECTL_STATE_TIMEOUT=5m for one run): a large batch or checkpoint "
               "is one call and may need longer; if the server is merely slow, check it with: statectl status");
}

std::string key_problem(std::string_view key)
{
  if (key.empty()) return "a key must not be empty";
  if (key.size() > k_max_key_size) return fmt::format("a key is at most {} bytes, this one has {}", k_max_key_size, key.size());
  return {};
}

void check_key(const std::string& key)
{
  if (auto why = key_problem(key); !why.empty())
    throw Error(ExitCode::usage, "invalid key", why, key.empty() ? "" : "keep long names in the value and use a short id or a hash as the key");
}

void check_value(const Settings& settings, const std::string& key, std::size_t size)
{
  if (size > settings.max_value_size)
    throw Error(ExitCode::usage, fmt::format("value of key '{}' is too large", key),
                fmt::format("{} bytes is over [state] max_value_size {}", size, util::format_size(settings.max_value_size)),
                "store large blobs elsewhere or raise [state] max_value_size");
}

void check_lock_name(const std::string& name)
{
  if (name.empty() || name.size() > 200 || name.find('\0') != std::string::npos || name.find('\n') != std::string::npos)
    throw Error(ExitCode::usage, fmt::format("invalid lock name '{}'", name), "use 1 to 200 bytes without NUL or newline");
}

std::string lease_owner()
{
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  return fmt::format("{}:{}", host.data(), static_cast<long>(getpid()));
}

std::int64_t now_ms()
{
  return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string format_time_ms(std::int64_t ms)
{
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

std::string to_hex(std::string_view bytes)
{
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.resize(bytes.size() * 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = digits[c >> 4];
    out[2 * i + 1] = digits[c & 15];
  }
  return out;
}

static const char* k_b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string to_base64(std::string_view bytes)
{
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += k_b64[(v >> 18) & 63];
    out += k_b64[(v >> 12) & 63];
    out += k_b64[(v >> 6) & 63];
    out += k_b64[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += k_b64[(v >> 18) & 63];
    out += k_b64[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k_b64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool from_base64(std::string_view text, std::string& out)
{
  out.clear();
  if (text.size() % 4 != 0) return false;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad) return false;
      v[j] = value(c);
      if (v[j] < 0) return false;
    }
    unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out += static_cast<char>((n >> 16) & 255);
    if (pad < 2) out += static_cast<char>((n >> 8) & 255);
    if (pad < 1) out += static_cast<char>(n & 255);
  }
  return true;
}

bool is_text(std::string_view s)
{
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (extra < 0 || i + extra >= s.size() + (extra == 0 ? 1 : 0)) {
      if (extra != 0) return false;
    }
    for (int j = 1; j <= extra; ++j) {
      if (i + j >= s.size() || (static_cast<unsigned char>(s[i + j]) >> 6) != 2) return false;
    }
    i += extra + 1;
  }
  return true;
}

} // namespace statectl::state

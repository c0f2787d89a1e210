#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/config/config_fwd.h"
#include "core/error.h"
#include "core/state/backend.h"

namespace statectl::state {

// The [state] settings every backend reads.
struct Settings {
  int connect_retries = 5;
  Millis retry_initial{100};
  Millis retry_max{5000};
  Millis timeout{10000};
  std::uint64_t max_value_size = 16u << 20;
  std::string table = "statectl_kv";
  std::string key_prefix = "statectl:";

  static Settings from(const config::Config& cfg);
};

// Calls connect() up to settings.connect_retries times, sleeping retry_initial, doubling up to
// retry_max between tries. connect() returns an empty string on success, else why it failed.
// After the last failure throws Error(unavailable, "cannot connect to <what> at <address>", why).
void connect_with_retry(const Settings& settings, const std::string& what, const std::string& address,
                        const std::function<std::string()>& connect);

// The longest key either backend accepts. PostgreSQL's btree entry for the `key bytea` primary
// key (and the checkpoint table's (checkpoint_id, key)) must fit a third of a page, 2704 bytes
// including headers; an incompressible key a little over 2.6 KB fails with a raw server error.
// One bound well below that, on both backends, keeps keys portable between them.
inline constexpr std::size_t k_max_key_size = 1024;

// Why a key is unacceptable (empty, or over k_max_key_size), or empty when it is fine.
std::string key_problem(std::string_view key);

// The error of a call that got no answer within [state] timeout (exit 3): says which setting to
// raise, since a large batch or checkpoint is one call and can legitimately need longer.
Error timeout_error(const Settings& settings, const std::string& what);

// Throws Error(usage) when a key is empty or longer than k_max_key_size, or a value is larger
// than max_value_size.
void check_key(const std::string& key);
void check_value(const Settings& settings, const std::string& key, std::size_t size);
// Lock names: 1..200 bytes, no NUL or newline.
void check_lock_name(const std::string& name);

// "host:pid" of this process, the owner recorded with a lease.
std::string lease_owner();

// Milliseconds since the Unix epoch.
std::int64_t now_ms();

// RFC 3339 UTC time of milliseconds since the epoch: "2026-11-22T04:01:02.345Z".
std::string format_time_ms(std::int64_t ms);

// Lower-case hexadecimal of bytes.
std::string to_hex(std::string_view bytes);

// Base64 (RFC 4648, with padding); from_base64 returns false on malformed input.
std::string to_base64(std::string_view bytes);
bool from_base64(std::string_view text, std::string& out);

// True when bytes are valid UTF-8 without NUL (printable in JSON as a string).
bool is_text(std::string_view bytes);

} // namespace statectl::state

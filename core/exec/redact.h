#pragma once

#include <string>
#include <string_view>

namespace statectl::exec {

// The process-wide set of secret values. Every value registered here is replaced by "****" in
// log lines, --dry-run plans and error messages that pass through redact(). Registering is
// cheap and idempotent; values shorter than 4 bytes are ignored (they would mask normal text).
void register_secret(std::string_view value);

// Returns text with every registered secret replaced by "****".
std::string redact(std::string_view text);

// Forgets every registered secret (tests only).
void clear_secrets();

} // namespace statectl::exec

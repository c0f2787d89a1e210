#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/state/backend.h"
#include "core/state/common.h"

namespace statectl::state {

enum class BatchFormat { tsv, ndjson };

// Parses a whole batch before anything is written. tsv: one `key<TAB>value` per line (the value
// is the rest of the line, tabs included; empty lines are skipped). ndjson: one object per line
// with "key", exactly one of "value" / "value_b64", optional "ttl" (a duration string such as
// "30s", or a number of seconds) and "metadata" (a JSON object). The first malformed line throws
// Error(usage, "invalid batch input", "line N: ...") so nothing is written.
std::vector<BatchItem> parse_batch(std::string_view input, BatchFormat format, const Settings& settings);

// The deepest nesting of objects and arrays accepted in metadata (a bound like serde_json's 128:
// deeper documents would exhaust the stack of the JSON printer and of PostgreSQL's jsonb parser).
inline constexpr std::size_t k_max_metadata_depth = 128;

// Validates metadata text for put --metadata: a JSON object without \u0000 (PostgreSQL's jsonb
// refuses it), nested at most k_max_metadata_depth levels. Returns the compact form; throws Error(usage) naming the problem.
std::string normalize_metadata(const std::string& text);

// Parses a --ttl value: a positive duration ("300ms", "30s", "5m", "1h"); throws Error(usage).
Millis parse_ttl(const std::string& text, const std::string& option = "--ttl");

} // namespace statectl::state

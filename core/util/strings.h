#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/expected.h"

namespace statectl::util {

// Splits on every occurrence of sep; empty fields are kept.
std::vector<std::string> split(std::string_view text, char sep);

// Joins parts with sep between them.
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Strips ASCII whitespace from both ends.
std::string trim(std::string_view text);

bool starts_with(std::string_view text, std::string_view prefix);
bool ends_with(std::string_view text, std::string_view suffix);

// Edit distance (insert, delete, substitute, each cost 1) for "did you mean" suggestions.
std::size_t levenshtein(std::string_view a, std::string_view b);

// The candidate closest to word, if it is close enough to be a plausible typo.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

// Parses durations like "300ms", "30s", "5m", "1h", "2d", "1h30m"; a bare number is seconds.
Expected<std::chrono::milliseconds> parse_duration(std::string_view text);

// Formats a duration the way parse_duration reads it back ("1h30m", "250ms").
std::string format_duration(std::chrono::milliseconds d);

// Parses sizes like "4gb", "256MB", "1MiB", "20Gi", "512k" or a plain byte count.
// Decimal and binary suffixes are both read as powers of 1024 (PostgreSQL/Redis convention).
Expected<std::uint64_t> parse_size(std::string_view text);

// Formats a byte count with a binary suffix ("1.5 GiB", "512 B").
std::string format_size(std::uint64_t bytes);

// Shell-quotes one word for display only (plans, -v logs); never used to build a command.
std::string shell_quote(std::string_view word);

// text in single quotes with each ' doubled: an SQL string literal, or a postgresql.conf value.
std::string sql_quote(std::string_view text);

// Lower-cases ASCII.
std::string to_lower(std::string_view text);

} // namespace statectl::util

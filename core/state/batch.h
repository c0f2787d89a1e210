#pragma once

#include <cstddef>
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

// Parses one line of a batch (without its line break) into item, the same way; returns false for
// an empty line. line_no is for the message of Error(usage, "invalid batch input", "line N: ...").
bool parse_batch_line(std::string_view line, std::size_t line_no, BatchFormat format, const Settings& settings, BatchItem& item);

// A batch read line by line from a file or standard input ("-"), parsed as parse_batch does:
// memory is bounded by the longest line, not by the size of the input. Opening refuses a
// directory or an unreadable file with Error(usage) naming it; a malformed line throws from
// next() when it is reached, so a caller that writes while it reads must make its writes undoable
// (PostgreSQL: one transaction) or prescan() first (Redis). rewind() works when the input is a
// regular file, or after prescan(), which copies an input that cannot be read twice (stdin, a
// pipe or FIFO) into an unlinked 0600 file in $TMPDIR (else /tmp) as it reads it; that file is
// gone when the reader is (or the process ends). A spool that cannot be written (a full disk)
// throws Error(failed) naming TMPDIR; nothing was written then either.
class BatchReader final : public BatchSource {
public:
  BatchReader(const std::string& source, BatchFormat format, const Settings& settings);
  ~BatchReader() override;
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  bool next(BatchItem& item) override;
  bool rewind() override;
  std::uint64_t prescan() override;
  // The number of the last line read (1-based).
  std::size_t line() const { return m_line; }

private:
  bool next_line(std::string_view& line);

  std::string m_name; // for messages: the file name or "standard input"
  BatchFormat m_format;
  const Settings& m_settings;
  int m_fd = -1;
  bool m_own_fd = false;
  int m_spool = -1; // while prescan() reads an input that cannot be read twice: its copy
  long long m_start = -1; // offset of the first byte when the input can be read again, else -1
  std::string m_buf;
  std::size_t m_pos = 0; // next unread byte in m_buf
  std::size_t m_len = 0; // bytes of m_buf holding data
  bool m_eof = false;
  std::size_t m_line = 0;
};

// The deepest nesting of objects and arrays accepted in metadata (a bound like serde_json's 128:
// deeper documents would exhaust the stack of the JSON printer and of PostgreSQL's jsonb parser).
inline constexpr std::size_t k_max_metadata_depth = 128;

// Validates metadata text for put --metadata: a JSON object without \u0000 (PostgreSQL's jsonb
// refuses it), nested at most k_max_metadata_depth levels. Returns the compact form; throws Error(usage) naming the problem.
std::string normalize_metadata(const std::string& text);

// Parses a --ttl value: a positive duration ("300ms", "30s", "5m", "1h"); throws Error(usage).
Millis parse_ttl(const std::string& text, const std::string& option = "--ttl");

} // namespace statectl::state

#include "core/state/batch.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "core/error.h"
#include "core/util/strings.h"

namespace statectl::state {
namespace {

// The deepest nesting of arrays and objects in JSON text (strings skipped), counted without
// parsing: nlohmann's dump() and PostgreSQL's jsonb input both recurse per level, so a document
// nested 100,000 deep must be refused before either sees it. Stops counting past limit + 1.
std::size_t json_depth(std::string_view text, std::size_t limit)
{
  std::size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string depth_problem(std::string_view text, std::size_t limit)
{
  if (json_depth(text, limit) > limit) return fmt::format("metadata is nested more than {} levels deep", k_max_metadata_depth);
  return {};
}

// Why metadata is unacceptable, or empty.
std::string metadata_problem(const nlohmann::json& j)
{
  if (!j.is_object()) return "metadata must be a JSON object";
  if (j.dump().find("\\u0000") != std::string::npos) return "metadata must not contain \\u0000";
  return {};
}

std::string ttl_problem(const std::string& text, Millis& out)
{
  auto d = util::parse_duration(text);
  if (!d) return d.error();
  if (d->count() <= 0) return fmt::format("ttl must be positive, got '{}'", text);
  out = *d;
  return {};
}

} // namespace

Millis parse_ttl(const std::string& text, const std::string& option)
{
  Millis out{0};
  if (auto why = ttl_problem(text, out); !why.empty()) throw Error(ExitCode::usage, "invalid " + option, why);
  return out;
}

std::string normalize_metadata(const std::string& text)
{
  if (auto why = depth_problem(text, k_max_metadata_depth); !why.empty()) throw Error(ExitCode::usage, "invalid --metadata", why);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error(ExitCode::usage, "invalid --metadata", "not valid JSON", R"(pass a JSON object, e.g. --metadata '{"owner":"billing"}')");
  if (auto why = metadata_problem(j); !why.empty()) throw Error(ExitCode::usage, "invalid --metadata", why);
  return j.dump();
}

bool parse_batch_line(std::string_view line, std::size_t line_no, BatchFormat format, const Settings& settings, BatchItem& item)
{
  auto bad = [&](const std::string& why) {
    return Error(ExitCode::usage, "invalid batch input", fmt::format("line {}: {}", line_no, why), "nothing was written; fix the line and run again");
  };
  // A file written on Windows ends its lines with CRLF: the \r belongs to the line break.
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return false;
  item = BatchItem{};
  if (format == BatchFormat::tsv) {
    auto tab = line.find('\t');
    if (tab == std::string_view::npos) throw bad("expected key<TAB>value, found no tab");
    if (tab == 0) throw bad("empty key");
    item.key.assign(line.substr(0, tab));
    item.value.assign(line.substr(tab + 1));
  } else {
    // The line's own object is one level above its metadata.
    if (auto why = depth_problem(line, k_max_metadata_depth + 1); !why.empty()) throw bad(why);
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) throw bad("not valid JSON");
    if (!j.is_object()) throw bad("expected a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key() != "key" && it.key() != "value" && it.key() != "value_b64" && it.key() != "ttl" && it.key() != "metadata")
        throw bad(fmt::format("unknown field \"{}\" (expected key, value or value_b64, ttl, metadata)", it.key()));
    if (!j.contains("key") || !j["key"].is_string()) throw bad("\"key\" must be a string");
    item.key = j["key"].get<std::string>();
    if (item.key.empty()) throw bad("empty key");
    bool has_value = j.contains("value"), has_b64 = j.contains("value_b64");
    if (has_value == has_b64) throw bad("exactly one of \"value\" and \"value_b64\" is required");
    if (has_value) {
      if (!j["value"].is_string()) throw bad("\"value\" must be a string");
      item.value = j["value"].get<std::string>();
    } else {
      if (!j["value_b64"].is_string() || !from_base64(j["value_b64"].get<std::string>(), item.value))
        throw bad("\"value_b64\" must be base64");
    }
    if (j.contains("ttl") && !j["ttl"].is_null()) {
      Millis ttl{0};
      std::string text;
      if (j["ttl"].is_string()) text = j["ttl"].get<std::string>();
      else if (j["ttl"].is_number()) text = j["ttl"].dump() + "s";
      else throw bad("\"ttl\" must be a duration string or a number of seconds");
      if (auto why = ttl_problem(text, ttl); !why.empty()) throw bad(why);
      item.ttl = ttl;
    }
    if (j.contains("metadata") && !j["metadata"].is_null()) {
      if (auto why = metadata_problem(j["metadata"]); !why.empty()) throw bad(why);
      item.metadata = j["metadata"].dump();
    }
  }
  if (auto why = key_problem(item.key); !why.empty()) throw bad(why);
  if (item.value.size() > settings.max_value_size)
    throw bad(fmt::format("value of {} bytes is over [state] max_value_size {}", item.value.size(), util::format_size(settings.max_value_size)));
  return true;
}

std::vector<BatchItem> parse_batch(std::string_view input, BatchFormat format, const Settings& settings)
{
  std::vector<BatchItem> items;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  BatchItem item;
  while (pos < input.size()) {
    std::size_t nl = input.find('\n', pos);
    std::string_view line = input.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? input.size() : nl + 1;
    if (parse_batch_line(line, ++line_no, format, settings, item)) items.push_back(std::move(item));
  }
  return items;
}

// ---- BatchReader -----------------------------------------------------------------------------

namespace {

// Bytes read from the input at a time.
constexpr std::size_t k_batch_read_chunk = 1 << 20;

// The directory for the copy of an input that cannot be read twice.
std::string batch_spool_dir()
{
  const char* env = std::getenv("TMPDIR");
  return env && *env ? env : "/tmp";
}

Error batch_spool_error(const std::string& name, const std::string& dir, int err)
{
  return Error(ExitCode::failed, fmt::format("cannot keep a copy of {} to read it twice", name),
               fmt::format("{}: {}; nothing was written", dir, std::strerror(err)),
               "set TMPDIR to a writable directory with room for the batch, or give the batch as a FILE");
}

// An unlinked file readable and writable only by this user: it disappears with its descriptor.
int batch_open_spool(const std::string& name)
{
  std::string dir = batch_spool_dir();
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // A file system without O_TMPFILE: a named file (mkostemp makes it 0600), unlinked at once.
    std::string path = dir + "/statectl-batch.XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(path.c_str());
  }
  if (fd < 0) throw batch_spool_error(name, dir, errno);
  return fd;
}

} // namespace

BatchReader::BatchReader(const std::string& source, BatchFormat format, const Settings& settings)
  : m_name(source == "-" ? "standard input" : source), m_format(format), m_settings(settings)
{
  if (source == "-") {
    m_fd = 0;
  } else {
    m_fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    if (m_fd < 0) throw Error(ExitCode::usage, fmt::format("cannot read {}", source), std::strerror(errno));
    m_own_fd = true;
  }
  struct stat st {};
  if (::fstat(m_fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (m_own_fd) ::close(m_fd);
    if (source == "-") throw Error(ExitCode::usage, "cannot read standard input", "it is a directory", "redirect a file, not a directory");
    throw Error(ExitCode::usage, fmt::format("cannot read {}", source), "it is a directory", "give a file, or '-' for stdin");
  }
  if (S_ISREG(st.st_mode)) m_start = ::lseek(m_fd, 0, SEEK_CUR);
  m_buf.resize(k_batch_read_chunk);
}

BatchReader::~BatchReader()
{
  if (m_own_fd && m_fd >= 0) ::close(m_fd);
  if (m_spool >= 0) ::close(m_spool);
}

std::uint64_t BatchReader::prescan()
{
  // An input that cannot be read twice is copied as it is read; the copy is then read instead.
  if (m_start < 0 && m_spool < 0) {
    if (m_line != 0 || m_len != 0) throw std::logic_error("BatchReader::prescan after reading a pipe");
    m_spool = batch_open_spool(m_name);
  }
  std::uint64_t n = 0;
  for (BatchItem item; next(item);) ++n;
  if (m_spool >= 0) {
    if (m_own_fd) ::close(m_fd);
    m_fd = m_spool;
    m_own_fd = true;
    m_spool = -1;
    m_start = 0;
  }
  if (!rewind()) throw batch_spool_error(m_name, batch_spool_dir(), errno);
  return n;
}

bool BatchReader::rewind()
{
  if (m_start < 0 || ::lseek(m_fd, m_start, SEEK_SET) != m_start) return false;
  m_pos = m_len = m_line = 0;
  m_eof = false;
  return true;
}

bool BatchReader::next_line(std::string_view& line)
{
  for (;;) {
    const char* data = m_buf.data();
    if (const void* nl = std::memchr(data + m_pos, '\n', m_len - m_pos)) {
      std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - data);
      line = std::string_view(data + m_pos, end - m_pos);
      m_pos = end + 1;
      return true;
    }
    if (m_eof) {
      if (m_pos == m_len) return false;
      line = std::string_view(data + m_pos, m_len - m_pos); // the last line, without a line break
      m_pos = m_len;
      return true;
    }
    // Keep the partial line at the front and read more behind it; a line longer than the buffer
    // grows it (to the longest line's size, which [state] max_value_size bounds for a valid one).
    if (m_pos > 0) {
      std::memmove(m_buf.data(), m_buf.data() + m_pos, m_len - m_pos);
      m_len -= m_pos;
      m_pos = 0;
    }
    if (m_buf.size() - m_len < k_batch_read_chunk / 2) m_buf.resize(m_buf.size() * 2);
    ssize_t n = ::read(m_fd, m_buf.data() + m_len, m_buf.size() - m_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ExitCode::usage, fmt::format("cannot read {}", m_name), std::strerror(errno));
    }
    if (n == 0) m_eof = true;
    const char* end = m_buf.data() + m_len + n;
    for (const char* p = m_buf.data() + m_len; m_spool >= 0 && p < end;) {
      ssize_t w = ::write(m_spool, p, static_cast<std::size_t>(end - p));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw batch_spool_error(m_name, batch_spool_dir(), errno);
      p += w;
    }
    m_len += static_cast<std::size_t>(n);
  }
}

bool BatchReader::next(BatchItem& item)
{
  std::string_view line;
  while (next_line(line))
    if (parse_batch_line(line, ++m_line, m_format, m_settings, item)) return true;
  return false;
}

} // namespace statectl::state

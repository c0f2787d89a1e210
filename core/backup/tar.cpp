#include "core/backup/tar.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fmt/format.h>

#include "core/error.h"

namespace statectl::backup {

namespace {

std::uint64_t octal(const char* p, std::size_t n)
{
  // GNU base-256 for sizes above 8 GiB: high bit of the first byte set.
  if (static_cast<unsigned char>(p[0]) & 0x80) {
    std::uint64_t v = static_cast<unsigned char>(p[0]) & 0x7f;
    for (std::size_t i = 1; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n && p[i]; ++i) {
    if (p[i] == ' ') continue;
    if (p[i] < '0' || p[i] > '7') break;
    v = v * 8 + static_cast<std::uint64_t>(p[i] - '0');
  }
  return v;
}

std::string field(const char* p, std::size_t n) { return std::string(p, strnlen(p, n)); }

// Writes v as a zero-padded octal field of n bytes (n-1 digits and a NUL), or GNU base-256.
void put_octal(char* p, std::size_t n, std::uint64_t v)
{
  if (v >> (3 * (n - 1))) {
    for (std::size_t i = n; i-- > 1;) {
      p[i] = static_cast<char>(v & 0xff);
      v >>= 8;
    }
    p[0] = static_cast<char>(0x80);
    return;
  }
  for (std::size_t i = n - 1; i-- > 0;) {
    p[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  p[n - 1] = 0;
}

// One "<len> key=value\n" pax record; len counts the whole record, its own digits included.
std::string pax_record(const std::string& key, const std::string& value)
{
  std::size_t body = key.size() + value.size() + 3; // ' ', '=', '\n'
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + key + "=" + value + "\n";
}

std::string header_block(const std::string& name, const std::string& link, char type, std::uint64_t size, unsigned mode, std::int64_t mtime)
{
  std::string b(512, '\0');
  std::memcpy(b.data(), name.data(), std::min<std::size_t>(name.size(), 100));
  put_octal(b.data() + 100, 8, mode & 07777);
  put_octal(b.data() + 108, 8, 0);
  put_octal(b.data() + 116, 8, 0);
  put_octal(b.data() + 124, 12, size);
  put_octal(b.data() + 136, 12, static_cast<std::uint64_t>(std::max<std::int64_t>(mtime, 0)));
  b[156] = type;
  std::memcpy(b.data() + 157, link.data(), std::min<std::size_t>(link.size(), 100));
  std::memcpy(b.data() + 257, "ustar", 6);
  std::memcpy(b.data() + 263, "00", 2);
  std::memset(b.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : b) sum += c;
  put_octal(b.data() + 148, 7, sum);
  b[155] = ' ';
  return b;
}

} // namespace

std::string tar_header(const TarEntry& e)
{
  std::string out;
  if (e.path.size() > 100 || e.link_target.size() > 100) {
    std::string pax;
    if (e.path.size() > 100) pax += pax_record("path", e.path);
    if (e.link_target.size() > 100) pax += pax_record("linkpath", e.link_target);
    out = header_block("././@PaxHeader", "", 'x', pax.size(), 0644, e.mtime) + pax + tar_padding(pax.size());
  }
  std::uint64_t size = e.type == '0' ? e.size : 0;
  return out + header_block(e.path, e.link_target, e.type, size, e.mode, e.mtime);
}

std::string tar_padding(std::uint64_t size) { return std::string((512 - size % 512) % 512, '\0'); }

std::string tar_end() { return std::string(1024, '\0'); }

void TarScanner::header(const char* b)
{
  if (std::all_of(b, b + 512, [](char c) { return c == 0; })) {
    m_finished = true;
    return;
  }
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(b[i]);
  if (sum != octal(b + 148, 8)) throw Error(ExitCode::failed, "the backup archive is damaged", "bad tar header checksum");
  TarEntry e;
  std::string name = field(b, 100);
  std::string prefix = field(b + 345, 155);
  if (std::memcmp(b + 257, "ustar", 5) == 0 && !prefix.empty()) name = prefix + "/" + name;
  e.path = m_next_path.empty() ? name : m_next_path;
  e.link_target = m_next_link.empty() ? field(b + 157, 100) : m_next_link;
  e.mode = static_cast<unsigned>(octal(b + 100, 8)) & 07777;
  e.size = octal(b + 124, 12);
  e.mtime = static_cast<std::int64_t>(octal(b + 136, 12));
  e.type = b[156] == 0 ? '0' : b[156];
  m_left = e.size;
  m_pad = (512 - e.size % 512) % 512;
  if (e.type == 'x' || e.type == 'L' || e.type == 'K' || e.type == 'g') {
    m_meta_type = e.type;
    m_meta.clear();
    m_state = State::meta;
  } else {
    m_next_path.clear();
    m_next_link.clear();
    m_entry = e;
    if (e.type == '5' || e.type == '2' || e.type == '1') m_left = 0, m_pad = 0;
    if (on_begin) on_begin(m_entry);
    m_state = State::data;
  }
  if (m_left == 0 && m_state == State::data) {
    if (on_end) on_end(m_entry);
    m_state = m_pad ? State::padding : State::header;
  }
}

void TarScanner::feed(std::string_view data)
{
  while (!data.empty()) {
    if (m_finished) return; // trailing zero blocks and padding
    switch (m_state) {
    case State::header: {
      std::size_t take = std::min<std::size_t>(512 - m_block.size(), data.size());
      m_block.append(data.substr(0, take));
      data.remove_prefix(take);
      m_pos += take;
      if (m_block.size() == 512) {
        std::array<char, 512> b; // a copy: header() starts the next block in m_block
        std::memcpy(b.data(), m_block.data(), b.size());
        m_block.clear();
        header(b.data());
      }
      break;
    }
    case State::data:
    case State::meta: {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(m_left, data.size()));
      if (m_state == State::data) {
        if (on_data) on_data(data.substr(0, take));
      } else {
        m_meta.append(data.substr(0, take));
      }
      data.remove_prefix(take);
      m_pos += take;
      m_left -= take;
      if (m_left == 0) {
        if (m_state == State::data) {
          if (on_end) on_end(m_entry);
        } else if (m_meta_type == 'L') {
          m_next_path = field(m_meta.data(), m_meta.size());
        } else if (m_meta_type == 'K') {
          m_next_link = field(m_meta.data(), m_meta.size());
        } else if (m_meta_type == 'x') {
          // pax records: "<len> key=value\n"
          std::size_t pos = 0;
          while (pos < m_meta.size()) {
            auto sp = m_meta.find(' ', pos);
            if (sp == std::string::npos) break;
            std::size_t len = std::strtoull(m_meta.c_str() + pos, nullptr, 10);
            if (len == 0) break;
            std::string rec = m_meta.substr(sp + 1, pos + len - sp - 2);
            auto eq = rec.find('=');
            if (eq != std::string::npos) {
              if (rec.substr(0, eq) == "path") m_next_path = rec.substr(eq + 1);
              if (rec.substr(0, eq) == "linkpath") m_next_link = rec.substr(eq + 1);
            }
            pos += len;
          }
        }
        m_state = m_pad ? State::padding : State::header;
      }
      break;
    }
    case State::padding: {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(m_pad, data.size()));
      data.remove_prefix(take);
      m_pos += take;
      m_pad -= take;
      if (m_pad == 0) m_state = State::header;
      break;
    }
    }
  }
}

} // namespace statectl::backup

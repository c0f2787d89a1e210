#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace statectl::backup {

// One member of a tar stream as the scanner reports it.
struct TarEntry {
  std::string path;
  char type = '0';          // '0' file, '5' directory, '2' symlink, others passed through
  std::uint64_t size = 0;
  unsigned mode = 0644;
  std::string link_target;  // for symlinks
  std::int64_t mtime = 0;   // seconds since the epoch
};

// The header block(s) of a ustar member for e, preceded by a pax extended header when the path
// or link target does not fit ustar's 100-byte fields. Sizes above 8 GiB use GNU base-256.
std::string tar_header(const TarEntry& e);
// The zero bytes that pad a member of `size` bytes to the next 512-byte boundary.
std::string tar_padding(std::uint64_t size);
// The end-of-archive marker: two zero blocks.
std::string tar_end();

// A streaming reader of ustar archives (what pg_basebackup -Ft writes): feed it bytes in any
// chunking and it calls on_begin for each member header, on_data with the member's content and
// on_end when the member is complete. pax extended headers are applied; GNU long names are read.
// Throws Error(failed) on a malformed header.
class TarScanner {
public:
  std::function<void(const TarEntry&)> on_begin;
  std::function<void(std::string_view)> on_data;
  std::function<void(const TarEntry&)> on_end;

  void feed(std::string_view data);
  // True once the end-of-archive marker (a zero block) was read.
  bool finished() const { return m_finished; }
  // The bytes consumed so far: in on_begin, the offset of the member's content in the stream.
  std::uint64_t position() const { return m_pos; }

private:
  void header(const char* block);

  enum class State { header, data, padding, meta };
  State m_state = State::header;
  std::string m_block;
  TarEntry m_entry;
  std::uint64_t m_left = 0;
  std::uint64_t m_pad = 0;
  std::string m_meta;       // content of a pax 'x' or GNU 'L'/'K' member
  char m_meta_type = 0;
  std::string m_next_path;  // path from the preceding pax/GNU member
  std::string m_next_link;
  bool m_finished = false;
  std::uint64_t m_pos = 0;
};

} // namespace statectl::backup

#include "tests/support/temp_dir.h"

#include <stdexcept>
#include <stdlib.h>
#include <system_error>
#include <vector>

namespace statectl::testing {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix)
{
  std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  m_path = buf.data();
  fs::permissions(m_path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
}

TempDir::~TempDir()
{
  std::error_code ec;
  fs::remove_all(m_path, ec);
}

} // namespace statectl::testing

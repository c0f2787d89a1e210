#pragma once

#include <filesystem>
#include <string>

namespace statectl::testing {

// A fresh directory under /tmp (mkdtemp), removed with everything in it when the object goes
// out of scope. It is traversable by others (0755) so servers dropped to the postgres user can
// reach files below it when the tests run as root.
class TempDir {
public:
  explicit TempDir(const std::string& prefix = "statectl-unit");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The directory's absolute path.
  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
};

} // namespace statectl::testing

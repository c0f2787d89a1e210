// Commands that report something print one JSON document under -o json, and the README's
// `secrets keygen --out DIR/FILE` works when DIR does not exist yet.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "commands/app.h"

using statectl::commands::run_app;
namespace fs = std::filesystem;

namespace {

struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("statectl-unit-json-" + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch()
  {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

nlohmann::json json_of(const std::vector<std::string>& args, int& code)
{
  std::ostringstream out, err;
  code = run_app(args, out, err, {}, false);
  auto j = nlohmann::json::parse(out.str(), nullptr, false);
  return j;
}

} // namespace

TEST_CASE("init -o json prints the file and target as JSON")
{
  Scratch s;
  int code = -1;
  auto file = (s.dir / "statectl.toml").string();
  auto j = json_of({"init", "--target", "k8s", "--file", file, "-o", "json"}, code);
  CHECK(code == 0);
  REQUIRE(j.is_object());
  CHECK(j["file"] == file);
  CHECK(j["target"] == "k8s");
  CHECK(fs::exists(file));
}

TEST_CASE("secrets keygen -o json prints the key and its id as JSON")
{
  int code = -1;
  auto j = json_of({"secrets", "keygen", "-o", "json"}, code);
  CHECK(code == 0);
  REQUIRE(j.is_object());
  CHECK(j["key"].get<std::string>().size() == 64);
  CHECK(!j["key_id"].get<std::string>().empty());
}

TEST_CASE("secrets keygen --out creates a missing folder (0700) and writes a 0600 key")
{
  Scratch s;
  auto file = s.dir / "etc" / "statectl" / "master.key";
  int code = -1;
  auto j = json_of({"secrets", "keygen", "--out", file.string(), "-o", "json"}, code);
  CHECK(code == 0);
  REQUIRE(fs::exists(file));
  CHECK(j["key_file"] == file.string());
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(file.parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

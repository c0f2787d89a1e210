#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/util/fs.h"
#include "core/util/parallel.h"
#include "tests/support/temp_dir.h"

using namespace statectl::util;

TEST_CASE("parallel: parallel_for runs every index exactly once and rethrows the first failure")
{
  for (unsigned workers : {1u, 2u, 4u}) {
    std::vector<std::atomic<int>> hits(1000);
    parallel_for(hits.size(), workers, [&](std::size_t i) { ++hits[i]; });
    for (const auto& h : hits) CHECK(h.load() == 1);
  }
  parallel_for(0, 4, [](std::size_t) { FAIL("called for an empty range"); });
  CHECK_THROWS_WITH_AS(parallel_for(100, 2, [](std::size_t i) { if (i == 37) throw std::runtime_error("index 37"); }), "index 37",
                       std::runtime_error);
  CHECK(worker_count(3) >= 1);
  CHECK(worker_count(3) <= 3);
}

TEST_CASE("parallel: pipeline_chunks hands every chunk over in order and stops both sides on a failure")
{
  std::string sent, got;
  pipeline_chunks(
    [&](const std::function<void(std::string_view)>& emit) {
      for (int i = 0; i < 5000; ++i) {
        std::string chunk = std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x') + ";";
        sent += chunk;
        emit(chunk);
      }
    },
    [&](std::string_view chunk) { got += chunk; }, 4096);
  CHECK(got == sent);

  int produced = 0;
  CHECK_THROWS_WITH_AS(pipeline_chunks(
                         [&](const std::function<void(std::string_view)>& emit) {
                           for (int i = 0; i < 100000; ++i, ++produced) emit("chunk");
                         },
                         [&](std::string_view) { throw std::runtime_error("disk full"); }, 64),
                       "disk full", std::runtime_error);
  CHECK(produced < 100000); // the producer stopped early

  CHECK_THROWS_WITH_AS(pipeline_chunks([&](const std::function<void(std::string_view)>& emit) {
                         emit("a");
                         throw std::runtime_error("damaged frame");
                       },
                                       [&](std::string_view) {}),
                       "damaged frame", std::runtime_error);
}

TEST_CASE("fs: sync_tree flushes a tree and names what it cannot open")
{
  statectl::testing::TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directories(dir.path() / "a" / "b");
  std::ofstream(dir.path() / "a" / "b" / "file") << "data";
  std::ofstream(dir.path() / "top") << "data";
  fs::create_symlink("/nonexistent", dir.path() / "dangling");
  CHECK(static_cast<bool>(sync_tree(dir.path())));
  auto missing = sync_tree(dir.path() / "missing");
  REQUIRE_FALSE(static_cast<bool>(missing));
  CHECK(missing.error().find("missing") != std::string::npos);
}

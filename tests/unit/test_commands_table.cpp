#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "commands/table.h"

using namespace statectl::commands;

TEST_CASE("command_word: the one command of a call, after global options and their values")
{
  using V = std::vector<std::string>;
  CHECK(command_word(V{"get", "k"}) == "get");
  CHECK(command_word(V{"get", "--backend", "redis", "k"}) == "get");
  CHECK(command_word(V{"-c", "/tmp/s.toml", "-o", "json", "-q", "put", "k", "v"}) == "put");
  CHECK(command_word(V{"--config=/tmp/s.toml", "--env", "prod", "--dry-run", "del", "a", "b"}) == "del");
  CHECK(command_word(V{"lock", "nightly", "--ttl", "1m", "--", "sh", "-c", "true"}) == "lock");
  CHECK(command_word(V{"put", "--batch", "-"}) == "put");
}

TEST_CASE("command_word: empty whenever the whole tree is needed")
{
  using V = std::vector<std::string>;
  CHECK(command_word(V{}).empty());
  CHECK(command_word(V{"-q"}).empty());
  CHECK(command_word(V{"get", "--help"}).empty());
  CHECK(command_word(V{"-h"}).empty());
  CHECK(command_word(V{"completion", "bash"}).empty());
  CHECK(command_word(V{"gett", "k"}).empty());   // "did you mean" lists every command
  CHECK(command_word(V{"get", "k", "del", "k"}).empty()); // CLI11 chains a second command
  CHECK(command_word(V{"secrets", "get", "redis"}).empty());
  CHECK(command_word(V{"-c", "get", "get", "k"}).empty());
  CHECK(command_word(V{"--", "get"}).empty());
}

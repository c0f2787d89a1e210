#include <doctest/doctest.h>

#include <string>

#include "core/clients/redis_cluster.h"

using namespace statectl;
using clients::RedisValue;

TEST_CASE("clients redis cluster: CRC16 is the XMODEM variant Redis Cluster uses")
{
  CHECK(clients::crc16("123456789") == 0x31C3); // the check value of CRC-16/XMODEM
  CHECK(clients::crc16("") == 0);
}

TEST_CASE("clients redis cluster: key slots, with hash tags")
{
  CHECK(clients::key_slot("foo") == 12182);
  CHECK(clients::key_slot("bar") == 5061);
  CHECK(clients::key_slot("user1000") == 3443);
  CHECK(clients::key_slot("{user1000}.following") == 3443);
  CHECK(clients::key_slot("{user1000}.followers") == clients::key_slot("{user1000}.following"));
  // Only the first {...} counts, and an empty one hashes the whole key.
  CHECK(clients::key_slot("foo{bar}{zap}") == 5061);
  CHECK(clients::key_slot("foo{}{bar}") == (clients::crc16("foo{}{bar}") & 16383));
  CHECK(clients::key_slot("foo{{bar}}zap") == (clients::crc16("{bar") & 16383));
  CHECK(clients::key_slot("{bar") == (clients::crc16("{bar") & 16383));
  CHECK(clients::key_slot("bar}") == (clients::crc16("bar}") & 16383));
}

TEST_CASE("clients redis cluster: slot_tag() gives a tag of every slot")
{
  for (int s = 0; s < clients::k_cluster_slots; ++s) {
    const std::string& tag = clients::slot_tag(s);
    REQUIRE(!tag.empty());
    REQUIRE(tag.find('}') == std::string::npos);
    REQUIRE(clients::key_slot("statectl#x:meta:{" + tag + "}any key{") == s);
  }
  CHECK(&clients::slot_tag(5) == &clients::slot_tag(5));
}

namespace {

RedisValue str(const std::string& s) { return RedisValue{RedisValue::Type::string, s, 0, {}}; }
RedisValue num(long long n) { return RedisValue{RedisValue::Type::integer, "", n, {}}; }
RedisValue arr(std::vector<RedisValue> e) { return RedisValue{RedisValue::Type::array, "", 0, std::move(e)}; }

} // namespace

TEST_CASE("clients redis cluster: CLUSTER SLOTS replies become slot ranges")
{
  RedisValue reply = arr({
    arr({num(0), num(5460), arr({str("127.0.0.1"), num(7000), str("id0")}), arr({str("127.0.0.1"), num(7003), str("id3")})}),
    arr({num(5461), num(16383), arr({str(""), num(7001), str("id1")})}),
    str("garbage"),
  });
  auto ranges = clients::parse_cluster_slots(reply);
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0].first == 0);
  CHECK(ranges[0].last == 5460);
  CHECK(ranges[0].master.port == 7000);
  REQUIRE(ranges[0].replicas.size() == 1);
  CHECK(ranges[0].replicas[0].port == 7003);
  CHECK(ranges[1].master.host == "127.0.0.1"); // an empty host is the node that answered: loopback here
  CHECK(ranges[1].replicas.empty());

  // Announced addresses are mapped; an unpublished node is left out.
  clients::AddressMap nat{{"127.0.0.1:7000", {"127.0.0.1", 17000}}};
  auto mapped = clients::parse_cluster_slots(reply, nat);
  REQUIRE(mapped.size() == 1);
  CHECK(mapped[0].master.port == 17000);
  CHECK(mapped[0].replicas.empty());

  CHECK(clients::parse_cluster_slots(str("ERR This instance has cluster support disabled")).empty());
}

#pragma once

// The slot-aware layer of the Redis client for Redis Cluster: key slots (CRC16 with hash tags),
// the slot map from CLUSTER SLOTS, MOVED and ASK redirects, one RedisConnection per node and
// pipelines grouped per node. Everything below the routing (connecting, AUTH, timeouts, replies)
// is RedisConnection's (core/clients/redis.h).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/clients/redis.h"

namespace statectl::clients {

// The number of hash slots of a Redis Cluster.
inline constexpr int k_cluster_slots = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes
// keys with.
std::uint16_t crc16(std::string_view bytes);

// The hash slot of a key: CRC16 of the key modulo 16384, or of its hash tag (the bytes between
// the first '{' and the first '}' after it) when that tag is not empty.
int key_slot(std::string_view key);

// A short string whose slot is `slot` (the same one for every call). "{" + slot_tag(s) + "}"
// inside a key puts the key into slot s, which is how a key is made to share the slot of another
// key whose name statectl does not choose.
const std::string& slot_tag(int slot);

// One range of slots and the nodes that serve it, as CLUSTER SLOTS reports it.
struct SlotRange {
  int first = 0;
  int last = 0;
  HostPort master;
  std::vector<HostPort> replicas;
};

// The ranges of a CLUSTER SLOTS reply, addresses mapped through nat (see map_address(); a node
// that is not in a non-empty map is left out). Empty for a reply of another shape.
std::vector<SlotRange> parse_cluster_slots(const RedisValue& reply, const AddressMap& nat = {});

// One command for RedisCluster::pipeline(): its arguments and the slot it is routed by.
struct RoutedCommand {
  std::vector<std::string> args;
  int slot = 0;
};

// A client of one Redis Cluster (move-only, one thread). It learns the slot map from the first
// seed node that answers CLUSTER SLOTS, keeps one connection per node it talks to (made with
// options, host and port replaced) and follows MOVED (refreshing the map) and ASK (ASKING, then
// the command, on the importing node) redirects. Error replies other than redirects are returned
// as values; CLUSTERDOWN and TRYAGAIN are retried for a while, then thrown as RedisError(connect).
class RedisCluster {
public:
  RedisCluster(std::vector<HostPort> seeds, RedisOptions options, AddressMap nat = {});

  // Reads the slot map again (CLUSTER SLOTS from a known node, then the seeds). Throws
  // RedisError (the last failure) when no node answers, or RedisError(reply) when the cluster
  // does not cover every slot.
  void refresh();

  // The command on the master of slot, following redirects. A broken connection is retried once
  // with a fresh map (a failover moves the slot to the promoted replica).
  RedisValue command(const std::vector<std::string>& args, int slot);
  // The command on one node ("host:port"), no redirects followed.
  RedisValue command_at(const std::string& node, const std::vector<std::string>& args);
  // Many commands, sent pipelined and grouped per node (every node's group is written before the
  // replies are read); redirected ones are sent again in their original order. The replies in
  // input order.
  std::vector<RedisValue> pipeline(const std::vector<RoutedCommand>& commands);

  // The masters serving slots now ("host:port"), sorted.
  std::vector<std::string> masters() const;
  // How many replicas the master of slot has in the map.
  int replicas_of(int slot) const;
  // "host:port" of the master of slot in the map.
  std::string master_of(int slot) const;
  // The seed nodes, for messages ("h:p,h:p").
  std::string display() const;

private:
  RedisConnection& connection(const std::string& node);
  void drop(const std::string& node);
  // One pass over pending (indices into commands): sends, reads, records replies; returns the
  // indices to send again and sets moved when a MOVED was seen.
  std::vector<std::size_t> pass(const std::vector<RoutedCommand>& commands, const std::vector<std::size_t>& pending,
                                std::map<std::size_t, std::string>& ask, std::vector<RedisValue>& out, bool& moved);

  std::vector<HostPort> m_seeds;
  RedisOptions m_options;
  AddressMap m_nat;
  std::vector<std::string> m_slot_master; // slot -> "host:port"
  std::vector<SlotRange> m_ranges;
  std::map<std::string, RedisConnection> m_connections;
};

} // namespace statectl::clients

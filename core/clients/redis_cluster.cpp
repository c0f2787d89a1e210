#include "core/clients/redis_cluster.h"

#include <algorithm>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/util/strings.h"

namespace statectl::clients {

namespace {

// A node's "host:port" name.
std::string node_name(const std::string& host, int port) { return fmt::format("{}:{}", host, port); }

bool settling(const RedisValue& r)
{
  return r.is_error() && (util::starts_with(r.str, "TRYAGAIN") || util::starts_with(r.str, "CLUSTERDOWN"));
}

// Pipelines are cut into windows so that neither side buffers an unbounded number of replies.
constexpr std::size_t k_window = 32768;
// Rounds of redirects and TRYAGAIN/CLUSTERDOWN retries before a pipeline gives up (with the
// back-off below, about 6 s: longer than a replica promotion with cluster-node-timeout 2 s).
constexpr int k_rounds = 25;

} // namespace

std::uint16_t crc16(std::string_view bytes)
{
  std::uint16_t crc = 0;
  for (unsigned char b : bytes) {
    crc ^= static_cast<std::uint16_t>(b << 8);
    for (int i = 0; i < 8; ++i) crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc;
}

int key_slot(std::string_view key)
{
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (k_cluster_slots - 1);
}

const std::string& slot_tag(int slot)
{
  // Decimal numbers are tried in order until every slot has one (about 170k CRCs, once).
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(k_cluster_slots);
    int filled = 0;
    for (long n = 0; filled < k_cluster_slots; ++n) {
      std::string s = std::to_string(n);
      auto& entry = t[static_cast<std::size_t>(crc16(s) & (k_cluster_slots - 1))];
      if (entry.empty()) {
        entry = std::move(s);
        ++filled;
      }
    }
    return t;
  }();
  return table.at(static_cast<std::size_t>(slot & (k_cluster_slots - 1)));
}

std::vector<SlotRange> parse_cluster_slots(const RedisValue& reply, const AddressMap& nat)
{
  std::vector<SlotRange> out;
  if (reply.type != RedisValue::Type::array) return out;
  auto address = [&](const RedisValue& node) -> std::optional<HostPort> {
    if (node.type != RedisValue::Type::array || node.elements.size() < 2) return std::nullopt;
    std::string host = node.elements[0].text();
    if (host.empty()) host = "127.0.0.1";
    return map_address(nat, host, static_cast<int>(node.elements[1].integer));
  };
  for (const auto& e : reply.elements) {
    if (e.type != RedisValue::Type::array || e.elements.size() < 3) continue;
    SlotRange r;
    r.first = static_cast<int>(e.elements[0].integer);
    r.last = static_cast<int>(e.elements[1].integer);
    auto master = address(e.elements[2]);
    if (!master || r.first < 0 || r.last >= k_cluster_slots || r.first > r.last) continue;
    r.master = *master;
    for (std::size_t i = 3; i < e.elements.size(); ++i)
      if (auto rep = address(e.elements[i])) r.replicas.push_back(*rep);
    out.push_back(std::move(r));
  }
  return out;
}

RedisCluster::RedisCluster(std::vector<HostPort> seeds, RedisOptions options, AddressMap nat)
  : m_seeds(std::move(seeds)), m_options(std::move(options)), m_nat(std::move(nat)), m_slot_master(k_cluster_slots)
{
}

std::string RedisCluster::display() const
{
  std::vector<std::string> parts;
  for (const auto& s : m_seeds) parts.push_back(node_name(s.host, s.port));
  return util::join(parts, ",");
}

RedisConnection& RedisCluster::connection(const std::string& node)
{
  auto it = m_connections.find(node);
  if (it != m_connections.end() && it->second) return it->second;
  auto colon = node.rfind(':');
  RedisOptions o = m_options;
  o.host = node.substr(0, colon);
  o.port = std::atoi(node.c_str() + colon + 1);
  RedisConnection c = RedisConnection::connect(o);
  return m_connections[node] = std::move(c);
}

void RedisCluster::drop(const std::string& node) { m_connections.erase(node); }

void RedisCluster::refresh()
{
  std::vector<std::string> candidates = masters();
  for (const auto& s : m_seeds) candidates.push_back(node_name(s.host, s.port));
  std::set<std::string> tried;
  std::optional<RedisError> last;
  std::vector<SlotRange> partial;
  for (const auto& node : candidates) {
    if (!tried.insert(node).second) continue;
    try {
      RedisValue r = connection(node).command({"CLUSTER", "SLOTS"});
      if (r.is_error()) {
        last = RedisError({RedisFailureKind::reply, fmt::format("{}: {}", node, r.str)});
        continue;
      }
      auto ranges = parse_cluster_slots(r, m_nat);
      int covered = 0;
      for (const auto& range : ranges) covered += range.last - range.first + 1;
      if (covered < k_cluster_slots) {
        if (ranges.size() > partial.size()) partial = ranges;
        last = RedisError({RedisFailureKind::reply, fmt::format("{}: the cluster serves {} of {} slots", node, covered, k_cluster_slots)});
        continue;
      }
      partial = std::move(ranges);
      last.reset();
      break;
    } catch (const RedisError& e) {
      drop(node);
      last = RedisError({e.kind(), fmt::format("{}: {}", node, e.what())});
    }
  }
  if (partial.empty()) throw last ? *last : RedisError({RedisFailureKind::connect, "no cluster node is configured"});
  // A partial map still routes the slots it has; the others fail with the reason below.
  m_ranges = std::move(partial);
  std::fill(m_slot_master.begin(), m_slot_master.end(), std::string());
  for (const auto& r : m_ranges)
    for (int s = r.first; s <= r.last; ++s) m_slot_master[static_cast<std::size_t>(s)] = node_name(r.master.host, r.master.port);
}

std::vector<std::string> RedisCluster::masters() const
{
  std::set<std::string> out;
  for (const auto& r : m_ranges) out.insert(node_name(r.master.host, r.master.port));
  return {out.begin(), out.end()};
}

int RedisCluster::replicas_of(int slot) const
{
  for (const auto& r : m_ranges)
    if (slot >= r.first && slot <= r.last) return static_cast<int>(r.replicas.size());
  return 0;
}

std::string RedisCluster::master_of(int slot) const { return m_slot_master.at(static_cast<std::size_t>(slot)); }

RedisValue RedisCluster::command_at(const std::string& node, const std::vector<std::string>& args)
{
  try {
    return connection(node).command(args);
  } catch (const RedisError&) {
    drop(node);
    throw;
  }
}

RedisValue RedisCluster::command(const std::vector<std::string>& args, int slot)
{
  return std::move(pipeline({RoutedCommand{args, slot}}).front());
}

std::vector<std::size_t> RedisCluster::pass(const std::vector<RoutedCommand>& commands, const std::vector<std::size_t>& pending,
                                            std::map<std::size_t, std::string>& ask, std::vector<RedisValue>& out, bool& moved)
{
  std::map<std::string, std::vector<std::size_t>> groups;
  std::vector<std::size_t> again;
  for (std::size_t i : pending) {
    auto a = ask.find(i);
    std::string node = a != ask.end() ? a->second : m_slot_master.at(static_cast<std::size_t>(commands[i].slot));
    if (node.empty()) {
      out[i] = RedisValue{RedisValue::Type::error, fmt::format("CLUSTERDOWN slot {} is not served by any node", commands[i].slot), 0, {}};
      again.push_back(i);
      moved = true;
      continue;
    }
    groups[node].push_back(i);
  }
  try {
    // Every node's group is written first, so the nodes work in parallel.
    for (const auto& [node, idx] : groups) {
      RedisConnection& c = connection(node);
      for (std::size_t i : idx) {
        if (ask.count(i)) c.append({"ASKING"});
        c.append(commands[i].args);
      }
      c.send();
    }
    for (const auto& [node, idx] : groups) {
      RedisConnection& c = connection(node);
      for (std::size_t i : idx) {
        bool asking = ask.erase(i) > 0;
        if (asking) c.read(); // +OK of ASKING
        RedisValue r = c.read();
        if (auto rd = redirect_of(r)) {
          auto to = map_address(m_nat, rd->host.empty() ? std::string("127.0.0.1") : rd->host, rd->port);
          if (!to) throw RedisError({RedisFailureKind::connect, fmt::format("redirected to {}:{}, which is not published to this machine", rd->host, rd->port)});
          if (rd->ask) ask[i] = node_name(to->host, to->port);
          else moved = true;
          out[i] = std::move(r);
          again.push_back(i);
        } else if (settling(r)) {
          out[i] = std::move(r);
          again.push_back(i);
          moved = true;
        } else {
          out[i] = std::move(r);
        }
      }
    }
  } catch (const RedisError&) {
    // The other connections may hold unread replies of this pass: start them all afresh.
    m_connections.clear();
    throw;
  }
  std::sort(again.begin(), again.end());
  return again;
}

std::vector<RedisValue> RedisCluster::pipeline(const std::vector<RoutedCommand>& commands)
{
  std::vector<RedisValue> out(commands.size());
  if (m_ranges.empty()) refresh();
  for (std::size_t start = 0; start < commands.size(); start += k_window) {
    std::size_t end = std::min(commands.size(), start + k_window);
    std::vector<std::size_t> pending;
    for (std::size_t i = start; i < end; ++i) pending.push_back(i);
    std::map<std::size_t, std::string> ask;
    bool retried_io = false;
    RedisFailureKind first_failure = RedisFailureKind::connect;
    for (int round = 0; !pending.empty(); ++round) {
      if (round >= k_rounds)
        throw RedisError({RedisFailureKind::connect, fmt::format("the cluster did not settle: {}", out[pending.front()].str)});
      bool moved = false;
      try {
        pending = pass(commands, pending, ask, out, moved);
      } catch (const RedisError& e) {
        // A node went away (a killed master): once, with a fresh map, the whole pass is sent
        // again (the commands statectl pipelines are idempotent writes and reads).
        if (e.kind() == RedisFailureKind::auth || e.kind() == RedisFailureKind::unsupported) throw;
        // A call that broke in flight may have run: the retry's "cannot connect" must not hide that.
        if (retried_io && first_failure != RedisFailureKind::connect) throw RedisError({first_failure, e.what()});
        if (retried_io) throw;
        retried_io = true;
        first_failure = e.kind();
        ask.clear();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        refresh();
        continue;
      }
      if (moved) {
        if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(500, 20 * round * round)));
        refresh();
      }
    }
  }
  return out;
}

} // namespace statectl::clients

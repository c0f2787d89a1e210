#pragma once

// The drivers of the local target's components. Each builds argv and config text and runs them
// through the Site; the Stack (stack.cpp) decides what to create, start and stop.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clients/redis.h"
#include "core/local/site.h"
#include "core/local/state.h"

namespace statectl::local {

namespace postgres {

// A bare PostgreSQL member (not yet created): postgres-<index> on port.
Member describe(const Site& site, int index, int port, const std::string& role);
// The physical replication slot of a standby: "postgres-1" -> "postgres_1".
std::string slot_name(const std::string& member_name);
// initdb (scram-sha-256, superuser password from the store), config, start, roles.
void create_primary(Site& site, Member& m, const std::vector<std::string>& sync_standbys);
// A standby of primary made with pg_basebackup through its replication slot, then started.
void create_standby(Site& site, Member& m, const Member& primary);
// Turns a former primary (stopped) into a standby of primary with pg_rewind: only the blocks
// that changed since the timelines forked are copied (crash recovery first when it was not shut
// down cleanly; the data checksums initdb enabled make rewinding possible). Then its config is
// rewritten for the standby role and it is started. Throws the Error of the step that failed.
void rewind_standby(Site& site, Member& m, const Member& primary);
// Rewrites the member's statectl.conf for its role: a primary (with the synchronous standby
// names) or a standby streaming from primary_port.
// With restore_command, also `restore_command = <statectl> wal fetch ...` (only while pg_rewind
// runs: a standby that consults the archive on every promotion makes failovers slower).
void write_conf(Site& site, const Member& m, int primary_port, const std::vector<std::string>& sync_standbys,
                bool with_restore_command = false);
// pg_ctl start -w; records pid and start time.
void start(Site& site, Member& m);
// pg_ctl stop -m fast (then immediate after the timeout) or -m immediate.
void stop(Site& site, Member& m, StopMode mode, std::chrono::milliseconds timeout);
// pg_ctl promote -w on a standby.
void promote(Site& site, Member& m);
// pg_ctl reload.
void reload(Site& site, const Member& m);
// Creates the slot on primary when missing.
void ensure_slot(Site& site, const Member& primary, const std::string& slot);
// Runs SQL (stdin, one statement per line is fine) on port as the superuser.
void run_sql(Site& site, int port, const std::string& sql, const std::string& what);
// The roles and grants of the stack (replication, app, pgbouncer) with their passwords.
std::string roles_sql(Site& site);

} // namespace postgres

namespace pgbouncer {

Member describe(const Site& site, int port);
// Writes pgbouncer.ini (forwarding to target_port) and the 0600 auth file.
void configure(Site& site, const Member& m, int target_port);
void start(Site& site, Member& m);
void stop(Site& site, Member& m, StopMode mode, std::chrono::milliseconds timeout);

} // namespace pgbouncer

namespace redis {

Member describe_server(const Site& site, int index, int port, const std::string& role);
Member describe_sentinel(const Site& site, int index, int port);
// Writes redis.conf (0600): a master, or a replica of master_port; extra lines (cluster mode) at
// the end. With acl (StackState::redis_acl) the servers have the ACL users of redis_acl.h (their
// passwords as SHA-256 only), the default user off, and replicas log in to their master as the
// replication user; without, requirepass/masterauth of the "redis" secret (default user).
void configure_server(Site& site, const Member& m, bool acl, std::optional<int> master_port, const std::string& extra = {});
// Writes sentinel.conf (0600) watching master_port, logging in to the servers as the Sentinel
// user with acl; peers (name, port) are the Sentinels it knows from the start.
void configure_sentinel(Site& site, const Member& m, bool acl, int master_port, const std::vector<std::pair<std::string, int>>& peers);
// The ACL lines of redis.conf: every user of redis_acl::users() with its stored password
// (generated on first use), and the default user off.
std::string acl_config(Site& site);
// Starts redis-server / redis-sentinel with the member's config (which they may rewrite).
void start(Site& site, Member& m);
void stop(Site& site, Member& m, StopMode mode, std::chrono::milliseconds timeout);

} // namespace redis

namespace redis_cluster {

// The bus port of a cluster node: [local] redis_cluster_bus_port plus the node's offset from
// [local] redis_port (Redis' own default, port + 10000, would land in someone else's range).
int bus_port(const config::Config& cfg, const Member& m);
// The redis.conf lines that make a server a cluster node: its nodes.conf in the member's
// directory (so a restarted node is the same node of the same cluster), bus port, node timeout.
std::string node_config(const config::Config& cfg, const Member& m);

// How statectl's operational calls log in to the nodes: the admin user on a stack with ACL users
// (empty: the default user), its password, and TLS with CA pinning when the stack speaks TLS.
struct NodeLogin {
  std::string user;
  std::string password;
  clients::RedisTls tls;
};
// The login of the local cluster deployed in state (the admin password is the secret "redis").
NodeLogin node_login(Site& site, const StackState& state);

// What one cluster node says about itself (INFO, CLUSTER INFO, its CLUSTER NODES line).
struct NodeProbe {
  bool ok = false;
  std::string error;
  std::string id;
  std::string role; // master / replica
  std::string version;
  std::string state; // cluster_state: ok / fail
  int known_nodes = 0;
  int slots_assigned = 0;
  std::string slots; // the ranges it serves: "0-5460" (masters)
  int master_port = 0; // replica: its master
  bool link_up = false;
  std::int64_t offset = 0; // master_repl_offset / slave_repl_offset
  std::string tls_protocol; // "TLSv1.3", empty when the link is plain text
};
NodeProbe probe(int port, const NodeLogin& login, std::chrono::milliseconds timeout);

// The cluster's size: masters, and replicas of each. `scale redis` records it in the state
// (scaled["redis_masters"], scaled["redis"]); else [redis] cluster_masters / cluster_replicas.
struct Shape {
  int masters = 0;
  int replicas = 0;
};
Shape shape(const config::Config& cfg, const StackState& state);

// Forms the cluster from the running nodes when they are all new (`redis-cli --cluster create
// ... --cluster-replicas N`, as the admin user, the password in REDISCLI_AUTH, over TLS with the
// stack's CA when it speaks TLS), accepts them as they are when they
// already form one complete cluster (a deploy after a stop), and grows a complete cluster by its
// new, empty nodes (`scale redis`): new masters first (`--cluster add-node`, then `--cluster
// rebalance --cluster-use-empty-masters` moves slots to them), then replicas for every master
// short of shape().replicas (`--cluster add-node --cluster-slave --cluster-master-id`). Refuses
// anything else; then waits until every node reports cluster_state:ok and knows every other, and
// records each node's role.
void form(Site& site, StackState& state, std::chrono::milliseconds timeout);

// The cluster side of shrinking a running, complete cluster to `want`: the masters beyond
// want.masters (highest index first) give their slots to the others (`--cluster rebalance
// --cluster-weight ID=0`), masters short of replicas adopt spare ones (CLUSTER REPLICATE), and the
// spare replicas, then the emptied masters, leave the cluster (`--cluster del-node`). Returns the
// members that left, for the caller to stop and delete. Throws Error(failed) when the cluster is
// not complete and ok, Error(external) when a step fails.
std::vector<std::string> shrink(Site& site, StackState& state, Shape want, std::chrono::milliseconds timeout);
// Records the role each running node reports now (a failover swaps master and replica).
void record_roles(StackState& state, const NodeLogin& login);

} // namespace redis_cluster

namespace patroni {

Member describe_etcd(const Site& site, int port);
Member describe_member(const Site& site, int index, int pg_port, int rest_port);
Member describe_haproxy(const Site& site, int port);
// The CA that statectl verifies this stack's Patroni REST API and etcd against: the stack's CA
// when they speak TLS (StackState::patroni_tls), empty (plain HTTP) for a stack deployed before.
std::string rest_ca(const config::Config& cfg, const StackState& state);
void configure_etcd(Site& site, const Member& m);
// With rest_tls the REST API serves TLS only and the etcd3 client uses https with the CA.
void configure_member(Site& site, const Member& m, int etcd_port, bool rest_tls);
// With rest_tls the health checks use check-ssl and verify the REST API against the CA.
void configure_haproxy(Site& site, const Member& m, const std::vector<const Member*>& members, bool rest_tls);
// Starts etcd (client and peer URLs over TLS 1.3 with rest_tls), a Patroni member or HAProxy.
void start(Site& site, Member& m, bool rest_tls);
void stop(Site& site, Member& m, StopMode mode, std::chrono::milliseconds timeout);
// The member whose REST /primary answers 200, if any; ca as from rest_ca().
const Member* leader(const std::vector<const Member*>& members, const std::string& ca);
// Whether losing the leader now can be survived without losing acknowledged writes, from one
// member's /cluster: a member leads and another streams from it; with `synchronous` (Patroni's
// synchronous_mode) that one must be the member Patroni names sync_standby, as Patroni promotes
// no other (right after a failover it has not named one yet).
bool failover_ready(const std::vector<const Member*>& members, bool synchronous, const std::string& ca);

} // namespace patroni

} // namespace statectl::local

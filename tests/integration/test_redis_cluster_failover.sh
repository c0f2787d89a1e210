#!/usr/bin/env bash
# failover on a local Redis Cluster (3 masters x 1 replica, cluster-node-timeout 2 s): SIGKILL of
# the master of the probe's slot under a write probe routed by slot; the replica takes over, the
# loss is reported (asynchronous replication), the killed master comes back as its replica.
# switchover (CLUSTER FAILOVER on the replica, coordinated) swaps the roles with no lost write.
# capacity check and backup create on the cluster.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/failover_lib.sh"
failover_require redis-cli
start_stack $'[redis]\nmode = "cluster"\ncluster_node_timeout = "2s"\n[state]\nbackend = "redis"'

expect_exit 0 statectl failover test --backend redis --warmup 1s --settle 1s -o json
echo "trial: $(json_get "$OUT" 'j["trials"][0]')" >&2
assert_eq "$(json_get "$OUT" 'j["mode"]')" cluster "mode"
assert_eq "$(json_get "$OUT" 'j["lossless"]')" False "a cluster is not lossless"
t='j["trials"][0]'
old=$(json_get "$OUT" "$t['old_primary']")
new=$(json_get "$OUT" "$t['new_primary']")
[[ -n $new && $old != "$new" && $new != None ]] || fail "the master did not move: $old -> $new"
assert_eq "$(json_get "$OUT" "isinstance($t['lost'], int) and isinstance($t['unknown'], int) and $t['rto_ms'] is not None")" True "rto and loss reported"
assert_eq "$(json_get "$OUT" "$t['acked'] > 100")" True "the probe wrote"
assert_eq "$(json_get "$OUT" "$t['heal']")" cluster "heal"
assert_eq "$(json_get "$OUT" "$t['healthy_after']")" True "healthy after the trial"
assert_eq "$(member_role "$old")" replica "the killed master rejoined as a replica"
assert_eq "$(member_role "$new")" master "the replica is master"
pass "cluster failover: $old -> $new, RTO $(json_get "$OUT" "$t['rto_ms']") ms, lost $(json_get "$OUT" "$t['lost']"), unknown $(json_get "$OUT" "$t['unknown']")"

expect_exit 0 statectl failover switchover --backend redis -o json
echo "switchover: $(cat "$OUT")" >&2
assert_eq "$(json_get "$OUT" 'j["old_primary"]')" "$new" "switchover old master"
assert_eq "$(json_get "$OUT" 'j["new_primary"]')" "$old" "switchover new master"
assert_eq "$(json_get "$OUT" 'j["lost"]')" 0 "switchover lost"
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy after switchover"
assert_eq "$(member_role "$old")" master "switched back"
pass "cluster switchover (CLUSTER FAILOVER) $new -> $old: 0 lost"

expect_exit 0 statectl capacity check --skip backup_age -o json
for name in redis_cluster redis_replicas; do
  assert_eq "$(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == '$name'][0]")" OK "$name"
done
assert_eq "$(json_get "$OUT" "len([c for c in j['checks'] if c['name'] == 'redis_memory'])")" 3 "redis_memory per master"
assert_eq "$(json_get "$OUT" "[c['metrics']['slots_ok'] for c in j['checks'] if c['name'] == 'redis_cluster'][0]")" 16384
kill -STOP "$(json_get "$TEST_DIR/stack/stack.json" "[m['pid'] for m in j['members'] if m['name'] == 'redis-5'][0]")"
on_exit "kill -CONT $(json_get "$TEST_DIR/stack/stack.json" "[m['pid'] for m in j['members'] if m['name'] == 'redis-5'][0]")"
wait_for 20 "! statectl capacity check --skip backup_age >/dev/null" || fail "capacity check stays OK with a replica stopped"
kill -CONT "$(json_get "$TEST_DIR/stack/stack.json" "[m['pid'] for m in j['members'] if m['name'] == 'redis-5'][0]")"
pass "capacity check: cluster state, slots and replicas per master OK; a stopped replica is reported"

expect_exit 0 statectl put before/backup 1
expect_exit 0 statectl backup create --backend redis -o json
id=$(json_get "$OUT" 'j["id"]')
assert_eq "$(grep -c "backup $id: BGSAVE on Redis 127.0.0.1:" "$ERR")" 3 "one BGSAVE per master"
expect_exit 0 statectl restore --backend redis --backup "$id" --to "$TEST_DIR/rdb"
[[ $(ls "$TEST_DIR/rdb" | grep -c '^dump-127.0.0.1-.*\.rdb$') == 3 ]] || fail "restore did not write the 3 RDB files: $(ls "$TEST_DIR/rdb")"
for f in "$TEST_DIR"/rdb/*.rdb; do [[ $(head -c 5 "$f") == REDIS ]] || fail "$f is not an RDB file"; done
pass "backup create --backend redis: one RDB per master; restore writes them back"

#!/usr/bin/env bash
# [redis] mode = "cluster" on the compose target, real engine (stand-in images,
# tests/docker/README.md): six redis-node-N services (3 masters x 1 replica) that deploy forms
# with redis-cli --cluster create inside redis-node-0; status shows each node's role; the state
# commands reach every master through the published ports (a MOVED redirect names the node's
# service, which statectl maps to its port); redis-cli -c inside the network; a second deploy
# keeps the cluster; the Redis password rotates on every node; destroy --purge leaves nothing.
# Its own ports (PORT_SLOT), so it never meets the other docker tests' projects.
PORT_SLOT=120
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/docker_lib.sh"

compose_stack '[redis]
mode = "cluster"
cluster_masters = 3
cluster_replicas = 1
[state]
backend = "redis"'
STATE="$TEST_DIR/.statectl"
dc() { docker-compose -p "$PROJECT" -f "$STATE/compose/docker-compose.yml" "$@"; }
# node N ARGS...: redis-cli inside redis-node-N (no redirects followed).
node() { dc exec -T "redis-node-$1" sh -c 'REDISCLI_AUTH=$(cat /run/secrets/redis) redis-cli "$@"' sh "${@:2}" | tr -d '\r'; }

# 1. deploy forms the cluster; every node healthy.
expect_exit 0 statectl deploy --wait --timeout 600s
assert_contains "$ERR" "forming a Redis Cluster of 3 masters with 1 replica each"
assert_contains "$OUT" "verified redis_cluster: ok"
assert_eq "$(dc config --services | grep -c '^redis-node-')" 6 "node services"
! dc config --services | grep -qE '^redis-(master|replica|sentinel)$' || fail "a Sentinel-mode Redis service in a cluster render"
assert_eq "$(node 0 CLUSTER INFO | grep -E '^cluster_(state|known_nodes|slots_assigned):' | tr '\n' ' ')" \
  "cluster_state:ok cluster_slots_assigned:16384 cluster_known_nodes:6 " "cluster info"
node 0 CLUSTER NODES >nodes.txt
assert_eq "$(grep -c ',redis-node-[0-5] ' nodes.txt)" 6 "nodes announcing their service name"
expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy"
assert_eq "$(json_get "$OUT" 'sorted(c["role"] for c in j["components"] if c["kind"] == "redis")')" \
  "['master', 'master', 'master', 'replica', 'replica', 'replica']" "node roles"
pass "deploy: six nodes formed into 3 masters x 1 replica, every slot assigned, status healthy with each node's role"

# 2. The state commands through the published ports, on keys of every master.
for i in $(seq 1 30); do expect_exit 0 statectl put "k/$i" "v$i"; done
for i in 1 7 19 30; do
  expect_exit 0 statectl get "k/$i"
  assert_eq "$(cat "$OUT")" "v$i" "get k/$i"
done
python3 -c 'for i in range(3000): print(f"spread/{i}\tv{i}")' >spread.tsv
expect_exit 0 statectl put --batch spread.tsv
expect_exit 0 statectl -o json keys --prefix spread/
assert_eq "$(json_get "$OUT" 'len(j["keys"])')" 3000 "keys after the batch"
masters_holding=0
for i in 0 1 2 3 4 5; do
  [[ $(node "$i" ROLE | head -1) == master ]] || continue
  [[ $(node "$i" DBSIZE) -gt 500 ]] && masters_holding=$((masters_holding + 1))
done
assert_eq "$masters_holding" 3 "masters holding over 500 keys each"
expect_exit 0 statectl put t/short v --ttl 60s
expect_exit 0 statectl ttl t/short
expect_exit 0 statectl del k/1 k/2
assert_eq "$(cat "$OUT")" "deleted 2"
expect_exit 0 statectl lock job --wait 30s -- sh -c 'echo "$STATECTL_LOCK_TOKEN"'
expect_exit 0 statectl redis-cli GET statectl:k/19
assert_eq "$(tr -d '\r' <"$OUT")" "v19" "redis-cli -c inside the network"
pass "get/put/del/ttl/keys/lock and a 3000-key batch over every master through the published ports; redis-cli -c"

# 3. A second deploy keeps the cluster as it is.
ids_before=$(for i in 0 1 2 3 4 5; do node "$i" CLUSTER MYID; done)
expect_exit 0 statectl deploy --wait --timeout 300s
assert_not_contains "$ERR" "forming a Redis Cluster"
assert_eq "$(for i in 0 1 2 3 4 5; do node "$i" CLUSTER MYID; done)" "$ids_before" "node ids after a second deploy"
expect_exit 0 statectl get spread/2999
assert_eq "$(cat "$OUT")" "v2999"
pass "a second deploy keeps the same nodes and data"

# 4. The Redis password rotates on every node; the state commands use the new one.
old=$(cat "$STATE/compose/secrets/redis")
expect_exit 0 statectl secrets rotate redis --apply
[[ $(cat "$STATE/compose/secrets/redis") != "$old" ]] || fail "the redis secret did not change"
! grep -qF -- "$old" "$OUT" "$ERR" || fail "the old password in the output"
assert_contains "$ERR" "verified: new connections to 6 Redis server(s) with the new password"
expect_exit 0 statectl get k/30
assert_eq "$(cat "$OUT")" "v30" "get after the rotation"
pass "secrets rotate redis --apply: every node takes the new password, state commands follow"

# 5. What does not run on a compose cluster yet says so.
expect_exit 2 statectl failover test --backend redis --trials 1
assert_contains "$ERR" "failover test of a Redis Cluster is supported on the local target only"
expect_exit 2 statectl scale redis --replicas 2
assert_contains "$ERR" "cannot resize a Redis Cluster on the compose target yet"
pass "failover test --backend redis and scale redis on a compose cluster are refused, exit 2"

expect_exit 0 statectl destroy --purge --timeout 30s
assert_eq "$(project_objects)" "" "objects left after destroy --purge"
pass "destroy --purge leaves no container, network or volume"

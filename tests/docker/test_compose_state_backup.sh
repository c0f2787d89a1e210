#!/usr/bin/env bash
# The state commands and backups of a compose stack on a real Docker engine (stand-in images,
# tests/docker/README.md): get/put/del/keys/lock/checkpoint on PostgreSQL (through the published
# PgBouncer port) and on Redis (the master found through the published Sentinels, also after a
# Sentinel failover to a replica), backup create/verify with the WAL the primary archives,
# restore into a local data directory up to a point in time, a Redis backup taken over the
# network. Its own project name and ports (PORT_SLOT), so it never meets test_compose_stack.sh.
PORT_SLOT=100
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/docker_lib.sh"

compose_stack "[backup]
repo = \"$TEST_DIR/repo\""
STATE="$TEST_DIR/.statectl"
dc() { docker-compose -p "$PROJECT" -f "$STATE/compose/docker-compose.yml" "$@"; }

expect_exit 0 statectl deploy --wait --timeout 300s
assert_contains "$OUT" "verified sentinel_master:"

# 1. The state commands on both backends, through the ports the render publishes.
for b in postgres redis; do
  expect_exit 0 statectl put --backend $b "cfg/$b/a" "value-a-$b"
  expect_exit 0 statectl put --backend $b "cfg/$b/b" "value-b-$b"
  expect_exit 0 statectl get --backend $b "cfg/$b/a"
  assert_eq "$(cat "$OUT")" "value-a-$b" "get --backend $b"
  expect_exit 0 statectl keys --backend $b --prefix "cfg/$b/"
  assert_eq "$(cat "$OUT" | tr '\n' ' ')" "cfg/$b/a cfg/$b/b " "keys --backend $b"
  expect_exit 0 statectl del --backend $b "cfg/$b/b"
  expect_exit 1 statectl get --backend $b "cfg/$b/b"
  expect_exit 0 statectl lock --backend $b "job-$b" --wait 30s -- sh -c 'echo "$STATECTL_LOCK_NAME $STATECTL_LOCK_TOKEN"'
  first=$(cut -d' ' -f2 "$OUT")
  assert_eq "$(cut -d' ' -f1 "$OUT")" "job-$b" "lock name seen by the command ($b)"
  expect_exit 7 statectl lock --backend $b "job-$b" --wait 30s -- sh -c 'echo "$STATECTL_LOCK_TOKEN"; exit 7'
  [[ $(cat "$OUT") -gt $first ]] || fail "the second fencing token $(cat "$OUT") is not above the first $first ($b)"
  expect_exit 0 statectl -o json checkpoint create --backend $b --name "before-$b"
  id=$(json_get "$OUT" 'j["id"]')
  expect_exit 0 statectl put --backend $b "cfg/$b/a" "changed"
  expect_exit 0 statectl put --backend $b "cfg/$b/c" "new"
  expect_exit 0 statectl checkpoint restore --backend $b "$id"
  expect_exit 0 statectl get --backend $b "cfg/$b/a"
  assert_eq "$(cat "$OUT")" "value-a-$b" "value after checkpoint restore ($b)"
  expect_exit 1 statectl get --backend $b "cfg/$b/c"
done
# The values are in the stack's servers (read inside the containers), not anywhere else.
assert_eq "$(dc exec -T postgres-primary psql -U postgres -tAc "SELECT convert_from(value, 'UTF8') FROM statectl_kv WHERE key = convert_to('cfg/postgres/a', 'UTF8')")" \
  "value-a-postgres" "the PostgreSQL value in the primary's table"
rget() { dc exec -T "$1" sh -c 'REDISCLI_AUTH=$(cat /run/secrets/redis) redis-cli --tls --cacert /run/secrets/ca.crt --user statectl-admin get "$0"' "$2"; }
assert_eq "$(rget redis-master statectl:cfg/redis/a)" "value-a-redis" "the Redis value on the master ([state] key_prefix statectl:)"
pass "get/put/del/keys/lock/checkpoint on both backends through the published PgBouncer, Sentinel and Redis ports"

# 2. Sentinel fails the master over to the replica: the state commands follow it to the
# replica's published port (Sentinel names it by its container address).
old_master=$(dc exec -T redis-sentinel redis-cli --tls --cacert /run/secrets/ca.crt -p 26379 sentinel get-master-addr-by-name mymaster | head -1 | tr -d '\r')
dc exec -T redis-sentinel redis-cli --tls --cacert /run/secrets/ca.crt -p 26379 sentinel failover mymaster >/dev/null
wait_for 60 '[[ $(dc exec -T redis-sentinel redis-cli --tls --cacert /run/secrets/ca.crt -p 26379 sentinel get-master-addr-by-name mymaster | head -1 | tr -d "\r") != "$old_master" ]]' ||
  fail "Sentinel did not fail over"
wait_for 30 '[[ $(dc exec -T redis-replica sh -c "REDISCLI_AUTH=\$(cat /run/secrets/redis) redis-cli --tls --cacert /run/secrets/ca.crt --user statectl-admin role" | head -1) == master ]]' ||
  fail "the replica did not become master"
wait_for 60 '"$STATECTL" put --backend redis after-failover yes' || fail "put after the failover: $(cat "$ERR")"
expect_exit 0 statectl get --backend redis after-failover
assert_eq "$(cat "$OUT")" yes "get after the failover"
expect_exit 0 statectl get --backend redis cfg/redis/a
assert_eq "$(cat "$OUT")" "value-a-redis" "a value written before the failover"
assert_eq "$(rget redis-replica statectl:after-failover)" yes "the value on the promoted replica"
pass "after a Sentinel failover the state commands reach the promoted replica through its published port"

# 3. A physical backup of the compose primary through its published port, with the WAL its
# archive_command spools into the state directory (imported into the repository by every backup
# command), verified, then restored into a local data directory up to a point in time.
SPOOL="$STATE/wal-spool"
assert_eq "$(stat -c '%a %u' "$SPOOL")" "700 999" "mode and owner of the WAL spool"
assert_eq "$(dc exec -T postgres-primary psql -U postgres -tAc 'SHOW archive_mode')" on "archive_mode on the primary"
expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -qc 'CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders VALUES (1, $$in the backup$$)'
expect_exit 0 statectl -o json backup create
B=$(json_get "$OUT" 'j["id"]')
[[ $B == *F ]] || fail "backup id $B is not a full backup"
[[ -f $TEST_DIR/repo/backups/$B/manifest.json ]] || fail "backup $B has no manifest in the repository"
expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -qc 'INSERT INTO orders VALUES (2, $$after the backup$$)'
T=$(statectl psql -- -tAc "SELECT clock_timestamp()")
expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -qc 'INSERT INTO orders VALUES (3, $$after the target$$)'
expect_exit 0 statectl psql -- -tAc 'SELECT pg_walfile_name(pg_switch_wal())'
SEG=$(cat "$OUT")
wait_for 60 '[[ -n $(ls "$SPOOL" "$TEST_DIR/repo/wal/${SEG:0:8}/" 2>/dev/null | grep "^$SEG") ]]' || fail "segment $SEG was neither spooled nor archived"
expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" 'j["ok"]')" True "backup verify"
ls "$TEST_DIR/repo/wal/${SEG:0:8}/" | grep -q "^$SEG-" || fail "segment $SEG is not in the repository after verify"
assert_eq "$(ls "$SPOOL" | grep -c '^0000' || true)" 0 "WAL segments left in the spool after an import"
pass "backup create and verify from the compose primary; its WAL reaches the repository through the spool"

RP=$(port $((PORT_SLOT + 90)))
expect_exit 0 statectl -o json restore --to "$TEST_DIR/restored" --target-time "$T" --start --port "$RP"
on_exit "runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D '$TEST_DIR/restored' -m immediate stop"
assert_eq "$(json_get "$OUT" 'j["backup"]')" "$B" "backup chosen by restore"
# The restored copy is a plain local server without the stack's certificates (a container gets
# them on its command line), so it is read with plain psql rather than the stack's TLS client.
expect_exit 0 /usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$RP" -U postgres -d postgres -tAc 'SELECT string_agg(id::text, $$,$$ ORDER BY id) FROM orders'
assert_eq "$(cat "$OUT")" "1,2" "rows of the restored copy (the target excludes row 3)"
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$TEST_DIR/restored" -m fast stop >/dev/null
expect_exit 2 statectl restore --to "$TEST_DIR/restored" --latest
pass "restore --target-time from the compose stack's backup into a local data directory: exactly the rows before the target"

# 4. A Redis snapshot of the compose master, fetched over the network (redis-cli --rdb through
# the published port of the master the Sentinels report), restored into a fresh local server.
expect_exit 0 statectl put --backend redis snap/key snapshot-value
expect_exit 0 statectl -o json backup create --backend redis
assert_eq "$(json_get "$OUT" 'j["type"]')" redis "redis backup type"
expect_exit 0 statectl restore --backend redis --to "$TEST_DIR/redis-restored"
RRP=$(port $((PORT_SLOT + 91)))
redis-server --port "$RRP" --bind 127.0.0.1 --dir "$TEST_DIR/redis-restored" --daemonize yes --pidfile "$TEST_DIR/redis-restored.pid" \
  --logfile "$TEST_DIR/redis-restored.log" --save '' --appendonly no >/dev/null
on_exit "redis-cli -p $RRP shutdown nosave"
wait_for 10 'redis-cli -p "$RRP" ping'

assert_eq "$(redis-cli -p "$RRP" get statectl:snap/key)" snapshot-value "the value in the restored snapshot"
assert_eq "$(redis-cli -p "$RRP" get statectl:cfg/redis/a)" value-a-redis "a value from before the failover in the restored snapshot"
pass "backup create --backend redis from compose, restored into a fresh Redis server"

# 5. Nothing deployed: the state commands say so instead of reaching another stack.
expect_exit 0 statectl destroy --purge --timeout 20s
expect_exit 2 statectl get --backend redis cfg/redis/a
assert_contains "$ERR" "the compose target has no stack to reach"
expect_exit 2 statectl get --backend postgres cfg/postgres/a
pass "after destroy --purge the state commands exit 2 naming the compose target"

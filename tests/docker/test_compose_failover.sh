#!/usr/bin/env bash
# failover on the compose target, real engine (stand-in images, tests/docker/README.md): bare
# PostgreSQL with a synchronous standby, 3 trials of `docker kill` of the primary's container
# under a write probe through the published PgBouncer port. statectl promotes the standby that
# received the most WAL through the engine and repoints PgBouncer; every trial loses no
# acknowledged write and ends with the deployed roles back (postgres-primary the primary,
# postgres-replica its synchronous standby). Redis with Sentinel: 3 trials kill the container of
# the master the Sentinels name (docker kill: the engine does not restart a killed container) under
# a probe that finds the master through the Sentinels' published ports (their container addresses
# mapped to the published loopback ports); the Sentinels, which monitor by IP, promote the replica;
# the killed container is started again and follows the new master; then a planned switchover
# (CLIENT PAUSE WRITE, SENTINEL FAILOVER) loses nothing. RTOs and losses are printed; Redis
# replication is asynchronous, so a failover's loss is reported, not asserted.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/docker_lib.sh"

compose_stack
STATE="$TEST_DIR/.statectl"
F="$STATE/compose/docker-compose.yml"
SECRETS="$STATE/compose/secrets"
dc() { docker-compose -p "$PROJECT" -f "$F" "$@"; }
primary_sql() { dc exec -T postgres-primary psql -X -U postgres -d postgres -tAc "$1" | tr -d '\r'; }
# role_of FILE NAME: the role `status -o json` (in FILE) gives the component NAME.
role_of() { json_get "$1" "[c['role'] for c in j['components'] if c['name'] == '$2'][0]"; }
bouncer_sql() {
  PGPASSWORD=$(cat "$SECRETS/postgres") PGCONNECT_TIMEOUT=5 PGSSLMODE=verify-full PGSSLROOTCERT="$SECRETS/ca.crt" psql -X -h 127.0.0.1 -p "$(port 20)" -U postgres -d postgres -qtAc "$1"
}

expect_exit 0 statectl deploy --wait --timeout 300s
expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -qc 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$before the failovers$$)'
pass "deployed: primary, synchronous standby, PgBouncer"

# 1. Three trials, each one healed back to the deployed roles.
expect_exit 0 statectl failover test --backend postgres --trials 3 --warmup 2s --settle 1s --timeout 120s -o json
cp "$OUT" "$TEST_DIR/three.json"
echo "trials: $(json_get "$OUT" '[(t["old_primary"], t["new_primary"], t["detect_ms"], t["promote_ms"], t["rto_ms"], t["acked"], t["lost"], t["unknown"], t["heal_ms"]) for t in j["trials"]]')" >&2
assert_eq "$(json_get "$OUT" 'j["target"]')" compose "target"
assert_eq "$(json_get "$OUT" 'j["mode"]')" bare "mode"
assert_eq "$(json_get "$OUT" 'j["lossless"]')" True "synchronous replication reported as lossless"
assert_eq "$(json_get "$OUT" 'len(j["trials"])')" 3 "trial count"
assert_eq "$(json_get "$OUT" 'all(t["read_back"] for t in j["trials"])')" True "every read-back answered"
assert_eq "$(json_get "$OUT" '[t["lost"] for t in j["trials"]]')" "[0, 0, 0]" "no acknowledged write lost"
assert_eq "$(json_get "$OUT" 'j["lost_total"]')" 0 "lost_total"
assert_eq "$(json_get "$OUT" 'all(t["acked"] > 100 for t in j["trials"])')" True "the probe wrote in every trial"
assert_eq "$(json_get "$OUT" 'all(t["rto_ms"] is not None and t["promote_ms"] is not None for t in j["trials"])')" True "every trial recovered"
assert_eq "$(json_get "$OUT" 'sorted(set(t["old_primary"] for t in j["trials"]))')" "['${PROJECT}_postgres-primary_1']" "each trial killed postgres-primary"
assert_eq "$(json_get "$OUT" 'sorted(set(t["new_primary"] for t in j["trials"]))')" "['${PROJECT}_postgres-replica_1']" "each trial promoted the standby"
assert_eq "$(json_get "$OUT" 'all(t["healthy_after"] for t in j["trials"])')" True "the roles came back after each trial"
assert_contains "$OUT" "postgres-primary_1 primary again with ${PROJECT}_postgres-replica_1's data"
assert_eq "$(json_get "$OUT" 'j["passed"]')" True "passed"
pass "3 trials: lost 0 each, RTO p50 $(json_get "$OUT" 'j["rto_ms_p50"]') ms, max $(json_get "$OUT" 'j["rto_ms_max"]') ms"

# 2. The deployed roles are back: the primary is postgres-primary with a synchronous standby,
# the data of before and of the probe is there, PgBouncer reaches the primary.
assert_eq "$(primary_sql 'SELECT pg_is_in_recovery()')" f "postgres-primary is the primary"
assert_eq "$(dc exec -T postgres-replica psql -X -U postgres -tAc 'SELECT pg_is_in_recovery()' | tr -d '\r')" t "postgres-replica is a standby"
wait_for 30 '[[ $(primary_sql "SELECT count(*) FROM pg_stat_replication WHERE state = '"'streaming'"' AND sync_state IN ('"'sync'"', '"'quorum'"')") == 1 ]]' ||
  fail "postgres-replica does not stream synchronously from postgres-primary"
assert_eq "$(primary_sql 'SHOW synchronous_standby_names')" "ANY 1 (*)" "synchronous_standby_names"
assert_eq "$(bouncer_sql 'SELECT v FROM kept')" "before the failovers" "data of before the trials, through PgBouncer"
assert_eq "$(bouncer_sql 'SELECT pg_is_in_recovery()')" f "PgBouncer reaches the primary"
assert_eq "$(bouncer_sql 'INSERT INTO kept VALUES ($$after$$) RETURNING v')" after "a write through PgBouncer"
wait_for 60 '"$STATECTL" status >/dev/null 2>&1' || { statectl status || true; cat "$OUT" >&2; fail "status is not healthy after the trials"; }
pass "postgres-primary is the primary again, postgres-replica its synchronous standby; status healthy; data kept"

# 3. A redeploy after the trials changes nothing and still verifies.
expect_exit 0 statectl deploy --wait --timeout 300s
assert_contains "$OUT" "verified postgres_streaming: 1/1"
pass "deploy after the failovers verifies"

# 4. Redis with Sentinel: each trial kills the master the previous one left (a former replica).
redis_role() { dc exec -T "$1" sh -c 'REDISCLI_AUTH="$(cat /tmp/redis.pass)" redis-cli --no-auth-warning --tls --cacert /run/secrets/ca.crt --user statectl-admin info replication' | tr -d '\r' | sed -n 's/^role://p'; }
M="${PROJECT}_redis-master_1"
R="${PROJECT}_redis-replica_1"
failover_trials redis 3 120s sentinel False
assert_eq "$(json_get "$OUT" '[(t["old_primary"], t["new_primary"]) for t in j["trials"]]')" "[('$M', '$R'), ('$R', '$M'), ('$M', '$R')]" \
  "each trial killed the master the Sentinels named and they promoted the other server"
assert_eq "$(json_get "$OUT" 'all(t["fault"].startswith("docker kill --signal KILL ") for t in j["trials"])')" True "the fault is docker kill"
assert_eq "$(json_get "$OUT" 'all(t["read_back"] and isinstance(t["lost"], int) and t["acked"] > 50 and t["rto_ms"] is not None for t in j["trials"])')" True \
  "every trial wrote, recovered and read back"
assert_eq "$(json_get "$OUT" 'all(t["healthy_after"] and t["heal"].startswith("restarted ") for t in j["trials"])')" True "each killed container came back"
assert_eq "$(json_get "$OUT" 'j["passed"]')" True "passed"
assert_eq "$(redis_role redis-replica)" master "redis-replica is the master after the third trial"
assert_eq "$(redis_role redis-master)" slave "redis-master follows it"
wait_for 60 '"$STATECTL" status -o json >"$TEST_DIR/status.json" 2>/dev/null' || { statectl status || true; cat "$OUT" >&2; fail "status is not healthy after the Redis trials"; }
assert_eq "$(role_of "$TEST_DIR/status.json" "$R")/$(role_of "$TEST_DIR/status.json" "$M")" master/replica "status shows the roles the Redis servers report"
pass "redis: 3 failovers through Sentinel, RTO $(json_get "$TEST_DIR/redis-trials.json" '[t["rto_ms"] for t in j["trials"]]') ms, lost $(json_get "$TEST_DIR/redis-trials.json" '[t["lost"] for t in j["trials"]]'); each killed container back as a replica"

expect_exit 0 statectl failover switchover --backend redis --timeout 60s -o json
cp "$OUT" "$TEST_DIR/redis-switchover.json"
echo "redis switchover: $(json_get "$OUT" '(j["old_primary"], j["new_primary"], j["pause_ms"], j["acked"], j["lost"])')" >&2
assert_eq "$(json_get "$OUT" 'j["old_primary"]')" "$R" "old master"
assert_eq "$(json_get "$OUT" 'j["new_primary"]')" "$M" "new master"
assert_eq "$(json_get "$OUT" 'j["lost"]')" 0 "lost"
assert_eq "$(json_get "$OUT" 'j["acked"] > 0')" True "the probe wrote during the switchover"
assert_eq "$(json_get "$OUT" 'j["healthy"] and j["passed"]')" True "healthy and passed"
assert_eq "$(redis_role redis-master)" master "redis-master is the master again"
assert_eq "$(redis_role redis-replica)" slave "redis-replica follows it"
"$STATECTL" status -o json >"$TEST_DIR/status.json" 2>/dev/null || true
assert_eq "$(role_of "$TEST_DIR/status.json" "$M")/$(role_of "$TEST_DIR/status.json" "$R")" master/replica "status after the Redis switchover"
views=$(for i in 0 1 2; do redis-cli --tls --cacert "$SECRETS/ca.crt" -p "$(port $((50 + i)))" --raw SENTINEL get-master-addr-by-name mymaster | head -1; done | sort -u)
assert_eq "$views" "$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$M")" "every Sentinel names redis-master by its address"
expect_exit 2 statectl failover switchover --backend redis --to nosuch
assert_contains "$ERR" "statectl: error: no Redis member 'nosuch' in the compose stack"
pass "redis switchover $R -> $M: pause $(json_get "$TEST_DIR/redis-switchover.json" 'j["pause_ms"]') ms, lost 0; all Sentinels agree"

# 4b. Bare PostgreSQL switchover: PgBouncer PAUSE, postgres-replica_1 replays everything and is
# promoted, PgBouncer points at it, postgres-primary_1 comes back as its standby (no rewind); the
# role is recorded, so status, psql, state commands and a restarted PgBouncer follow it; then the
# same switchover back to postgres-primary.
P="${PROJECT}_postgres-primary_1"
S="${PROJECT}_postgres-replica_1"
in_recovery() { docker exec "$1" psql -X -U postgres -d postgres -tAc 'SELECT pg_is_in_recovery()' | tr -d '\r'; }
expect_exit 0 statectl put switchover-key "written before the switchover"
expect_exit 2 statectl failover switchover --backend postgres --to nosuch
assert_contains "$ERR" "statectl: error: no PostgreSQL container 'nosuch' in the compose stack"
expect_exit 2 statectl failover switchover --backend postgres --to "$P"
assert_contains "$ERR" "statectl: error: $P is already the primary"
expect_exit 0 statectl failover switchover --backend postgres --timeout 120s -o json
cp "$OUT" "$TEST_DIR/pg-switchover-1.json"
echo "postgres switchover: $(json_get "$OUT" '(j["old_primary"], j["new_primary"], j["pause_ms"], j["took_ms"], j["acked"], j["lost"], j["unknown"], j["rejoin"])')" >&2
assert_eq "$(json_get "$OUT" '(j["mode"], j["old_primary"], j["new_primary"])')" "('bare', '$P', '$S')" "mode, old and new primary"
assert_eq "$(json_get "$OUT" '(j["lost"], j["acked"] > 0, j["healthy"], j["passed"])')" "(0, True, True, True)" "lost, probe wrote, healthy, passed"
assert_contains "$OUT" "$P restarted as a standby of $S"
assert_eq "$(in_recovery "$S")" f "$S is the primary"
assert_eq "$(in_recovery "$P")" t "$P is a standby"
assert_eq "$(cat "$STATE/compose-primary")" "$S" "the new primary is recorded"
wait_for 60 '"$STATECTL" status -o json >"$TEST_DIR/status.json" 2>/dev/null' || { statectl status || true; fail "status is not healthy after the switchover"; }
assert_eq "$(role_of "$TEST_DIR/status.json" "$S")/$(role_of "$TEST_DIR/status.json" "$P")" primary/replica "status shows the new roles"
assert_eq "$(json_get "$TEST_DIR/status.json" 'j["replication"]["streaming"]')" 1 "status: one standby streams from the new primary"
wait_for 30 '[[ $(docker exec "$S" psql -X -U postgres -tAc "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('"'sync'"', '"'quorum'"')" | tr -d "\r") == 1 ]]' ||
  fail "$P does not stream synchronously from $S"
expect_exit 0 statectl get switchover-key
assert_eq "$(cat "$OUT")" "written before the switchover" "a key written before is readable after"
expect_exit 0 statectl put switchover-after "written after"
assert_eq "$(bouncer_sql 'SELECT v FROM kept WHERE v = $$before the failovers$$')" "before the failovers" "older data through PgBouncer"
expect_exit 0 statectl psql -- -X -tAc 'SELECT pg_is_in_recovery()'
assert_eq "$(tr -d '\r' <"$OUT")" f "statectl psql reaches the new primary"
expect_exit 0 statectl psql --replica -- -X -tAc 'SELECT pg_is_in_recovery()'
assert_eq "$(tr -d '\r' <"$OUT")" t "statectl psql --replica reaches the old primary, a standby now"
expect_exit 2 statectl deploy --wait --timeout 300s
assert_contains "$ERR" "statectl: error: deploy needs postgres-primary to be the primary, but $S holds the role since a switchover"
expect_exit 2 statectl failover test --backend postgres --warmup 1s
assert_contains "$ERR" "failover test --backend postgres needs postgres-primary to be the primary"
expect_exit 2 statectl destroy
assert_contains "$ERR" "destroy without --purge needs postgres-primary to be the primary"
# A restarted PgBouncer starts from the applied pgbouncer.ini, which names the new primary.
docker restart "$(dc ps -q pgbouncer)" >/dev/null
wait_for 30 '[[ $(bouncer_sql "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]' || fail "a restarted PgBouncer does not reach the new primary"
pass "postgres switchover $P -> $S: pause $(json_get "$TEST_DIR/pg-switchover-1.json" 'j["pause_ms"]') ms, lost 0; status, psql, state commands and a restarted PgBouncer follow the new primary"

expect_exit 0 statectl failover switchover --backend postgres --to postgres-primary --timeout 120s -o json
cp "$OUT" "$TEST_DIR/pg-switchover-2.json"
echo "postgres switchover back: $(json_get "$OUT" '(j["old_primary"], j["new_primary"], j["pause_ms"], j["took_ms"], j["acked"], j["lost"], j["unknown"])')" >&2
assert_eq "$(json_get "$OUT" '(j["old_primary"], j["new_primary"], j["lost"], j["acked"] > 0, j["healthy"], j["passed"])')" "('$S', '$P', 0, True, True, True)" \
  "the switchover back"
assert_eq "$(in_recovery "$P")/$(in_recovery "$S")" f/t "$P is the primary again, $S its standby"
assert_eq "$([[ -e $STATE/compose-primary ]] && echo recorded || echo none)" none "nothing recorded once postgres-primary is the primary again"
expect_exit 0 statectl get switchover-after
assert_eq "$(cat "$OUT")" "written after" "the key written between the switchovers"
wait_for 60 '"$STATECTL" status -o json >"$TEST_DIR/status.json" 2>/dev/null' || { statectl status || true; fail "status is not healthy after the switchover back"; }
assert_eq "$(role_of "$TEST_DIR/status.json" "$P")/$(role_of "$TEST_DIR/status.json" "$S")" primary/replica "status shows the deployed roles"
assert_eq "$(primary_sql 'SHOW synchronous_standby_names')" "ANY 1 (*)" "synchronous_standby_names on postgres-primary"
pass "postgres switchover back $S -> $P: pause $(json_get "$TEST_DIR/pg-switchover-2.json" 'j["pause_ms"]') ms, lost 0; the deployed roles again"

# 5. --no-heal: the killed primary stays down and the report says so; the read-back still
# answers (PgBouncer points at the promoted standby), so lost is a count.
expect_exit 1 statectl failover test --backend postgres --no-heal --warmup 1s --settle 500ms --timeout 60s -o json
assert_eq "$(json_get "$OUT" 'j["trials"][0]["lost"]')" 0 "lost with --no-heal"
assert_eq "$(json_get "$OUT" 'j["trials"][0]["heal"]')" skipped "heal"
assert_contains "$OUT" "--no-heal: ${PROJECT}_postgres-primary_1 stays down and ${PROJECT}_postgres-replica_1 is the primary"
assert_eq "$(docker inspect --format '{{.State.Running}}' "${PROJECT}_postgres-primary_1")" false "the killed primary stays down"
assert_eq "$(bouncer_sql 'SELECT v FROM kept ORDER BY v LIMIT 1')" after "PgBouncer reaches the promoted standby"
pass "--no-heal leaves the killed primary down, reports it, and exits 1"

# 6. destroy --purge leaves nothing of the project: no container (the killed one included), no
# network, no volume (the one-off containers of the restores were --rm and mounted no new one).
expect_exit 0 statectl destroy --purge --timeout 20s
assert_eq "$(project_objects)" "" "objects left by destroy --purge after the failovers"
pass "destroy --purge after the failovers leaves no container, network or volume"

#!/usr/bin/env bash
# failover on the compose target, real engine (stand-in images, tests/docker/README.md): bare
# PostgreSQL with a synchronous standby, 3 trials of `docker kill` of the primary's container
# under a write probe through the published PgBouncer port. statectl promotes the standby that
# received the most WAL through the engine and repoints PgBouncer; every trial loses no
# acknowledged write and ends with the deployed roles back (postgres-primary the primary,
# postgres-replica its synchronous standby). RTOs are printed, never asserted.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/docker_lib.sh"

compose_stack
STATE="$TEST_DIR/.statectl"
F="$STATE/compose/docker-compose.yml"
SECRETS="$STATE/compose/secrets"
dc() { docker-compose -p "$PROJECT" -f "$F" "$@"; }
primary_sql() { dc exec -T postgres-primary psql -X -U postgres -d postgres -tAc "$1" | tr -d '\r'; }
bouncer_sql() {
  PGPASSWORD=$(cat "$SECRETS/postgres") PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -p "$(port 20)" -U postgres -d postgres -qtAc "$1"
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

# 4. --no-heal: the killed primary stays down and the report says so; the read-back still
# answers (PgBouncer points at the promoted standby), so lost is a count.
expect_exit 1 statectl failover test --backend postgres --no-heal --warmup 1s --settle 500ms --timeout 60s -o json
assert_eq "$(json_get "$OUT" 'j["trials"][0]["lost"]')" 0 "lost with --no-heal"
assert_eq "$(json_get "$OUT" 'j["trials"][0]["heal"]')" skipped "heal"
assert_contains "$OUT" "--no-heal: ${PROJECT}_postgres-primary_1 stays down and ${PROJECT}_postgres-replica_1 is the primary"
assert_eq "$(docker inspect --format '{{.State.Running}}' "${PROJECT}_postgres-primary_1")" false "the killed primary stays down"
assert_eq "$(bouncer_sql 'SELECT v FROM kept ORDER BY v LIMIT 1')" after "PgBouncer reaches the promoted standby"
pass "--no-heal leaves the killed primary down, reports it, and exits 1"

# 5. destroy --purge leaves nothing of the project: no container (the killed one included), no
# network, no volume (the one-off containers of the restores were --rm and mounted no new one).
expect_exit 0 statectl destroy --purge --timeout 20s
assert_eq "$(project_objects)" "" "objects left by destroy --purge after the failovers"
pass "destroy --purge after the failovers leaves no container, network or volume"

#!/usr/bin/env bash
# failover on bare PostgreSQL with synchronous replication: 3 trials of SIGKILL to the primary's
# postmaster under a 200/s write probe through PgBouncer; every trial loses no acknowledged
# write, recovers (RTO measured, not asserted), and leaves `status` healthy with the old primary back as a
# standby. --max-rto 1ms exits 1 with the reason; switchover swaps the roles without loss.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/failover_lib.sh"
failover_require

cd "$TEST_DIR"
expect_exit 2 statectl failover test
assert_contains "$ERR" "--backend"
expect_exit 2 statectl failover test --backend postgres --max-rto soon
assert_contains "$ERR" "invalid --max-rto"
pass "usage errors exit 2"

failover_stack
expect_exit 0 statectl failover test --backend postgres --trials 3 --max-rto 5s --warmup 1s --settle 1s -o json
cp "$OUT" "$TEST_DIR/three.json"
echo "trials: $(json_get "$OUT" '[(t["old_primary"], t["new_primary"], t["detect_ms"], t["promote_ms"], t["rto_ms"], t["acked"], t["lost"], t["unknown"]) for t in j["trials"]]')" >&2
assert_eq "$(json_get "$OUT" 'j["backend"]')" postgres "backend"
assert_eq "$(json_get "$OUT" 'j["target"]')" local "target"
assert_eq "$(json_get "$OUT" 'j["lossless"]')" True "synchronous replication reported as lossless"
assert_eq "$(json_get "$OUT" 'len(j["trials"])')" 3 "trial count"
assert_eq "$(json_get "$OUT" 'all(t["lost"] == 0 for t in j["trials"])')" True "no acknowledged write lost"
assert_eq "$(json_get "$OUT" 'all(t["acked"] > 200 for t in j["trials"])')" True "the probe wrote in every trial"
assert_eq "$(json_get "$OUT" 'all(t["rto_ms"] > 0 for t in j["trials"])')" True "RTO measured in every trial (timings are reported, never asserted)"
assert_eq "$(json_get "$OUT" 'all(t["detect_ms"] is not None and t["promote_ms"] <= t["rto_ms"] for t in j["trials"])')" True "detect <= promote <= rto"
assert_eq "$(json_get "$OUT" 'all(t["old_primary"] != t["new_primary"] for t in j["trials"])')" True "the primary moved"
assert_eq "$(json_get "$OUT" 'all(t["healthy_after"] for t in j["trials"])')" True "healthy after each trial"
assert_eq "$(json_get "$OUT" '[t["heal"] for t in j["trials"]]')" "['pg_rewind', 'pg_rewind', 'pg_rewind']" "old primaries rejoin with pg_rewind"
assert_eq "$(json_get "$OUT" 'j["trials"][1]["old_primary"] == j["trials"][0]["new_primary"]')" True "trial 2 killed the primary trial 1 made"
assert_eq "$(json_get "$OUT" 'j["rto_ms_max"] == max(t["rto_ms"] for t in j["trials"])')" True "rto_ms_max"
assert_eq "$(json_get "$OUT" 'j["lost_total"]')" 0 "lost_total"
assert_eq "$(json_get "$OUT" 'j["passed"]')" True "passed"
pass "3 trials: lost 0, RTO p50 $(json_get "$OUT" 'j["rto_ms_p50"]') ms, max $(json_get "$OUT" 'j["rto_ms_max"]') ms"

last_old=$(json_get "$TEST_DIR/three.json" 'j["trials"][2]["old_primary"]')
last_new=$(json_get "$TEST_DIR/three.json" 'j["trials"][2]["new_primary"]')
expect_exit 0 statectl status
assert_eq "$(member_role "$last_old")" replica "old primary is back as a replica"
assert_eq "$(member_role "$last_new")" primary "new primary"
streaming() { statectl psql --direct -- -tAc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum')" 2>/dev/null | tr -d '[:space:]'; }
wait_for 20 '[[ $(streaming) == 1 ]]' || fail "the rejoined standby is not a synchronous streaming standby"
# Clients keep working through PgBouncer (the state file moved the primary for everyone).
expect_exit 0 statectl psql -- -tAc "SELECT count(*) FROM statectl_failover_probe"
pass "status healthy; $last_old streams synchronously from $last_new"

expect_exit 1 statectl failover test --backend postgres --max-rto 1ms --warmup 1s --settle 500ms
assert_contains "$OUT" "FAILED: trial 1: RTO"
assert_contains "$ERR" "exceeds --max-rto 1 ms"
expect_exit 0 statectl status
pass "--max-rto 1ms exits 1 with the reason, and the stack still heals"

# The last RTO and loss for the node exporter's textfile collector, linted by promtool.
expect_exit 0 statectl failover test --backend postgres --warmup 1s --settle 500ms --format prometheus
assert_contains "$OUT" 'statectl_failover_test_passed{backend="postgres",mode="bare",target="local"} 1'
assert_contains "$OUT" 'statectl_failover_test_lost_writes{backend="postgres",mode="bare",target="local"} 0'
assert_contains "$OUT" 'statectl_failover_test_rto_seconds{backend="postgres",mode="bare",target="local"} '
if command -v promtool >/dev/null; then
  promtool check metrics <"$OUT" >promtool.out 2>&1 || fail "promtool check metrics: $(cat promtool.out)"
fi
expect_exit 0 statectl status
pass "failover test --format prometheus: last RTO and 0 lost; promtool accepts it"

before=$(statectl status -o json | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)["components"] if c["kind"] == "postgres" and c["role"] == "primary"][0])')
expect_exit 0 statectl failover switchover -o json
echo "switchover: $(cat "$OUT")" >&2
assert_eq "$(json_get "$OUT" 'j["old_primary"]')" "$before" "switchover old primary"
after=$(json_get "$OUT" 'j["new_primary"]')
pause=$(json_get "$OUT" 'j["pause_ms"]')
[[ $after != "$before" ]] || fail "switchover did not change the primary"
assert_eq "$(json_get "$OUT" 'j["lost"]')" 0 "switchover lost"
assert_eq "$(json_get "$OUT" 'j["acked"] > 0')" True "switchover probe wrote"
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy after switchover"
assert_eq "$(member_role "$before")" replica "old primary is a replica after switchover"
assert_eq "$(member_role "$after")" primary "new primary after switchover"
expect_exit 0 statectl status
pass "switchover $before -> $after: 0 lost, paused $pause ms, healthy"

expect_exit 2 statectl failover promote --member nosuch
assert_contains "$ERR" "no PostgreSQL member 'nosuch'"
pass "promote of an unknown member exits 2"

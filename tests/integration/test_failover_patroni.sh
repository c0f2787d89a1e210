#!/usr/bin/env bash
# failover in Patroni mode (ttl 10, loop_wait 2, retry_timeout 4): SIGKILL of the leader's
# Patroni and postmaster under a write probe through PgBouncer -> HAProxy; Patroni elects a new
# leader, no acknowledged write is lost (synchronous_mode), RTO under ttl + 10 s, and the old
# leader rejoins by itself once restarted. switchover goes through Patroni's REST API (Patroni
# picks the synchronous standby).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/failover_lib.sh"
failover_require patroni etcd haproxy start-stop-daemon
failover_stack "$(printf '[postgres]\nha = "patroni"\nttl = 10\nloop_wait = 2\nretry_timeout = 4\n')"

expect_exit 0 statectl failover test --backend postgres --warmup 1s --settle 1s --max-rto 20s --timeout 90s -o json
cp "$OUT" "$TEST_DIR/trial.json"
echo "trial: $(json_get "$OUT" 'j["trials"][0]')" >&2
t='j["trials"][0]'
assert_eq "$(json_get "$OUT" 'j["mode"]')" patroni "mode"
assert_eq "$(json_get "$OUT" 'j["lossless"]')" True "synchronous_mode reported as lossless"
assert_eq "$(json_get "$OUT" "$t['lost']")" 0 "lost"
assert_eq "$(json_get "$OUT" "0 <= $t['rto_ms'] < 20000")" True "RTO under ttl + 10 s"
assert_eq "$(json_get "$OUT" "$t['old_primary'] != $t['new_primary']")" True "leader moved"
assert_eq "$(json_get "$OUT" "$t['healthy_after']")" True "healthy after"
assert_eq "$(json_get "$OUT" 'j["passed"]')" True "passed"
old=$(json_get "$OUT" "$t['old_primary']")
rto=$(json_get "$OUT" "$t['rto_ms']")
lost=$(json_get "$OUT" "$t['lost']")
expect_exit 0 statectl status
assert_eq "$(member_role "$old")" replica "old leader rejoined as a replica"
pass "patroni: RTO $rto ms, lost 0, $old rejoined"

leader=$(json_get "$TEST_DIR/trial.json" "$t['new_primary']")
# With synchronous_mode Patroni accepts only the synchronous standby as candidate: let it choose.
expect_exit 0 statectl failover switchover -o json
echo "switchover: $(cat "$OUT")" >&2
assert_eq "$(json_get "$OUT" 'j["old_primary"]')" "$leader" "switchover old leader"
next=$(json_get "$OUT" 'j["new_primary"]')
[[ $next != "$leader" ]] || fail "switchover kept the leader"
assert_eq "$(json_get "$OUT" 'j["lost"]')" 0 "switchover lost"
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy"
assert_eq "$(member_role "$next")" leader "new leader in status"
pass "patroni switchover $leader -> $next: 0 lost"

#!/usr/bin/env bash
# Issue 20, item 2: `secrets rotate --apply` is a journaled two-phase change. statectl is
# SIGKILLed (test hook STATECTL_TEST_KILL_AT) between the store write and ALTER ROLE / CONFIG SET:
# statectl still logs in (it tries the journal's values), and the next status, deploy or rotate
# settles the rotation so the store and the servers agree. With the stack stopped, a failed
# rotate --apply keeps the value the servers have.
source "$(dirname "$0")/lib.sh"

start_stack
pass "deploy brings the stack up"
psql_as() { # USER PASSWORD SQL
  PGPASSWORD=$2 PGCONNECT_TIMEOUT=5 pgsql -X -h 127.0.0.1 -p "$(port 0)" -U "$1" -d postgres -tAc "$3" 2>&1
}
journal() { ls -A stack/secrets/.journal 2>/dev/null | tr '\n' ' '; }
expect_exit 0 statectl put --backend postgres k/1 v1

# PostgreSQL: killed after the store write, before ALTER ROLE.
old=$(statectl secrets get postgres)
STATECTL_TEST_KILL_AT=rotate-after-store-write run statectl secrets rotate postgres --apply
assert_eq "$RC" 137 "exit code of the killed rotation (SIGKILL)"
assert_eq "$(journal)" "postgres " "journal after the kill"
[[ $(statectl secrets get postgres) != "$old" ]] || fail "the store write did not happen before the kill (the test proves nothing)"
[[ $(psql_as postgres "$old" "SELECT 1") == 1 ]] || fail "the server does not have the old password any more"
# Logins try the journal's values: the state commands still work.
expect_exit 0 statectl get --backend postgres k/1
assert_eq "$(cat "$OUT")" v1 "get during an interrupted rotation"
# status settles it: the server never took the new value, so it is rolled back.
expect_exit 0 statectl status
assert_contains "$ERR" "rolling back the interrupted rotation of 'postgres'"
assert_eq "$(statectl secrets get postgres)" "$old" "store after the rollback"
assert_eq "$(journal)" "" "journal after status"
expect_exit 0 statectl psql -- -tAc "SELECT 1"
pass "postgres: killed between the store write and ALTER ROLE; get still works, status rolls it back"

# Killed again; this time the re-run of rotate settles it and rotates.
STATECTL_TEST_KILL_AT=rotate-after-store-write run statectl secrets rotate postgres --apply
assert_eq "$RC" 137 "exit code of the second killed rotation"
expect_exit 0 statectl secrets rotate postgres --apply -o json
assert_eq "$(json_get "$OUT" 'j["verified"]')" True "re-run verified"
new=$(statectl secrets get postgres)
[[ $new != "$old" ]] || fail "the re-run did not rotate"
[[ $(psql_as postgres "$new" "SELECT 1") == 1 ]] || fail "the new password does not work"
out=$(psql_as postgres "$old" "SELECT 1") && fail "the old password still works"
[[ $out == *"password authentication failed"* ]] || fail "unexpected error for the old password: $out"
assert_eq "$(journal)" "" "journal after the re-run"
pass "postgres: a re-run of rotate --apply after a kill settles the journal and rotates"

# Redis: killed after the store write, before CONFIG SET; deploy settles it.
rold=$(statectl secrets get redis)
STATECTL_TEST_KILL_AT=rotate-after-store-write run statectl secrets rotate redis --apply
assert_eq "$RC" 137 "exit code of the killed redis rotation"
expect_exit 0 statectl put --backend redis k/2 v2
expect_exit 0 statectl deploy
assert_contains "$ERR" "rolling back the interrupted rotation of 'redis'"
assert_eq "$(statectl secrets get redis)" "$rold" "redis password after deploy"
expect_exit 0 statectl redis-cli -- PING
assert_contains "$OUT" PONG
assert_eq "$(journal)" "" "journal after deploy"
pass "redis: killed between the store write and CONFIG SET; put still works, deploy rolls it back"

# The stack stopped: rotate --apply fails (exit 3) and keeps the value the servers have.
app=$(statectl secrets get app)
expect_exit 0 statectl destroy
expect_exit 3 statectl secrets rotate app --apply
assert_eq "$(statectl secrets get app)" "$app" "app password after a rotation against a stopped stack"
expect_exit 0 statectl deploy
# The role's password on the primary (PgBouncer takes only app's client certificate on a TLS
# stack, and logs in to the primary with this password itself: the state commands check that).
[[ $(PGPASSWORD=$app pgsql -X -h 127.0.0.1 -p "$(port 0)" -U app -d postgres -tAc "SELECT current_user" 2>&1) == app ]] ||
  fail "app cannot log in with the stored password after the stack came back"
expect_exit 0 statectl put after/restart ok
assert_eq "$(statectl get after/restart)" ok "a state command through PgBouncer after the stack came back"
assert_eq "$(journal)" "" "journal after the stack came back"
pass "a rotation against a stopped stack exits 3 and keeps the value the servers have"

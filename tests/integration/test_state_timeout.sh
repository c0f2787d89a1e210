#!/usr/bin/env bash
# Issue 20, item 10: a call that outlives [state] timeout says which setting to raise, on both
# backends, for single calls, batches and checkpoints; with the setting raised, a 1M-key batch and
# a checkpoint of it go through. The servers are held busy on purpose (a table lock on
# PostgreSQL, CLIENT PAUSE on Redis), so the timeout is hit whatever the machine's speed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/state_lib.sh"
cd "$TEST_DIR"
STATECTL_STATE_OWN_SERVERS=1 start_state_servers
pg_port=$(port 1) redis_port=$(port 3)

python3 - <<'PY'
with open("small.tsv", "w") as f:
    for i in range(1000):
        f.write(f"s/{i:04d}\tv{i}\n")
with open("million.tsv", "w") as f:
    for i in range(1000000):
        f.write(f"m/{i:07d}\tvalue-{i}\n")
PY

# assert_timeout_message BACKEND: the error of the last run names the setting and its env var.
assert_timeout_message() {
  assert_contains "$ERR" "statectl: error: $1 call timed out at"
  assert_contains "$ERR" "no answer within [state] timeout 1s"
  assert_contains "$ERR" "hint: raise [state] timeout in the config (or STATECTL_STATE_TIMEOUT=5m for one run)"
}

# PostgreSQL: another session holds an exclusive lock on the table while statectl writes.
expect_exit 0 statectl put --backend postgres t/first v
psql -h 127.0.0.1 -p "$pg_port" -U postgres -qAtc 'BEGIN; LOCK TABLE statectl_kv IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT' >/dev/null 2>&1 &
locker=$!
on_exit "kill $locker"
wait_until 30 sh -c "psql -h 127.0.0.1 -p $pg_port -U postgres -qAtc \"SELECT 1 FROM pg_locks WHERE relation = 'statectl_kv'::regclass AND mode = 'AccessExclusiveLock' AND granted\" | grep -qx 1" ||
  fail "the table lock was not taken"
export STATECTL_STATE_TIMEOUT=1s
expect_exit 3 statectl put --backend postgres t/second v
assert_timeout_message postgresql
expect_exit 3 statectl put --backend postgres --batch million.tsv
assert_timeout_message postgresql
expect_exit 3 statectl checkpoint create --backend postgres
assert_timeout_message postgresql
pass "postgres: a put, a 1M-key batch and a checkpoint blocked past [state] timeout exit 3 naming the setting"
unset STATECTL_STATE_TIMEOUT
psql -h 127.0.0.1 -p "$pg_port" -U postgres -qAtc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$locker" 2>/dev/null || true
# The cancelled statements rolled back: nothing of them landed.
expect_exit 1 statectl get --backend postgres t/second
expect_exit 0 statectl keys --backend postgres --prefix m/ --limit 1
[[ ! -s $OUT ]] || fail "postgres: the timed-out batch wrote keys"

# Redis: writes paused on the master.
redis-cli -p "$redis_port" CLIENT PAUSE 600000 WRITE >/dev/null
on_exit "redis-cli -p $redis_port CLIENT UNPAUSE"
export STATECTL_STATE_TIMEOUT=1s
expect_exit 3 statectl put --backend redis t/second v
assert_timeout_message redis
expect_exit 3 statectl put --backend redis --batch small.tsv
assert_contains "$ERR" "statectl: error: redis batch timed out at"
assert_contains "$ERR" "hint: raise [state] timeout in the config (or STATECTL_STATE_TIMEOUT=5m for one run)"
expect_exit 3 statectl checkpoint create --backend redis
assert_timeout_message redis
pass "redis: a put, a batch and a checkpoint paused past [state] timeout exit 3 naming the setting"
# (Redis runs what a paused client had sent once the pause ends, even after the client gave up:
# a timed-out write there is of unknown outcome, as the README says.)
redis-cli -p "$redis_port" CLIENT UNPAUSE >/dev/null
unset STATECTL_STATE_TIMEOUT

# With the setting raised, 1M keys go through.
for b in postgres redis; do
  STATECTL_STATE_TIMEOUT=30m expect_exit 0 statectl put --backend "$b" --batch million.tsv
  assert_eq "$(cat "$OUT")" "written 1000000, errors 0"
  assert_eq "$(statectl get --backend "$b" m/0999999)" value-999999 "$b: last key of the 1M batch"
done
STATECTL_STATE_TIMEOUT=30m expect_exit 0 statectl checkpoint create --backend postgres -o json
assert_eq "$(json_get "$OUT" 'j["keys"]')" 1000001 "checkpoint of the 1M keys"
pass "with [state] timeout raised, a 1M-key batch lands on both backends and PostgreSQL checkpoints it"

#!/usr/bin/env bash
# capacity plan/check/bench against one real local stack: a healthy stack checks OK, thresholds
# turn checks WARNING/CRITICAL, a stopped standby is CRITICAL, stopped Redis is UNKNOWN (exit 3),
# and bench runs 3 s on each backend without errors.
source "$(dirname "$0")/lib.sh"
cd "$TEST_DIR"

# plan needs no servers.
expect_exit 0 statectl capacity plan --ram 16GB --cpus 4 --storage ssd --workload web -o json
assert_eq "$(json_get "$OUT" 'j["postgresql"]["shared_buffers"]')" 4GB "plan shared_buffers"
assert_eq "$(json_get "$OUT" 'j["tier"]["name"]')" medium "plan tier"
expect_exit 0 statectl capacity plan --ram 4GB --cpus 2 --storage hdd --workload dw --format postgresql.conf
assert_contains "$OUT" "random_page_cost = 4"
assert_contains "$OUT" "work_mem = 10922kB"
printf '[postgres]\nttl = 10\nloop_wait = 5\nretry_timeout = 5\n' >lint.toml
expect_exit 1 statectl -c lint.toml capacity plan --ram 16GB --cpus 4
assert_contains "$OUT" "error: patroni: loop_wait + 2 x retry_timeout = 15 s exceeds ttl 10 s"
expect_exit 2 statectl capacity plan --storage floppy
pass "plan: settings, tier, postgresql.conf snippet, lint exit 1, bad input exit 2"

declare -F start_stack >/dev/null || skip "lib.sh has no start_stack yet"
start_stack

# The backup age check needs a valid backup in the repository; take one when the build has
# `backup create`, else leave the check out (it is UNKNOWN without a repository).
SKIP=(--skip backup_age)
if statectl backup create >"$TEST_DIR/backup.out" 2>&1; then
  run statectl capacity check -o json
  backup_status=$(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == 'backup_age'][0]")
  if [[ $backup_status == OK ]]; then SKIP=(); else echo "note: backup_age is $backup_status after backup create" >&2; fi
fi

expect_exit 0 statectl capacity check "${SKIP[@]}" -o json
assert_eq "$(json_get "$OUT" 'j["status"]')" OK "healthy stack status"
for name in connections database_size replication_replicas replication_lag wraparound archive_ready archive_failure \
  longest_transaction idle_in_transaction pgbouncer_waiting redis_memory redis_evictions redis_replicas sentinel_quorum; do
  [[ $(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == '$name'][0]") == OK ]] || fail "check $name not OK"
done
used=$(json_get "$OUT" "[c for c in j['checks'] if c['name'] == 'connections'][0]['metrics']['used']")
((used >= 1)) || fail "connections used should count at least this check's own session"
cp "$OUT" healthy.json
expect_exit 0 statectl capacity check "${SKIP[@]}"
assert_contains "$OUT" "CAPACITY OK: 0 critical, 0 warning, 0 unknown"
CHECKS=(connections database_size replication_replicas replication_lag wraparound archive_ready archive_failure
  longest_transaction idle_in_transaction pgbouncer_waiting redis_memory redis_evictions redis_replicas sentinel_quorum)
((${#SKIP[@]})) || CHECKS+=(backup_age)
python3 "$STATECTL_SOURCE_DIR/tests/integration/nagios_perfdata.py" "$OUT" healthy.json "${CHECKS[@]}" ||
  fail "perfdata of the text output does not parse back"
expect_exit 0 statectl -q capacity check "${SKIP[@]}"
assert_eq "$(wc -l <"$OUT")" 1 "-q on a healthy stack prints the one status line"
python3 "$STATECTL_SOURCE_DIR/tests/integration/nagios_perfdata.py" "$OUT" healthy.json "${CHECKS[@]}" ||
  fail "perfdata of the -q output does not parse back"
pass "check: healthy stack exits 0 with every check OK; perfdata of every check parses back, also with -q"

# Prometheus exposition for the textfile collector, checked by promtool's own parser and linter.
expect_exit 0 statectl capacity check "${SKIP[@]}" --format prometheus
assert_contains "$OUT" 'statectl_capacity_check_status{check="connections",component="postgres"'
assert_contains "$OUT" "# TYPE statectl_redis_evicted_keys_total counter"
assert_contains "$OUT" "statectl_postgres_replication_lag_bytes{target="
if command -v promtool >/dev/null; then
  promtool check metrics <"$OUT" >promtool.out 2>&1 || fail "promtool check metrics: $(cat promtool.out)"
  pass "check --format prometheus: promtool check metrics accepts it"
else
  echo "note: promtool not installed; exposition not linted" >&2
fi

# check_postgres txn_time: a session idle in an open transaction is a long transaction too.
printf '[capacity]\ntransaction_warn = "1s"\ntransaction_crit = "1h"\n' >>"$STACK_CONFIG"
mkfifo idle.fifo
statectl psql --direct -- -q -v ON_ERROR_STOP=1 <idle.fifo >idle.out 2>&1 &
idle_pid=$!
exec 7>idle.fifo
on_exit "exec 7>&-; kill $idle_pid 2>/dev/null"
echo 'BEGIN; SELECT txid_current();' >&7
longest() { statectl capacity check "${SKIP[@]}" -o json >long.json; json_get long.json "[c['status'] for c in j['checks'] if c['name'] == 'longest_transaction'][0]"; }
for _ in $(seq 1 60); do
  [[ $(longest) == WARNING ]] && break
  sleep 0.5
done
assert_eq "$(json_get long.json "[c['status'] for c in j['checks'] if c['name'] == 'longest_transaction'][0]")" WARNING "idle-in-transaction session counts as a long transaction"
assert_eq "$(json_get long.json "[c['status'] for c in j['checks'] if c['name'] == 'idle_in_transaction'][0]")" WARNING "idle_in_transaction"
echo 'ROLLBACK;' >&7
exec 7>&-
wait "$idle_pid" || true
sed -i '/^\[capacity\]$/,$d' "$STACK_CONFIG"
pass "check: a session idle in transaction counts as a long transaction (check_postgres txn_time)"

expect_exit 1 statectl capacity check "${SKIP[@]}" --warn connections=0.01 -o json
assert_eq "$(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == 'connections'][0]")" WARNING "connections"
assert_eq "$(json_get "$OUT" 'j["exit_code"]')" 1 "json exit_code"
expect_exit 2 statectl capacity check "${SKIP[@]}" --warn connections=0.01 --crit connections=0.02
assert_contains "$OUT" "CRITICAL  connections"
expect_exit 1 statectl -q capacity check "${SKIP[@]}" --warn 0.01 --skip database_size,wraparound,redis_memory
assert_eq "$(wc -l <"$OUT")" 2 "-q prints the status line and only the non-OK line"
assert_contains "$OUT" "CAPACITY WARNING: 0 critical, 1 warning"
assert_contains "$OUT" "WARNING connections"
expect_exit 3 statectl capacity check --warn conections=5
assert_contains "$ERR" "did you mean 'connections'?"
assert_eq "$(cat "$OUT")" "CAPACITY UNKNOWN: invalid --warn 'conections=5': unknown check 'conections'" "Nagios status line of a usage error"
expect_exit 3 statectl capacity check --no-such-option
assert_contains "$ERR" "statectl: error: unknown option '--no-such-option'"
assert_contains "$OUT" "CAPACITY UNKNOWN: unknown option '--no-such-option'"
expect_exit 3 statectl -c /nonexistent/statectl.toml capacity check
assert_contains "$OUT" "CAPACITY UNKNOWN: cannot read config /nonexistent/statectl.toml"
expect_exit 3 statectl capacity check --format xml
expect_exit 1 statectl capacity check "${SKIP[@]}" --warn 'connections=@0:100' -o json
assert_eq "$(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == 'connections'][0]")" WARNING "range @0:100"
pass "check: --warn exits 1, --crit exits 2, -q prints only problems, ranges, usage errors exit 3"

for backend in postgres redis; do
  expect_exit 0 statectl capacity bench --backend "$backend" --duration 3s --clients 2 --keys 500 -o json
  json_get "$OUT" 'j["errors"] == 0 and j["operations"] > 0 and j["ops_per_second"] > 0' | grep -qx True ||
    fail "$backend bench: errors or no operations"
  for field in reads writes latency_ms ratio reference duration_seconds; do
    json_get "$OUT" "'$field' in j" | grep -qx True || fail "$backend bench lacks $field"
  done
  json_get "$OUT" 'all(j["latency_ms"][k] > 0 for k in ("p50","p95","p99","max")) and j["latency_ms"]["p50"] <= j["latency_ms"]["p99"] <= j["latency_ms"]["max"]' |
    grep -qx True || fail "$backend bench latency percentiles"
  if statectl keys --backend "$backend" --prefix capacity-bench: >"$TEST_DIR/left" 2>/dev/null; then
    [[ ! -s $TEST_DIR/left ]] || fail "$backend bench left keys behind: $(head -3 "$TEST_DIR/left")"
  fi
done
pass "bench: 3 s on each backend, JSON fields, no errors, keys cleaned up"

# The archiver: failing is CRITICAL with its reason; after it recovers the text says since when it
# archives again (it used to stop at "archiving since").
archive_state() {
  statectl capacity check "${SKIP[@]}" -o json >arch.json || true
  json_get arch.json "[(c['status'], c['value']) for c in j['checks'] if c['name'] == 'archive_failure'][0]"
}
sql() { statectl psql --direct -- -qtAX -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }
sql "ALTER SYSTEM SET archive_command = 'false'"
sql "SELECT pg_reload_conf()"
on_exit "cd '$TEST_DIR' && '$STATECTL' -c '$STACK_CONFIG' psql --direct -- -qtAX -c 'ALTER SYSTEM RESET archive_command' -c 'SELECT pg_reload_conf()'"
sql "CREATE TABLE IF NOT EXISTS archive_probe (x int); INSERT INTO archive_probe VALUES (1)"
sql "SELECT pg_switch_wal()"
wait_for 60 '[[ $(archive_state) == *CRITICAL*"failing since"* ]]' || fail "archive_failure not CRITICAL while archive_command fails: $(archive_state)"
sql "ALTER SYSTEM RESET archive_command"
sql "SELECT pg_reload_conf()"
sql "INSERT INTO archive_probe VALUES (2)"
sql "SELECT pg_switch_wal()"
wait_for 90 '[[ $(archive_state) == *OK*"archiving again since 2"* ]]' || fail "archive_failure text after recovery: $(archive_state)"
echo "archiver after recovery: $(archive_state)" >&2
pass "check: a failing archiver is CRITICAL; after recovery the text says since when it archives again"

# A stopped standby: the primary sees no streaming replica and the standby is unreachable.
statectl status -o json >"$TEST_DIR/status.json"
pid_of() { json_get "$TEST_DIR/status.json" "[c['pid'] for c in j['components'] if c['name'] == '$1'][0]"; }
standby=$(pid_of postgres-1)
[[ $standby -gt 0 ]] || fail "no pid for postgres-1"
kill -INT "$standby"
wait_until 30 bash -c "! kill -0 $standby 2>/dev/null" || fail "standby did not stop"
expect_exit 2 statectl capacity check "${SKIP[@]}" -o json
assert_eq "$(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == 'replication_replicas'][0]")" CRITICAL "replicas"
assert_eq "$(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == 'replication_lag'][0]")" CRITICAL "lag"
assert_eq "$(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == 'connections'][0]")" OK "connections"
pass "check: stopped standby makes replication checks CRITICAL, exit 2"

# Redis master and replica stopped (Sentinels stay up): Redis checks UNKNOWN, exit 3.
for name in redis-0 redis-1; do
  pid=$(pid_of "$name")
  [[ $pid -gt 0 ]] || fail "no pid for $name"
  kill -TERM "$pid"
  wait_until 30 bash -c "! kill -0 $pid 2>/dev/null" || fail "$name did not stop"
done
expect_exit 3 statectl capacity check "${SKIP[@]}" -o json
for name in redis_memory redis_evictions redis_replicas; do
  assert_eq "$(json_get "$OUT" "[c['status'] for c in j['checks'] if c['name'] == '$name'][0]")" UNKNOWN "$name"
done
json_get "$OUT" "[c['message'] for c in j['checks'] if c['name'] == 'redis_memory'][0]" | grep -q "cannot connect" ||
  fail "redis_memory message should say it cannot connect"
expect_exit 3 statectl capacity check "${SKIP[@]}"
assert_contains "$OUT" "UNKNOWN   redis_memory"
pass "check: stopped Redis makes its checks UNKNOWN, exit 3"

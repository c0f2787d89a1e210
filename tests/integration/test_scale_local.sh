#!/usr/bin/env bash
# scale on the local target: `scale postgres --replicas 2` adds a real standby that streams from
# the primary, `--replicas 1` removes it again (process stopped); bounds are checked first.
source "$(dirname "$0")/lib.sh"
[[ -x /usr/lib/postgresql/15/bin/postgres ]] || skip "PostgreSQL 15 is not installed"
command -v redis-server >/dev/null && command -v pgbouncer >/dev/null || skip "redis-server or pgbouncer missing"
cd "$TEST_DIR"
cat >statectl.toml <<TOML
[local]
dir = "$TEST_DIR/state"
postgres_port = $(port 0)
pgbouncer_port = $(port 20)
redis_port = $(port 30)
sentinel_port = $(port 40)
[postgres]
replicas = 1
[redis]
replicas = 1
TOML
on_exit "'$STATECTL' -c '$TEST_DIR/statectl.toml' destroy --purge"
expect_exit 0 statectl deploy --timeout 90s
streaming() { statectl psql --direct -- -tAc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null | tr -d '[:space:]'; }
wait_for 30 '[[ $(streaming) == 1 ]]' || fail "the deployed standby does not stream"

expect_exit 2 statectl scale postgres --replicas 99
assert_contains "$ERR" "invalid --replicas 99 for postgres"
expect_exit 2 statectl scale pooler --replicas 2
assert_contains "$ERR" "cannot scale the pooler on the local target"
pass "bounds and unsupported components exit 2"

start=$SECONDS
expect_exit 0 statectl scale postgres --replicas 2 -o json
assert_eq "$(json_get "$OUT" 'len(j["created"])')" 1 "one standby created"
new=$(json_get "$OUT" 'j["created"][0]')
wait_for 30 '[[ $(streaming) == 2 ]]' || fail "the new standby $new does not stream (streaming: $(streaming))"
echo "standby $new streaming after $((SECONDS - start)) s"
expect_exit 0 statectl status -o json
json_get "$OUT" "[c['healthy'] for c in j['components'] if c['name'] == '$new'][0]" | grep -qx True || fail "$new not healthy in status"
pid=$(json_get "$OUT" "[c['pid'] for c in j['components'] if c['name'] == '$new'][0]")
kill -0 "$pid" || fail "$new has no running process"
pass "scale postgres --replicas 2 adds a standby that streams"

expect_exit 0 statectl scale postgres --replicas 1 -o json
assert_eq "$(json_get "$OUT" 'j["removed"]')" "['$new']" "removed standby"
wait_for 15 '[[ $(streaming) == 1 ]]' || fail "the removed standby still streams"
wait_until 10 bash -c "! kill -0 $pid 2>/dev/null || grep -q '^Z' /proc/$pid/stat 2>/dev/null" || fail "the removed standby's process still runs"
pass "scale postgres --replicas 1 removes it again"

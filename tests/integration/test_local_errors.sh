#!/usr/bin/env bash
# The local target's failure paths: a port in use, a broken Patroni timing, a missing program,
# --dry-run; each says what to do and leaves nothing running.
source "$(dirname "$0")/lib.sh"

write_stack_config

# Something else listens on PgBouncer's port.
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("ready", flush=True); time.sleep(600)' "$(port 20)" >listener.out &
listener=$!
on_exit "kill_wait $listener"
wait_until 10 grep -q ready listener.out || fail "listener did not start"

expect_exit 2 statectl deploy
assert_contains "$ERR" "statectl: error: port $(port 20) for pgbouncer is already in use"
assert_contains "$ERR" "hint: stop that program, or choose free ports with [local] pgbouncer_port"
[[ ! -e stack/postgres-0 ]] || fail "deploy created postgres-0 although a port was taken"
pgrep -f "$TEST_DIR/stack" >/dev/null && fail "a server of the failed deploy still runs: $(pgrep -af "$TEST_DIR/stack")"
expect_exit 1 statectl status
kill "$listener"
pass "a port in use: exit 2 naming the port and the key, nothing started"

# Two keys whose port ranges overlap: the standby postgres-1 takes postgres_port + 1.
STATECTL_LOCAL_PGBOUNCER_PORT=$(( $(port 0) + 1 )) expect_exit 2 statectl deploy
assert_contains "$ERR" "statectl: error: port $(( $(port 0) + 1 )) is configured for both postgres-1 and pgbouncer"
assert_contains "$ERR" "[local] pgbouncer_port"
assert_contains "$ERR" "members of one kind take consecutive ports from their key"
[[ ! -e stack/postgres-0 && ! -e stack/stack.json ]] || fail "deploy with overlapping ports changed something: $(ls stack)"
pass "overlapping port ranges: exit 2 naming both members and the key, nothing made"

STATECTL_POSTGRES_HA=patroni STATECTL_POSTGRES_TTL=10 STATECTL_POSTGRES_LOOP_WAIT=5 STATECTL_POSTGRES_RETRY_TIMEOUT=4 \
  expect_exit 2 statectl deploy
assert_contains "$ERR" "invalid Patroni timings: loop_wait + 2 * retry_timeout must not exceed ttl, got 5 + 2 * 4 = 13 > 10"
pass "Patroni timings breaking loop_wait + 2*retry_timeout <= ttl: exit 2"

STATECTL_POSTGRES_BIN_DIR=/nonexistent/bin expect_exit 3 statectl deploy
assert_contains "$ERR" "cannot find PostgreSQL's 'initdb' in /nonexistent/bin"
assert_contains "$ERR" "postgresql-15"
pass "a missing program: exit 3 naming the package"

STATECTL_REDIS_MODE=cluster expect_exit 0 statectl --dry-run deploy
assert_contains "$OUT" "--cluster create 127.0.0.1:$(port 30) 127.0.0.1:$(port 31)"
assert_contains "$OUT" "--cluster-replicas 1 --cluster-yes"
# (the certificate it would issue names the Sentinel services too: only a Sentinel process counts)
! grep -v "TLS certificate" "$OUT" | grep -q "redis-sentinel" || fail "a cluster --dry-run plans a Sentinel"
[[ ! -e stack/stack.json ]] || fail "--dry-run of a cluster deploy changed something"
pass "Redis Cluster --dry-run: the nodes and redis-cli --cluster create, nothing changed"

expect_exit 0 statectl --dry-run deploy
for word in initdb "pg_ctl" pg_basebackup pgbouncer redis-server redis-sentinel "write $TEST_DIR/stack/pgbouncer/userlist.txt"; do
  assert_contains "$OUT" "$word"
done
[[ ! -e stack/postgres-0 && ! -e stack/stack.json ]] || fail "--dry-run changed something: $(ls stack)"
if [[ -d stack/secrets ]]; then
  for f in stack/secrets/*; do
    [[ -f $f ]] && assert_not_contains "$OUT" "$(cat "$f")"
  done
fi
pass "--dry-run prints every command line and changes nothing"

# A failing component: PostgreSQL cannot start with an impossible setting; the run stops what it
# started and names the log.
STATECTL_POSTGRES_SHARED_BUFFERS=1TB expect_exit 4 statectl deploy
assert_contains "$ERR" "postgres-0: pg_ctl start failed"
assert_contains "$ERR" "postgres.log"
pgrep -f "$TEST_DIR/stack" >/dev/null && fail "a server of the failed deploy still runs: $(pgrep -af "$TEST_DIR/stack")"
pass "a server that cannot start: exit 4 with its log, nothing left running"

#!/usr/bin/env bash
# Bad input and interruptions against one real local stack: an unknown switchover member is a
# usage error like promote's, Ctrl-C during capacity bench deletes its keys (exit 130), status
# shows PgBouncer's own version, CRLF batch lines store values without the \r.
source "$(dirname "$0")/lib.sh"
declare -F start_stack >/dev/null || skip "lib.sh has no start_stack"
start_stack

# switchover --to and promote --member: the same exit code (2) for a member that does not exist.
expect_exit 2 statectl failover switchover --to bogus
assert_contains "$ERR" "statectl: error: no PostgreSQL member 'bogus' in the local stack"
expect_exit 2 statectl failover promote --member bogus
assert_contains "$ERR" "statectl: error: no PostgreSQL member 'bogus' in the local stack"
expect_exit 2 statectl failover switchover --to postgres-0
assert_contains "$ERR" "postgres-0 is already the primary"
expect_exit 2 statectl failover switchover --backend redis --to bogus
assert_contains "$ERR" "statectl: error: no Redis member 'bogus' in the local stack"
pass "switchover --to an unknown or current member exits 2, as promote --member does"

# status: PgBouncer's VERSION is PgBouncer's (SHOW VERSION on its admin console).
expect_exit 0 statectl status -o json
pgb_version=$(pgbouncer --version | sed -n 's/^PgBouncer \([0-9.]*\).*/\1/p' | head -1)
assert_eq "$(json_get "$OUT" '[c["version"] for c in j["components"] if c["kind"] == "pgbouncer"][0]')" "$pgb_version" "PgBouncer version"
pass "status shows PgBouncer's own version ($pgb_version)"

# CRLF batch lines: the values are stored without the \r, on both backends.
printf 'crlf/a\tone\r\ncrlf/b\ttwo\r\n' >"$TEST_DIR/crlf.tsv"
for backend in postgres redis; do
  expect_exit 0 statectl --backend "$backend" put --batch "$TEST_DIR/crlf.tsv"
  expect_exit 0 statectl --backend "$backend" get crlf/a
  assert_eq "$(od -An -c "$OUT" | tr -s ' ')" " o n e" "$backend value of a CRLF line"
done
pass "CRLF batch lines drop the \\r"

# keys --limit -1: refused before any server is asked, on both backends.
for backend in postgres redis; do
  expect_exit 2 statectl --backend "$backend" keys --limit -1
  assert_not_contains "$ERR" "ERROR:"
done
pass "keys --limit -1 exits 2 on both backends"

# Ctrl-C during capacity bench: the keys it wrote are deleted, exit 130.
for backend in postgres redis; do
  "$STATECTL" capacity bench --backend "$backend" --duration 5m --clients 2 --keys 2000 >"$TEST_DIR/bench.out" 2>"$TEST_DIR/bench.err" &
  bench=$!
  on_exit "kill -9 $bench"
  wait_for 60 '[[ -n $("$STATECTL" --backend '"$backend"' keys --prefix capacity-bench: --limit 1 2>/dev/null) ]]' ||
    fail "$backend bench wrote no keys: $(cat "$TEST_DIR/bench.err")"
  kill -INT "$bench"
  set +e
  wait "$bench"
  rc=$?
  set -e
  [[ $rc == 130 ]] || fail "$backend bench after SIGINT exited $rc: $(cat "$TEST_DIR/bench.err")"
  assert_contains "$TEST_DIR/bench.err" "statectl: error: capacity bench interrupted: its 2000 keys were deleted"
  expect_exit 0 statectl --backend "$backend" keys --prefix capacity-bench:
  [[ ! -s $OUT ]] || fail "$backend bench left keys after SIGINT: $(head -3 "$OUT")"
done
pass "SIGINT during capacity bench deletes its keys and exits 130"

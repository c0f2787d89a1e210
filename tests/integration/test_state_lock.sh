#!/usr/bin/env bash
# Fenced leases around a command on both backends: mutual exclusion with strictly increasing
# tokens, expiry after SIGKILL, lease loss after SIGSTOP (exit 76), --wait (exit 75), signal
# forwarding and release. PostgreSQL goes through PgBouncer in transaction pooling.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/state_lib.sh"
cd "$TEST_DIR"
start_state_servers

# lock_held B NAME: true when `locks` shows NAME held.
lock_held() { "$STATECTL" locks --backend "$1" -o json | python3 -c 'import json,sys; sys.exit(0 if any(l["name"]==sys.argv[1] for l in json.load(sys.stdin)["locks"]) else 1)' "$2"; }

for b in postgres redis; do
  # S SUBCOMMAND ARGS...: statectl on backend $b.
  S() { "$STATECTL" "$1" --backend "$b" "${@:2}"; }

  # 8 processes x 25 iterations of a read-modify-write under the lock.
  echo 0 >"counter.$b"
  : >"tokens.$b"
  body='c=$(cat "$1"); sleep 0.005; echo $((c + 1)) >"$1"; echo "$STATECTL_LOCK_TOKEN" >>"$2"'
  pids=()
  for w in 1 2 3 4 5 6 7 8; do
    (for i in $(seq 25); do S lock "count-$b" --ttl 10s -- sh -c "$body" sh "counter.$b" "tokens.$b" || exit 1; done) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "$b: a locked worker failed"; done
  assert_eq "$(cat "counter.$b")" 200 "$b: counter after 8x25 locked increments"
  python3 - "tokens.$b" <<'PY' || fail "$b: tokens not strictly increasing: $(tr '\n' ' ' <"tokens.$b" | head -c 600)"
import sys
t = [int(x) for x in open(sys.argv[1]).read().split()]
sys.exit(0 if len(t) == 200 and all(a < b for a, b in zip(t, t[1:])) else 1)
PY
  pass "$b: 8 processes x 25 locked increments give 200 with strictly increasing tokens"

  expect_exit 7 S lock exit-code -- sh -c 'exit 7'
  expect_exit 0 S lock env -- sh -c 'test "$STATECTL_LOCK_NAME" = env && test -n "$STATECTL_LOCK_TOKEN"'
  pass "$b: the exit code is the command's and the lock variables are set"

  # A holder exists: locks lists it; --wait gives up with 75.
  "$STATECTL" lock --backend "$b" held --ttl 10s -- sleep 30 >/dev/null 2>&1 &
  holder=$!
  wait_until 10 lock_held "$b" held || fail "$b: holder never showed up"
  expect_exit 0 S locks -o json
  json_get "$OUT" '[l for l in j["locks"] if l["name"] == "held"][0]["owner"].endswith(":'"$holder"'")' | grep -qx True ||
    fail "$b: owner is not host:pid of the holder"
  expect_exit 0 S locks
  assert_contains "$OUT" "NAME"
  assert_contains "$OUT" ":$holder"
  start=$(date +%s%N)
  expect_exit 75 S lock held --wait 300ms -- true
  assert_contains "$ERR" "statectl: error: lock 'held' not acquired within 300ms"
  assert_contains "$ERR" "held by"
  (( ($(date +%s%N) - start) / 1000000 < 3000 )) || fail "$b: --wait 300ms took too long"
  pass "$b: locks lists the holder; --wait gives up with exit 75"

  # SIGTERM to statectl is forwarded to the command and the lease is released.
  kill -TERM "$holder"
  set +e; wait "$holder"; rc=$?; set -e
  assert_eq "$rc" 143 "$b: exit code after a forwarded SIGTERM"
  lock_held "$b" held && fail "$b: lease not released after SIGTERM"
  pass "$b: SIGTERM is forwarded to the command and the lease released"

  # statectl killed with SIGKILL: a waiter gets the lock within TTL + 2 s.
  "$STATECTL" lock --backend "$b" killed --ttl 2s -- sh -c 'echo $$ >killed.pid; exec sleep 30' >/dev/null 2>&1 &
  holder=$!
  wait_until 10 test -s killed.pid || fail "$b: holder never started"
  on_exit "kill -9 -$(cat killed.pid)"
  kill -9 "$holder"
  start=$(date +%s%N)
  expect_exit 0 S lock killed --wait 10s -- true
  elapsed=$((($(date +%s%N) - start) / 1000000))
  ((elapsed <= 4000)) || fail "$b: waiter took ${elapsed} ms after SIGKILL (ttl 2s)"
  kill -9 -"$(cat killed.pid)" 2>/dev/null || true
  rm -f killed.pid
  pass "$b: after SIGKILL of the holder a waiter acquires in ${elapsed} ms (ttl 2s)"

  # statectl stopped past its TTL: another process acquires with a larger token; after SIGCONT
  # the first command is killed and statectl exits 76.
  rm -f stop.t1 stop.t2 stop.pid
  "$STATECTL" lock --backend "$b" stopped --ttl 1s --grace 500ms -- sh -c 'echo $$ >stop.pid; echo "$STATECTL_LOCK_TOKEN" >stop.t1; exec sleep 30' \
    >stop.out 2>stop.err &
  holder=$!
  wait_until 10 test -s stop.t1 || fail "$b: stopped holder never started"
  child=$(cat stop.pid)
  on_exit "kill -9 $child"
  kill -STOP "$holder"
  sleep 1.5
  expect_exit 0 S lock stopped --wait 5s -- sh -c 'echo "$STATECTL_LOCK_TOKEN" >stop.t2'
  (($(cat stop.t2) > $(cat stop.t1))) || fail "$b: token $(cat stop.t2) after takeover is not larger than $(cat stop.t1)"
  kill -CONT "$holder"
  set +e; wait "$holder"; rc=$?; set -e
  assert_eq "$rc" 76 "$b: exit code of the holder whose lease was lost"
  assert_contains stop.err "lock lost"
  wait_until 5 sh -c "! kill -0 $child 2>/dev/null || grep -q '^State:.*Z' /proc/$child/status" || fail "$b: the command still runs"
  pass "$b: SIGSTOP past the TTL: taken over with a larger token, the command is killed, exit 76"
done

expect_exit 2 statectl lock nocmd
assert_contains "$ERR" "lock needs a command"
expect_exit 0 statectl --dry-run lock dry -- touch should-not-exist
assert_contains "$OUT" "would run \`touch should-not-exist\` holding lock 'dry'"
[[ ! -e should-not-exist ]] || fail "dry-run ran the command"
pass "lock without a command is a usage error; --dry-run runs nothing"

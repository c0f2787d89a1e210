#!/usr/bin/env bash
# Issue 20, item 1: lock fencing across a failover, on the local stack (Redis master + replica +
# 3 Sentinels; PostgreSQL with a synchronous standby).
#   - renew and release compare the owner as well as the token (both backends);
#   - Redis: while the replica lags (it is SIGSTOPped), an acquire must not hand out a token that
#     only the master has; the master is then killed and Sentinel promotes the replica: a later
#     process must never get a token that was already handed out, and nobody deletes the lease of
#     another.
source "$(dirname "$0")/lib.sh"

start_stack $'[redis]\ndown_after = "1s"\nfailover_timeout = "5s"'
pass "deploy brings the stack up"
member_pid() { json_get stack/stack.json "[m['pid'] for m in j['members'] if m['name'] == '$1'][0]"; }
sentinel_master() { rcli "$(port 50)" SENTINEL get-master-addr-by-name mymaster | tail -1; }

# Renew compares the owner too: a lease whose owner field changed under the same token is lost.
for b in postgres redis; do
  rm -f own.started
  "$STATECTL" lock --backend "$b" owned --ttl 1500ms --grace 200ms -- sh -c 'touch own.started; exec sleep 30' >own.out 2>own.err &
  holder=$!
  wait_until 20 test -e own.started || fail "$b: holder never started"
  if [[ $b == postgres ]]; then
    statectl psql --direct -- -tAc "UPDATE statectl_kv_locks SET owner = 'intruder:1' WHERE name = 'owned'" >/dev/null
  else
    rcli_auth "$(sentinel_master)" HSET 'statectl#statectl:lock:owned' owner intruder:1 >/dev/null
  fi
  set +e; wait "$holder"; rc=$?; set -e
  assert_eq "$rc" 76 "$b: exit code when the lease's owner is not ours any more"
  assert_contains own.err "lock lost"
  pass "$b: renew compares the owner as well as the token"
done

# Redis: one grant while everything is healthy.
expect_exit 0 statectl lock --backend redis fence -- sh -c 'echo "$STATECTL_LOCK_TOKEN" >t1'
t1=$(cat t1)

# The replica lags: SIGSTOP. An acquire now must not return a token the replica does not have.
replica_pid=$(member_pid redis-1)
master_pid=$(member_pid redis-0)
kill -STOP "$replica_pid"
on_exit "kill -CONT $replica_pid"
rm -f t2
"$STATECTL" lock --backend redis fence --ttl 30s -- sh -c 'echo "$STATECTL_LOCK_TOKEN" >t2; exec sleep 120' >p2.out 2>p2.err &
p2=$!
on_exit "kill -9 $p2"
wait_for 60 '[[ -s t2 ]] || ! kill -0 $p2' || fail "the second process neither got the lock nor gave up"
if [[ ! -s t2 ]]; then
  set +e; wait "$p2"; rc=$?; set -e
  assert_eq "$rc" 3 "exit code of an acquire that could not reach the replica"
  assert_contains p2.err "statectl: error: lock 'fence' not granted: its lease reached 0 of 1 replica within"
fi

# The master dies before the replica caught up; Sentinel promotes the replica.
kill -9 "$master_pid"
kill -CONT "$replica_pid"
wait_for 60 '[[ $(sentinel_master) == $(port 31) ]]' || fail "Sentinel did not promote redis-1"
# The old master comes back (as a replica of the new one), so the lease can be replicated again.
expect_exit 0 statectl deploy
wait_for 30 '[[ $(rcli_auth $(port 30) ROLE | head -1) == slave ]]' || fail "redis-0 did not rejoin as a replica"

expect_exit 0 statectl lock --backend redis fence --wait 60s -- sh -c 'echo "$STATECTL_LOCK_TOKEN" >t3'
t3=$(cat t3)
(( t3 > t1 )) || fail "token $t3 after the failover is not larger than $t1"
if [[ -s t2 ]]; then
  t2=$(cat t2)
  [[ $t3 != "$t2" ]] || fail "the same fencing token $t3 was handed out twice (process 2 still holds it)"
  kill -0 "$p2" 2>/dev/null && fail "process 2 ($t2) and process 3 ($t3) held 'fence' at the same time"
fi
pass "redis: with a lagging replica at the master's death no token is handed out twice ($t1, ${t2:-none}, $t3)"

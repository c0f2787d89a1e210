#!/usr/bin/env bash
# The local target in HA mode: etcd + 3 Patroni members + HAProxy + PgBouncer; killing the
# leader's Patroni and postmaster elects a new leader that accepts writes through PgBouncer.
source "$(dirname "$0")/lib.sh"

alive() { [[ -r /proc/$1/stat ]] && ! awk '{ exit ($3 == "Z" ? 0 : 1) }' "/proc/$1/stat"; }

start_stack $'[postgres]\nha = "patroni"\nttl = 10\nloop_wait = 2\nretry_timeout = 4\n[redis]\nmode = "standalone"'
pass "deploy brings up etcd, Patroni, HAProxy, PgBouncer and Redis"

expect_exit 0 statectl status -o json
cp "$OUT" status.json
python3 - status.json <<'PY' || fail "status -o json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["healthy"] is True, j
kinds = {}
for c in j["components"]:
    kinds.setdefault(c["kind"], []).append(c)
    assert c["healthy"], c
assert [c["role"] for c in kinds["etcd"]] == ["dcs"]
assert sorted(c["role"] for c in kinds["patroni"]) == ["leader", "replica", "replica"], kinds["patroni"]
assert [c["role"] for c in kinds["haproxy"]] == ["proxy"]
assert [c["role"] for c in kinds["pgbouncer"]] == ["pooler"]
assert [c["role"] for c in kinds["redis"]] == ["master"]
PY
pass "status: leader + 2 replicas + etcd + HAProxy healthy"

expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -c "CREATE TABLE t (id int PRIMARY KEY)" -c "INSERT INTO t VALUES (1)"
pass "writes through PgBouncer -> HAProxy -> leader"

leader=$(json_get status.json '[c["name"] for c in j["components"] if c["role"] == "leader"][0]')
patroni_pid=$(json_get status.json "[c['pid'] for c in j['components'] if c['name'] == '$leader'][0]")
postmaster_pid=$(head -1 "stack/$leader/data/postmaster.pid")
start=$SECONDS
kill -9 "$patroni_pid" "$postmaster_pid"
writes() { statectl psql -- -v ON_ERROR_STOP=1 -c "INSERT INTO t VALUES ($((1000 + SECONDS)))" -c "SELECT 1" >/dev/null 2>&1; }
new_leader() {
  statectl status -o json >now.json 2>/dev/null
  local l
  l=$(json_get now.json '[c["name"] for c in j["components"] if c["role"] == "leader" and c["healthy"]]' 2>/dev/null)
  [[ $l != "[]" && $l != *"'$leader'"* ]]
}
wait_until 30 new_leader || fail "no new leader within 30 s (ttl 10): $(cat now.json)"
wait_until 10 writes || fail "no writes through PgBouncer after the failover"
echo "new leader accepts writes after $((SECONDS - start)) s"
(( SECONDS - start <= 25 )) || fail "failover took $((SECONDS - start)) s, more than ttl + 15 s"
pass "kill -9 of the leader's Patroni and postmaster: a new leader accepts writes through PgBouncer"

expect_exit 0 statectl deploy
assert_contains "$OUT" "restarted: $leader"
healthy() { statectl status >/dev/null 2>&1; }
wait_until 60 healthy || { statectl status >&2 || true; fail "the old leader did not rejoin"; }
expect_exit 0 statectl psql -- -tAc "SELECT count(*) >= 2 FROM t"
assert_eq "$(cat "$OUT")" t "rows after failover"
pass "deploy restarts the old leader, which rejoins as a replica"

expect_exit 0 statectl destroy --purge
for d in stack/patroni-0 stack/etcd stack/haproxy; do [[ ! -e $d ]] || fail "$d left after destroy --purge"; done
pgrep -f "$TEST_DIR/stack" >/dev/null && fail "still running: $(pgrep -af "$TEST_DIR/stack")"
pass "destroy --purge stops Patroni, etcd and HAProxy and deletes their data"

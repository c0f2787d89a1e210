#!/usr/bin/env bash
# The local target, bare mode: deploy real servers into a temporary directory, use them through
# real clients, check idempotence and repair, then destroy --purge.
source "$(dirname "$0")/lib.sh"

# alive PID: true while PID runs (a zombie waiting to be reaped counts as gone).
alive() { [[ -r /proc/$1/stat ]] && ! awk '{ exit ($3 == "Z" ? 0 : 1) }' "/proc/$1/stat"; }

# A descriptor statectl inherits (here fd 9, open on a marker file) must not reach the servers
# it starts: they outlive it and would hold the file (or a caller's pipe) open for ever.
exec 9>"$TEST_DIR/inherited-fd-marker"
start_stack
exec 9>&-
pass "deploy brings the stack up"
expect_exit 0 statectl status -o json
for pid in $(json_get "$OUT" '" ".join(str(c["pid"]) for c in j["components"])'); do
  if ls -l "/proc/$pid/fd" 2>/dev/null | grep -q inherited-fd-marker; then fail "server pid $pid holds a descriptor inherited from statectl's caller"; fi
done
# ... while the user's command under `lock` keeps the caller's descriptors, as with flock(1).
expect_exit 0 statectl lock fd-pass --ttl 30s -- sh -c 'echo through-fd-9 >&9' 9>"$TEST_DIR/fd9.txt"
assert_eq "$(cat "$TEST_DIR/fd9.txt")" through-fd-9 "what lock's command wrote to the caller's fd 9"
pass "the servers started by deploy hold no descriptor inherited from statectl; lock's command does"

expect_exit 0 statectl status -o json
cp "$OUT" status.json
python3 - status.json "$(id -u)" <<'PY' || fail "status -o json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["healthy"] is True, j
roles = {c["name"]: (c["kind"], c["role"], c["healthy"]) for c in j["components"]}
want = {"postgres-0": ("postgres", "primary"), "postgres-1": ("postgres", "replica"), "pgbouncer": ("pgbouncer", "pooler"),
        "redis-0": ("redis", "master"), "redis-1": ("redis", "replica"), "sentinel-0": ("sentinel", "sentinel"),
        "sentinel-1": ("sentinel", "sentinel"), "sentinel-2": ("sentinel", "sentinel")}
for name, (kind, role) in want.items():
    assert roles[name][:2] == (kind, role), (name, roles.get(name))
    assert roles[name][2], name
for c in j["components"]:
    assert c["pid"] > 0 and c["address"].startswith("127.0.0.1:"), c
    # TLS is the default: statectl reached every server over TLS 1.3.
    assert c.get("encrypted") is True and c.get("tls_protocol") == "TLSv1.3", c
    if c["role"] == "replica":
        assert isinstance(c["lag_bytes"], int), c
assert set(roles) == set(want), roles
PY
pass "status -o json: every component healthy with its role, address and pid, reached over TLS 1.3 (the default)"

expect_exit 0 statectl status
assert_contains "$OUT" "postgres-0"
assert_contains "$OUT" "127.0.0.1:$(port 20)"
pass "status text shows the components and the PgBouncer address"

if [[ $(id -u) == 0 ]]; then
  pid=$(json_get status.json '[c["pid"] for c in j["components"] if c["name"] == "postgres-0"][0]')
  assert_eq "$(ps -o user= -p "$pid" | tr -d ' ')" postgres "postmaster's user"
  pid=$(json_get status.json '[c["pid"] for c in j["components"] if c["name"] == "pgbouncer"][0]')
  assert_eq "$(ps -o user= -p "$pid" | tr -d ' ')" postgres "pgbouncer's user"
  pass "as root, the servers run as the unprivileged user"
fi

expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -c "CREATE TABLE t (id int PRIMARY KEY, v text)"
expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -c "INSERT INTO t VALUES (1, 'through-pgbouncer')"
replica_has_row() { statectl psql --replica -- -tAc "SELECT v FROM t WHERE id = 1" 2>/dev/null | grep -qx through-pgbouncer; }
wait_until 10 replica_has_row || fail "the row written through PgBouncer did not reach the standby"
expect_exit 0 statectl psql --replica -- -tAc "SELECT pg_is_in_recovery()"
assert_eq "$(cat "$OUT")" t "psql --replica is on a standby"
expect_exit 0 statectl psql --direct -- -tAc "SELECT pg_is_in_recovery()"
assert_eq "$(cat "$OUT")" f "psql --direct is on the primary"
expect_exit 1 statectl psql -- -c "SELECT * FROM no_such_table"
assert_contains "$ERR" 'relation "no_such_table" does not exist'
expect_exit 2 statectl psql --port "$(port 199)" -- -c "SELECT 1"
pass "psql through PgBouncer writes a row that the standby serves; exit code is psql's"

# Role passwords are sent as SCRAM verifiers computed by statectl (the unit tests check the
# math): every login role has one that works, and no server log holds a password (a failing
# statement is logged with its text, so a plaintext ALTER ROLE could land there).
expect_exit 0 statectl psql --direct -- -tAc "SELECT count(*) FROM pg_authid WHERE rolcanlogin AND rolpassword LIKE 'SCRAM-SHA-256\$4096:%'"
assert_eq "$(cat "$OUT")" "$(statectl psql --direct -- -tAc "SELECT count(*) FROM pg_authid WHERE rolcanlogin")" "login roles with a SCRAM verifier"
[[ -n $(find "$TEST_DIR/stack" -name postgres.log -size +0) ]] || fail "no PostgreSQL log under $TEST_DIR/stack"
for s in postgres replication pgbouncer app; do
  v=$(statectl secrets get "$s")
  ! grep -rqF --include='*.log' -- "$v" "$TEST_DIR/stack" || fail "password $s in a server log"
done
pass "role passwords reach the server only as SCRAM verifiers"

expect_exit 0 statectl psql -- -tAc "SELECT setting FROM pg_settings WHERE name = 'synchronous_standby_names'"
assert_contains "$OUT" "postgres-1"
expect_exit 0 statectl psql --direct -- -tAc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'postgres_1' AND active"
assert_eq "$(cat "$OUT")" 1 "active replication slot"
pass "synchronous replication through a physical slot"

master=$(rcli "$(port 50)" SENTINEL get-master-addr-by-name mymaster | tail -1)
assert_eq "$master" "$(port 30)" "Sentinel's master port"
rcli_auth "$master" SET greeting hello >/dev/null
replica_has_key() { [[ $(statectl redis-cli --replica -- GET greeting 2>/dev/null) == hello ]]; }
wait_until 10 replica_has_key || fail "the key written on the master did not reach the replica"
expect_exit 0 statectl redis-cli -- INCR counter
assert_eq "$(cat "$OUT")" 1 "redis-cli on the master"
expect_exit 0 statectl redis-cli --replica -- ROLE
assert_contains "$OUT" "slave"
pass "redis-cli on the master Sentinel reports writes a key that the replica serves"

run rcli "$(port 30)" GET greeting
assert_contains "$OUT" "NOAUTH"
expect_exit 2 pgsql -w -h 127.0.0.1 -p "$(port 0)" -U postgres -d postgres -c "SELECT 1"
assert_contains "$ERR" "password"
pass "servers require passwords"

expect_exit 0 statectl deploy
assert_contains "$OUT" "up to date"
expect_exit 0 statectl deploy -o json
assert_eq "$(json_get "$OUT" 'j["changed"]')" False "second deploy changed something"
pass "a second deploy is a no-op and says so"

standby=$(json_get status.json '[c["pid"] for c in j["components"] if c["name"] == "postgres-1"][0]')
kill -9 "$standby"
wait_until 10 bash -c "! [[ -r /proc/$standby/stat ]] || awk '{exit (\$3 == \"Z\" ? 0 : 1)}' /proc/$standby/stat" || fail "standby did not die"
expect_exit 1 statectl status
expect_exit 0 statectl deploy
assert_contains "$OUT" "restarted: postgres-1"
expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy after repair"
wait_until 10 replica_has_row || fail "repaired standby lost the row"
pass "killing the standby, then deploy, repairs just that component"

expect_exit 0 statectl --dry-run destroy
assert_contains "$OUT" "pg_ctl"
expect_exit 0 statectl status
pass "destroy --dry-run prints the commands and changes nothing"

expect_exit 0 statectl status -o json
mapfile -t pids < <(json_get "$OUT" '"\n".join(str(c["pid"]) for c in j["components"])')
expect_exit 0 statectl destroy --purge
for p in "${pids[@]}"; do
  if alive "$p"; then fail "pid $p still runs after destroy"; fi
done
[[ ! -e stack/postgres-0 && ! -e stack/stack.json && ! -e stack/wal_archive ]] || fail "data left after destroy --purge: $(ls stack)"
expect_exit 0 statectl destroy --purge
expect_exit 1 statectl status
assert_contains "$ERR" "no local stack"
pass "destroy --purge leaves no process and no data, and is idempotent"

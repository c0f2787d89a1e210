#!/usr/bin/env bash
# secrets rotate --apply on a running local stack: PostgreSQL (SCRAM verifier computed
# client-side), PgBouncer (auth file + reload) and Redis + Sentinels take the new password
# without a restart; the old password stops working, the new one works, and no server log line
# contains either plaintext even with log_statement = 'all'.
source "$(dirname "$0")/lib.sh"
[[ -x /usr/lib/postgresql/15/bin/postgres ]] || skip "PostgreSQL 15 is not installed"
command -v redis-server >/dev/null && command -v pgbouncer >/dev/null && command -v redis-sentinel >/dev/null ||
  skip "redis-server, redis-sentinel or pgbouncer missing"
statectl deploy --help >/dev/null 2>&1 || skip "the local stack (statectl deploy) is not in this build"
cd "$TEST_DIR"
pg_port=$(port 60)
bouncer_port=$(port 70)
redis_port=$(port 80)
sentinel_port=$(port 90)
cat >statectl.toml <<TOML
[project]
name = "rotatetest"
[local]
dir = "$TEST_DIR/state"
postgres_port = $pg_port
pgbouncer_port = $bouncer_port
redis_port = $redis_port
sentinel_port = $sentinel_port
[postgres]
replicas = 1
[redis]
replicas = 1
TOML
on_exit "'$STATECTL' -c '$TEST_DIR/statectl.toml' destroy --purge"
expect_exit 0 statectl deploy --timeout 90s
STACK_DIR="$TEST_DIR/state" # for pgsql and rcli (lib.sh)

psql_as() { # USER PASSWORD PORT SQL
  PGPASSWORD=$2 PGCONNECT_TIMEOUT=5 pgsql -X -h 127.0.0.1 -p "$3" -U "$1" -d postgres -tAc "$4" 2>&1
}
pids() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(" ".join("%s=%s" % (m["name"], m["pid"]) for m in j["members"]))' "$TEST_DIR/state/stack.json"; }
streaming() { psql_as postgres "$(statectl secrets get postgres)" "$pg_port" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" | tr -d '[:space:]'; }
wait_for 30 '[[ $(streaming) == 1 ]]' || fail "the standby does not stream before the rotation"

old=$(statectl secrets get postgres)
[[ $(psql_as postgres "$old" "$pg_port" "SELECT 1") == 1 ]] || fail "the stored password does not work before the rotation"
# Log every statement, so an ALTER ROLE with a plaintext password would land in the log.
psql_as postgres "$old" "$pg_port" "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
psql_as postgres "$old" "$pg_port" "SELECT pg_reload_conf()" >/dev/null
before=$(pids)

start=$SECONDS
expect_exit 0 statectl secrets rotate postgres --apply -o json
assert_eq "$(json_get "$OUT" 'j["verified"]')" True "verified"
applied=$(json_get "$OUT" '"\n".join(j["applied"])')
[[ $applied == *"ALTER ROLE postgres PASSWORD (SCRAM verifier computed client-side)"* ]] || fail "no ALTER ROLE step"
[[ $applied == *"pgbouncer: auth file rewritten, RELOAD"* ]] || fail "no pgbouncer step"
new=$(statectl secrets get postgres)
[[ $new != "$old" && ${#new} == 32 ]] || fail "the store does not hold a new password"
echo "postgres rotated and verified in $((SECONDS - start)) s"

out=$(psql_as postgres "$old" "$pg_port" "SELECT 1") && fail "the old password still works on the primary"
[[ $out == *"password authentication failed"* ]] || fail "unexpected error for the old password: $out"
out=$(psql_as postgres "$old" "$bouncer_port" "SELECT 1") && fail "the old password still works through pgbouncer"
[[ $(psql_as postgres "$new" "$pg_port" "SELECT 1") == 1 ]] || fail "the new password does not work on the primary"
[[ $(psql_as postgres "$new" "$bouncer_port" "SELECT 1") == 1 ]] || fail "the new password does not work through pgbouncer"
[[ $(psql_as postgres "$new" "$pg_port" "SELECT rolpassword LIKE 'SCRAM-SHA-256\$%' FROM pg_authid WHERE rolname = 'postgres'") == t ]] ||
  fail "the stored verifier is not SCRAM"
expect_exit 0 statectl psql -- -tAc "SELECT 1"
assert_eq "$(tr -d '[:space:]' <"$OUT")" 1 "statectl psql after the rotation"
pass "postgres: old password refused, new one works direct and through pgbouncer"

expect_exit 0 statectl secrets rotate app --apply
app=$(statectl secrets get app)
[[ $(psql_as app "$app" "$pg_port" "SELECT current_user") == app ]] || fail "app cannot log in to the primary with its new password"
# Through PgBouncer the application role logs in with its client certificate only (TLS stack);
# PgBouncer's own logins to PostgreSQL as app use the new password: after RECONNECT (new server
# connections) the state commands, which log in as app, still work.
out=$(psql_as app "$app" "$bouncer_port" "SELECT 1") && fail "pgbouncer accepted a password login of app (the cert line)"
PGPASSWORD=$new PGCONNECT_TIMEOUT=5 pgsql -X -h 127.0.0.1 -p "$bouncer_port" -U postgres -d pgbouncer -c "RECONNECT" >/dev/null 2>&1 ||
  fail "RECONNECT on pgbouncer's console failed"
expect_exit 0 statectl put rotate:app after-app-rotation
expect_exit 0 statectl get rotate:app
assert_eq "$(cat "$OUT")" after-app-rotation "state commands (as app, by certificate) after app's rotation"
expect_exit 0 statectl secrets rotate replication --apply
wait_for 20 '[[ $(streaming) == 1 ]]' || fail "the standby stopped streaming"
pass "app and replication rotated; the standby keeps streaming"

rold=$(statectl secrets get redis)
expect_exit 0 statectl secrets rotate redis --apply -o json
assert_eq "$(json_get "$OUT" 'j["verified"]')" True "redis verified"
applied=$(json_get "$OUT" '"\n".join(j["applied"])')
# With ACL users "redis" is statectl-admin's password only (Sentinel has its own user).
[[ $applied == *"ACL SETUSER statectl-admin (old password removed); CONFIG REWRITE"* ]] || fail "no ACL SETUSER step"
rnew=$(statectl secrets get redis)
[[ $rnew != "$rold" ]] || fail "redis password unchanged"
# The stack has ACL users by default: "redis" is the password of statectl-admin.
stack_redis_acl || fail "the stack runs without Redis ACL users"
as_admin=(--user statectl-admin)
[[ $(REDISCLI_AUTH=$rnew rcli "$redis_port" "${as_admin[@]}" --no-auth-warning ping) == PONG ]] || fail "new redis password refused"
[[ $(REDISCLI_AUTH=$rold rcli "$redis_port" "${as_admin[@]}" --no-auth-warning ping 2>&1) != PONG ]] || fail "old redis password still works"
[[ $(REDISCLI_AUTH=$rnew rcli $((redis_port + 1)) "${as_admin[@]}" --no-auth-warning ping) == PONG ]] || fail "replica refuses the new password"
replica_linked() { REDISCLI_AUTH=$(statectl secrets get redis) rcli $((redis_port + 1)) "${as_admin[@]}" --no-auth-warning info replication | grep -q master_link_status:up; }
wait_until 15 replica_linked || fail "the replica lost its link to the master"
rcli "$sentinel_port" sentinel master mymaster | grep -qx "s_down,master\|o_down,master" && fail "sentinel sees the master down"
expect_exit 0 statectl redis-cli -- ping
assert_contains "$OUT" "PONG"
pass "redis: servers and sentinels take the new password; the replica stays linked"

# The other ACL users: the application's (state commands), replication's (masterauth) and
# Sentinel's (auth-pass), each live.
expect_exit 0 statectl put --backend redis rotate/key before
declare -A acl_old acl_new
for s in redis-app redis-replication redis-sentinel; do
  acl_old[$s]=$(statectl secrets get "$s")
  expect_exit 0 statectl secrets rotate "$s" --apply -o json
  assert_eq "$(json_get "$OUT" 'j["verified"]')" True "$s verified"
  acl_new[$s]=$(statectl secrets get "$s")
  [[ ${acl_new[$s]} != "${acl_old[$s]}" ]] || fail "$s unchanged"
done
applied=$(json_get "$OUT" '"\n".join(j["applied"])')
[[ $applied == *"SENTINEL SET mymaster auth-pass"* ]] || fail "no sentinel step for redis-sentinel"
[[ $(REDISCLI_AUTH=${acl_old[redis-app]} rcli "$redis_port" --user statectl-app --no-auth-warning ping 2>&1) != PONG ]] || fail "the old app password still works"
[[ $(REDISCLI_AUTH=${acl_new[redis-app]} rcli "$redis_port" --user statectl-app --no-auth-warning ping) == PONG ]] || fail "the new app password is refused"
expect_exit 0 statectl get --backend redis rotate/key
assert_eq "$(cat "$OUT")" before "state get after the app user's rotation"
# A replica that reconnects now must log in with the new replication password.
REDISCLI_AUTH=$(statectl secrets get redis) rcli $((redis_port + 1)) "${as_admin[@]}" --no-auth-warning client kill type master >/dev/null || true
wait_until 15 replica_linked || fail "the replica did not re-link with the new replication password"
grep -qF -- "${acl_new[redis-replication]}" "$TEST_DIR/state/redis-1/redis.conf" || fail "masterauth was not rewritten into redis.conf"
rcli "$sentinel_port" sentinel master mymaster | grep -qx "s_down,master\|o_down,master" && fail "sentinel sees the master down after its rotation"
pass "redis-app, redis-replication and redis-sentinel rotated live: state commands, the replica link and Sentinel work"

after=$(pids)
assert_eq "$after" "$before" "no server was restarted (pids)"
for mp in $after; do kill -0 "${mp#*=}" 2>/dev/null || fail "${mp%%=*} (pid ${mp#*=}) is not running"; done
pass "no downtime: every server kept its pid"

# No server log (nor anything statectl printed) contains any plaintext, old or new.
leaks=0
while IFS= read -r f; do
  for v in "$old" "$new" "$app" "$rold" "$rnew" "${acl_old[@]}" "${acl_new[@]}"; do
    grep -qF -- "$v" "$f" && { echo "LEAK in $f" >&2; leaks=$((leaks + 1)); }
  done
done < <(find "$TEST_DIR/state" -type f \( -name '*.log' -o -path '*/log/*' \); echo "$OUT"; echo "$ERR")
logs=$(find "$TEST_DIR/state" -type f \( -name '*.log' -o -path '*/log/*' \) | wc -l)
[[ $logs -ge 3 ]] || fail "expected server logs, found $logs"
grep -rqF "ALTER ROLE" "$TEST_DIR/state" --include='*.log' || grep -rqF "ALTER ROLE" "$TEST_DIR/state"/*/log 2>/dev/null || fail "log_statement=all did not log the ALTER ROLE (test is not proving anything)"
[[ $leaks == 0 ]] || fail "$leaks plaintext passwords in server logs"
pass "no plaintext in $logs server log files (log_statement = all)"

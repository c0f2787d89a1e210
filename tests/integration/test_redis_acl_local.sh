#!/usr/bin/env bash
# Redis ACL users on the local stack (the default): the default user cannot log in; the
# application user (statectl's state commands) reaches only [state] key_prefix keys and only the
# state backend's commands (CONFIG, FLUSHALL, KEYS, ACL: NOPERM); the replication and Sentinel
# users keep replication and a Sentinel failover working; operational commands log in as
# statectl-admin; a stack deployed without ACL users is not switched by deploy (exit 2).
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null || skip "redis-server or redis-sentinel missing"

start_stack $'[state]\nkey_prefix = "app1:"\n[redis]\ndown_after = "1s"\nfailover_timeout = "5s"'
stack_redis_acl || fail "stack.json does not record redis_acl = true"
pass "deploy brings the stack up with Redis ACL users"

m=$(port 30)
# --- the config files: 0600, no user's password in plaintext ----------------------------------
for f in stack/redis-0/redis.conf stack/redis-1/redis.conf stack/sentinel-0/sentinel.conf; do
  assert_eq "$(stat -c %a "$f")" 600 "$f mode"
done
grep -q '^user default off ' stack/redis-0/redis.conf || fail "redis.conf does not switch the default user off"
for s in redis redis-app redis-sentinel; do
  grep -qF -- "$(cat "stack/secrets/$s")" stack/redis-0/redis.conf && fail "redis.conf holds the $s password in plaintext"
done
grep -q '^masteruser statectl-replication$' stack/redis-1/redis.conf || fail "the replica does not log in as the replication user"
grep -q 'sentinel auth-user mymaster statectl-sentinel' stack/sentinel-0/sentinel.conf || fail "Sentinel does not log in as its user"
pass "configs are 0600, users' passwords only as SHA-256, default off, masteruser and auth-user set"

# --- the default user ---------------------------------------------------------------------------
run rcli "$m" PING
assert_contains "$OUT" "NOAUTH"
REDISCLI_AUTH=$(cat stack/secrets/redis) run rcli "$m" --no-auth-warning PING
assert_contains "$ERR" "WRONGPASS"
assert_not_contains "$OUT" "PONG"
pass "the default user cannot log in (no password: NOAUTH; the old stack password: WRONGPASS)"

# --- the application user -----------------------------------------------------------------------
app() { rcli_user statectl-app redis-app "$m" "$@"; }
assert_eq "$(app PING 2>&1)" PONG "app user logs in"
assert_eq "$(app SET app1:mine v1)" OK "SET inside the prefix"
assert_eq "$(app GET app1:mine)" v1 "GET inside the prefix"
assert_eq "$(rcli_auth "$m" SET other:secret s1)" OK "admin writes a key outside the prefix"
for cmd in "GET other:secret" "SET other:x 1" "DEL other:secret" "CONFIG GET maxmemory" "CONFIG SET maxmemory 1" "FLUSHALL" \
  "FLUSHDB" "KEYS *" "KEYS app1:*" "ACL LIST" "SHUTDOWN NOSAVE" "REPLICAOF NO ONE" "CLIENT LIST" "SUBSCRIBE x"; do
  read -ra args <<<"$cmd" # split without pathname expansion ("KEYS *")
  out=$(app "${args[@]}" 2>&1 | head -3)
  [[ $out == *NOPERM* ]] || fail "the app user ran '$cmd': $out"
done
out=$(app EVAL "return redis.call('GET', 'other:secret')" 0 2>&1)
[[ $out == *NOPERM* || $out == *"can't access"* ]] || fail "a script of the app user read outside the prefix: $out"
assert_eq "$(rcli_auth "$m" GET other:secret)" s1 "the key outside the prefix is untouched"
pass "app user: own prefix only; GET/SET/DEL outside, CONFIG, FLUSHALL, FLUSHDB, KEYS, ACL, SHUTDOWN, CLIENT, scripts outside: NOPERM"

# --- statectl's state commands run as the application user -----------------------------------
expect_exit 0 statectl put --backend redis k1 hello --ttl 1h
expect_exit 0 statectl get --backend redis k1
assert_eq "$(cat "$OUT")" hello "get"
assert_eq "$(rcli_auth "$m" GET app1:k1)" hello "the value is under [state] key_prefix"
printf 'b1\tone\nb2\ttwo\n' >batch.tsv
expect_exit 0 statectl put --backend redis --batch batch.tsv
expect_exit 0 statectl keys --backend redis
assert_eq "$(tr '\n' ' ' <"$OUT")" "b1 b2 k1 mine " "keys lists the prefix only"
expect_exit 0 statectl ttl --backend redis k1
expect_exit 0 statectl lock --backend redis acl-lock --ttl 5s -- sh -c 'echo "$STATECTL_LOCK_TOKEN"'
assert_eq "$(cat "$OUT")" 1 "fencing token"
expect_exit 0 statectl checkpoint create --backend redis --name before-del -o json
id=$(json_get "$OUT" 'j["id"]')
expect_exit 0 statectl del --backend redis b1 b2
expect_exit 0 statectl checkpoint restore --backend redis "$id"
expect_exit 0 statectl get --backend redis b2
assert_eq "$(cat "$OUT")" two "checkpoint restore (SCAN in the script, no KEYS)"
assert_eq "$(rcli_auth "$m" GET other:secret)" s1 "checkpoint restore left keys outside the prefix alone"
# With the application user switched off, state commands fail and operational ones still work.
rcli_auth "$m" ACL SETUSER statectl-app off >/dev/null
expect_exit 3 env STATECTL_STATE_CONNECT_RETRIES=1 "$STATECTL" get --backend redis k1
assert_contains "$ERR" "statectl: error: "
expect_exit 0 statectl status
expect_exit 0 statectl backup create --backend redis
run statectl capacity check -o json
[[ $(json_get "$OUT" '[c["status"] for c in j["checks"] if c["name"] == "redis_memory"][0]') != unknown ]] ||
  fail "capacity check did not reach Redis as statectl-admin: $(cat "$OUT")"
expect_exit 0 statectl redis-cli -- ACL WHOAMI
assert_eq "$(cat "$OUT")" statectl-admin "redis-cli logs in as the admin user"
rcli_auth "$m" ACL SETUSER statectl-app on >/dev/null
expect_exit 0 statectl get --backend redis k1
pass "get/put/batch/keys/ttl/lock/checkpoint run as statectl-app; status, backup create, capacity check and redis-cli as statectl-admin"

# --- replication and a Sentinel failover ------------------------------------------------------
wait_for 15 '[[ $(rcli_auth $(port 31) INFO replication | grep -c master_link_status:up) == 1 ]]' ||
  fail "the replica is not linked to the master"
expect_exit 0 statectl failover switchover --backend redis -o json
assert_eq "$(json_get "$OUT" 'j["new_primary"]')" redis-1 "Sentinel promoted the replica"
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy after the switchover"
wait_for 30 '[[ $(rcli_auth $m INFO replication | grep -c master_link_status:up) == 1 ]]' ||
  fail "the old master did not re-link as a replica (replication user)"
expect_exit 0 statectl put --backend redis after switched
expect_exit 0 statectl get --backend redis k1
pass "replication (statectl-replication) and a Sentinel switchover (statectl-sentinel) work; state commands follow the new master"

# --- migration: deploy does not switch a running stack's ACL mode ------------------------------
expect_exit 2 env STATECTL_REDIS_ACL=false "$STATECTL" deploy
assert_contains "$ERR" "runs Redis with ACL users"
assert_contains "$ERR" "set [redis] acl = true to keep it as it is"
# A stack recorded as deployed before ACLs (no redis_acl in stack.json) with today's default.
cp stack/stack.json stack.json.saved
python3 - stack/stack.json <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
del j["redis_acl"]
json.dump(j, open(sys.argv[1], "w"), indent=2)
PY
expect_exit 2 statectl deploy
assert_contains "$ERR" "runs Redis without ACL users"
assert_contains "$ERR" "the config says [redis] acl = true (the default)"
assert_contains "$ERR" "set [redis] acl = false to keep it as it is"
cp stack.json.saved stack/stack.json
expect_exit 0 statectl status
pass "deploy refuses to switch a running stack's ACL mode (exit 2, with the fix)"

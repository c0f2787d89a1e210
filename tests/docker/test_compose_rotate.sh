#!/usr/bin/env bash
# secrets rotate --apply on the compose target, real engine: each stack password changes inside
# the running containers (no restart), fresh logins through the published ports take the new
# value and refuse the old one, a redeploy keeps the containers on the new values, and a
# rotation whose PgBouncer step fails is undone (store and servers back on the old value).
# Passwords are compared, never printed.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/docker_lib.sh"

# The redis rotation here is the requirepass one: --apply refuses the ACL users' passwords on
# compose (test_compose_stack covers the ACL users).
compose_stack "$(printf '[redis]\nacl = false')"
STATE="$TEST_DIR/.statectl"
F="$STATE/compose/docker-compose.yml"
SECRETS="$STATE/compose/secrets"
dc() { docker-compose -p "$PROJECT" -f "$F" "$@"; }
# login PORT ROLE PASSWORD [DB]: exit 0 when a fresh login works.
login() {
  local sql='SELECT 1'
  [[ ${4:-} == pgbouncer ]] && sql='SHOW VERSION' # PgBouncer's admin console
  PGPASSWORD=$3 PGCONNECT_TIMEOUT=5 PGSSLMODE=verify-full PGSSLROOTCERT="$SECRETS/ca.crt" psql -X -h 127.0.0.1 -p "$1" -U "$2" -d "${4:-postgres}" -qtAc "$sql" >/dev/null 2>&1
}
redis_ping() { REDISCLI_AUTH=$2 redis-cli --no-auth-warning --tls --cacert "$SECRETS/ca.crt" -p "$1" ping 2>/dev/null; }
started() { docker inspect --format '{{.State.StartedAt}}' $(docker ps -q --filter "label=com.docker.compose.project=$PROJECT") | sort; }
no_secret_in() { local v=$1; shift; ! grep -qF -- "$v" "$@" || fail "a password in $*"; }

expect_exit 0 statectl deploy --wait --timeout 300s
before=$(started)
pass "deployed"

# 1. The PostgreSQL roles, one after the other.
for s in postgres app pgbouncer replication; do
  old=$(cat "$SECRETS/$s")
  expect_exit 0 statectl secrets rotate "$s" --apply
  new=$(cat "$SECRETS/$s")
  [[ $new != "$old" ]] || fail "secrets/$s did not change"
  [[ $(statectl secrets get "$s") == "$new" ]] || fail "the store and secrets/$s differ after the rotation of $s"
  no_secret_in "$new" "$OUT" "$ERR"
  no_secret_in "$old" "$OUT" "$ERR"
  case $s in
  postgres) role=postgres ;; app) role=app ;; pgbouncer) role=pgbouncer ;; replication) role=replicator ;;
  esac
  assert_contains "$ERR" "ALTER ROLE $role PASSWORD (SCRAM verifier computed by statectl)"
  login "$(port 0)" "$role" "$new" || fail "$role: the new password is refused by postgres-primary"
  ! login "$(port 0)" "$role" "$old" || fail "$role: the old password still works on postgres-primary"
  if [[ $s != replication ]]; then
    db=postgres; [[ $s == pgbouncer ]] && db=pgbouncer
    login "$(port 20)" "$role" "$new" "$db" || fail "$role: the new password is refused by PgBouncer"
    ! login "$(port 20)" "$role" "$old" "$db" || fail "$role: the old password still works through PgBouncer"
  fi
done
# The standby reconnects with the new replication password (its passfile was updated in place).
dc exec -T postgres-primary psql -X -U postgres -qtAc "SELECT pg_terminate_backend(pid) FROM pg_stat_replication" >/dev/null
streaming() { dc exec -T postgres-primary psql -X -U postgres -tAc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" | tr -d '\r'; }
wait_for 60 '[[ $(streaming) == 1 ]]' || fail "the standby does not stream again with the new replication password"
pass "postgres, app, pgbouncer, replication rotated in the running containers: new logins work, old ones are refused, the standby reconnects"

# 2. Redis: the master, the replica, the Sentinels and the health checks.
old=$(cat "$SECRETS/redis")
expect_exit 0 statectl secrets rotate redis --apply
new=$(cat "$SECRETS/redis")
[[ $new != "$old" ]] || fail "secrets/redis did not change"
no_secret_in "$new" "$OUT" "$ERR"
assert_contains "$ERR" "SENTINEL SET mymaster auth-pass"
assert_eq "$(redis_ping "$(port 30)" "$new")" PONG "redis-master with the new password"
[[ $(redis_ping "$(port 30)" "$old") != PONG ]] || fail "redis-master still takes the old password"
assert_eq "$(dc exec -T redis-replica sh -c 'REDISCLI_AUTH="$(cat /tmp/redis.pass)" redis-cli --no-auth-warning --tls --cacert /run/secrets/ca.crt info replication' | tr -d '\r' | grep '^master_link_status')" "master_link_status:up" "the replica's link to the master"
pass "redis rotated on the master, the replica and the Sentinels"

# 3. Nothing restarted, every health check passes, and the processes never saw a password in argv.
assert_eq "$(started)" "$before" "container start times (nothing restarted)"
healthy() { [[ -z $(docker ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Status}}' | grep -v '(healthy)') ]]; }
sleep 6 # one health check interval
wait_for 60 healthy || { docker ps -a --filter "label=com.docker.compose.project=$PROJECT" >&2; fail "containers are not healthy after the rotations"; }
for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null <"$p/cmdline" && echo; done >cmdlines
for s in postgres app pgbouncer replication redis; do no_secret_in "$(cat "$SECRETS/$s")" cmdlines; done
expect_exit 0 statectl status
pass "no container restarted, all healthy, no password on a command line"

# 4. A redeploy keeps the running containers on the new values; the state commands log in.
expect_exit 0 statectl deploy --wait --timeout 300s
login "$(port 20)" postgres "$(cat "$SECRETS/postgres")" || fail "superuser login through PgBouncer after the redeploy"
login "$(port 20)" app "$(cat "$SECRETS/app")" || fail "app login through PgBouncer after the redeploy"
assert_eq "$(redis_ping "$(port 30)" "$(cat "$SECRETS/redis")")" PONG "redis-master after the redeploy"
expect_exit 0 statectl put rotated-key v1
expect_exit 0 statectl get rotated-key
assert_eq "$(cat "$OUT")" v1 "get after the redeploy"
pass "a redeploy after the rotations keeps the containers on the new passwords; put/get work"

# 5. A failing step is undone: PgBouncer cannot take a new auth file, so the store and the
# primary go back to the old value.
old=$(cat "$SECRETS/app")
dc exec -T pgbouncer chmod 0500 /tmp/pgbouncer
expect_exit 4 statectl secrets rotate app --apply
dc exec -T pgbouncer chmod 0700 /tmp/pgbouncer
assert_contains "$ERR" "the servers and the store were put back to the old value"
[[ $(cat "$SECRETS/app") == "$old" ]] || fail "secrets/app is not the old value after the undo"
[[ $(statectl secrets get app) == "$old" ]] || fail "the store does not hold the old value after the undo"
login "$(port 0)" app "$old" || fail "postgres-primary does not take the old app password after the undo"
login "$(port 20)" app "$old" || fail "PgBouncer does not take the old app password after the undo"
no_secret_in "$old" "$OUT" "$ERR"
pass "a rotation whose PgBouncer step fails is undone: store, secret file and servers keep the old value"

# 6. destroy keeps only the two named volumes, destroy --purge leaves nothing.
expect_exit 0 statectl destroy --timeout 20s
left=$(project_objects)
assert_eq "$(grep -v '^volume ' <<<"$left" | grep -c . || true)" 0 "containers or networks left by destroy: $left"
assert_eq "$(grep '^volume ' <<<"$left" | sort -u | tr '\n' ' ')" "volume ${PROJECT}_postgres-primary-data volume ${PROJECT}_redis-master-data " "volumes left by destroy (the two named ones)"
expect_exit 0 statectl destroy --purge --timeout 20s
assert_eq "$(project_objects)" "" "objects left by destroy --purge"
pass "destroy keeps the two named volumes only; destroy --purge leaves no container, network or volume"

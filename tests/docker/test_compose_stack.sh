#!/usr/bin/env bash
# The compose target on a real Docker engine (stand-in images, tests/docker/README.md): first
# deploy --wait, TLS only on every published port (plain-text logins refused, TLS 1.3 verified
# against statectl's CA), logins through the published PgBouncer port, a second deploy that changes
# nothing, status, psql / redis-cli (--replica too), scale, a bad image and an unhealthy render
# rolled back, destroy keeping only the named volumes, destroy --purge leaving nothing.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/docker_lib.sh"

compose_stack
STATE="$TEST_DIR/.statectl"
F="$STATE/compose/docker-compose.yml"
SECRETS="$STATE/compose/secrets"
dc() { docker-compose -p "$PROJECT" -f "$F" "$@"; }
# id, image and start time of every container of the project, sorted.
containers() {
  local c
  c=$(docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT")
  [[ -z $c ]] || docker inspect --format '{{.Id}} {{.Config.Image}} {{.State.StartedAt}}' $c | sort
}
# psql through the published PgBouncer port as ROLE (password from the compose secret file, in
# the environment only), verifying the server against the stack's CA.
bouncer_sql() {
  local role=$1 secret=$2 sql=$3 port=${4:-$(port 20)}
  PGPASSWORD=$(cat "$SECRETS/$secret") PGCONNECT_TIMEOUT=5 PGSSLMODE=verify-full PGSSLROOTCERT="$SECRETS/ca.crt" \
    psql -X -h 127.0.0.1 -p "$port" -U "$role" -d postgres -tAc "$sql"
}
# The same login in plain text (sslmode=disable); prints the server's answer.
plain_sql() {
  PGPASSWORD=$(cat "$SECRETS/$2") PGCONNECT_TIMEOUT=5 PGSSLMODE=disable psql -X -h 127.0.0.1 -p "$1" -U postgres -d postgres -tAc 'SELECT 1' 2>&1 || true
}
# openssl s_client against 127.0.0.1:PORT (ARGS: -starttls postgres), trusting only the stack's CA
# and checking the certificate names 127.0.0.1: the negotiated protocol and the verification result.
tls_handshake() {
  local port=$1
  shift
  openssl s_client "$@" -connect "127.0.0.1:$port" -CAfile "$SECRETS/ca.crt" -verify_ip 127.0.0.1 -verify_return_error </dev/null 2>&1 |
    grep -E '^(New, |Verify return code:)' | sed 's/, Cipher is.*//' | sort -u | paste -sd ' '
}

# 1. First deploy.
expect_exit 0 statectl deploy --wait --timeout 300s
assert_contains "$OUT" "verified postgres_streaming: 1/1"
assert_contains "$OUT" "verified sentinel_master:"
assert_eq "$(containers | wc -l)" 8 "containers (primary, standby, pgbouncer, redis master and replica, 3 sentinels)"
for s in postgres replication app pgbouncer redis ca.crt tls.crt tls.key; do
  assert_eq "$(stat -c '%a %u' "$SECRETS/$s")" "400 999" "mode and owner of the secret file $s"
done
assert_eq "$(stat -c %a "$SECRETS")" 700 "mode of the secrets directory"
assert_eq "$(bouncer_sql postgres postgres 'SELECT 1')" 1 "superuser login through PgBouncer"
assert_eq "$(bouncer_sql app app 'SELECT current_user')" app "application login through PgBouncer"
assert_eq "$(dc exec -T postgres-primary psql -U postgres -tAc 'SHOW synchronous_standby_names')" "ANY 1 (*)" "synchronous_standby_names"
assert_eq "$(dc exec -T postgres-replica sh -c 'stat -c %a "$PGDATA"')" 700 "mode of the standby's data directory"
for svc in postgres-primary postgres-replica pgbouncer redis-master redis-replica redis-sentinel; do
  assert_eq "$(dc exec -T $svc awk '/^Uid:/ {print $2}' /proc/1/status)" 999 "uid of the server process in $svc"
done
pass "deploy --wait brings the default stack up: 8 containers, roles with passwords, synchronous standby, uid 999, secrets 0400"

# TLS only: a plain-text login is refused on every published port; TLS 1.3 with the certificate
# of statectl's CA (it names 127.0.0.1) on each.
out=$(plain_sql "$(port 0)" postgres)
[[ $out == *"pg_hba.conf rejects connection"*"no encryption"* ]] || fail "a plain-text login to PostgreSQL: $out"
out=$(plain_sql "$(port 20)" postgres)
[[ $out != 1 && $out == *SSL* ]] || fail "a plain-text login through PgBouncer: $out"
for p in "$(port 30)" "$(port 50)"; do
  out=$(REDISCLI_AUTH=$(cat "$SECRETS/redis") timeout 10 redis-cli --no-auth-warning -p "$p" ping 2>&1 || true)
  [[ $out != *PONG* ]] || fail "a plain-text redis-cli got an answer on port $p: $out"
done
expected="New, TLSv1.3 Verify return code: 0 (ok)"
assert_eq "$(tls_handshake "$(port 0)" -starttls postgres)" "$expected" "openssl s_client -starttls postgres to PostgreSQL"
assert_eq "$(tls_handshake "$(port 20)" -starttls postgres)" "$expected" "openssl s_client -starttls postgres to PgBouncer"
assert_eq "$(tls_handshake "$(port 30)")" "$expected" "openssl s_client to Redis"
assert_eq "$(tls_handshake "$(port 50)")" "$expected" "openssl s_client to a Sentinel"
assert_eq "$(REDISCLI_AUTH=$(cat "$SECRETS/redis") redis-cli --no-auth-warning --tls --cacert "$SECRETS/ca.crt" --user statectl-admin -p "$(port 30)" ping)" PONG \
  "redis-cli --tls to Redis"
assert_eq "$(redis-cli --tls --cacert "$SECRETS/ca.crt" -p "$(port 50)" ping)" PONG "redis-cli --tls to a Sentinel"
# Inside the stack: the standby streams and PgBouncer reaches PostgreSQL over TLS 1.3.
assert_eq "$(dc exec -T postgres-primary psql -U postgres -tAc "SELECT s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)" | tr -d '\r')" \
  "t|TLSv1.3" "the standby's replication connection"
assert_eq "$(bouncer_sql app app 'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()')" "t|TLSv1.3" \
  "PgBouncer's server connection to PostgreSQL"
assert_eq "$(dc exec -T redis-replica sh -c 'REDISCLI_AUTH="$(cat /tmp/redis.pass)" redis-cli --no-auth-warning --tls --cacert /run/secrets/ca.crt --user statectl-admin info replication' | tr -d '\r' | grep '^master_link_status')" \
  "master_link_status:up" "the Redis replica's link (TLS replication)"
# statectl's own clients (verify-full / CA pinning on the published ports): state commands on both
# backends, through PgBouncer and at the master the Sentinels name.
expect_exit 0 statectl put tls/check over-tls
expect_exit 0 statectl get tls/check
assert_eq "$(cat "$OUT")" over-tls "get through PgBouncer"
expect_exit 0 statectl put --backend redis tls/check over-tls
expect_exit 0 statectl get --backend redis tls/check
assert_eq "$(cat "$OUT")" over-tls "get from Redis"
pass "TLS only: plain-text logins to PostgreSQL, PgBouncer, Redis and Sentinel refused; TLS 1.3 verified on each, replication and statectl's clients over TLS"

# The README's example of a client outside the stack ("Compose is TLS only by default"), as
# written but for the default ports, which become this test's.
python3 - "$STATECTL_SOURCE_DIR/README.md" >readme-tls.sh <<'PY'
import re, sys
m = re.search(r"test_compose_stack\.sh runs this block[^\n]*\n```sh\n(.*?)\n```", open(sys.argv[1], encoding="utf-8").read(), re.S)
print(m.group(1) if m else "exit 99")
PY
sed -i -e "s/-p 16432/-p $(port 20)/; s/-p 16379/-p $(port 30)/; s/-p 16389/-p $(port 50)/" readme-tls.sh
mkdir -p readme-bin && ln -sf "$STATECTL" readme-bin/statectl
PATH="$TEST_DIR/readme-bin:$PATH" bash -e readme-tls.sh >readme-tls.out 2>&1 || fail "the README's TLS client example: $(cat readme-tls.out)"
assert_eq "$(sed -n 1,2p readme-tls.out | paste -sd ' ')" "1 PONG" "the README's psql and redis-cli over TLS"
assert_eq "$(sed -n 4p readme-tls.out)" 6379 "the README's Sentinel query over TLS"
cmp -s ca.crt "$SECRETS/ca.crt" || fail "secrets get ca.crt is not the CA the stack mounts"
pass "the README's TLS client example runs as written (ports aside)"

# Redis ACL users ([redis] acl, the default): the default user is off, the application user
# reaches its prefix's keys only and none of the administrative commands; the replica and the
# Sentinels log in as their own users (the replica's link is up, Sentinel knows the master).
# says OUTPUT TEXT: the output of a command holds TEXT (assert_contains takes a file).
says() { [[ $1 == *"$2"* ]] || fail "expected '$2' in the answer '$1'"; }
racl() { REDISCLI_AUTH=$(statectl secrets get "$1") redis-cli --no-auth-warning --tls --cacert "$SECRETS/ca.crt" -p "$(port 30)" --user "$2" "${@:3}" 2>&1; }
says "$(REDISCLI_AUTH=$(cat "$SECRETS/redis") redis-cli --no-auth-warning --tls --cacert "$SECRETS/ca.crt" -p "$(port 30)" ping 2>&1)" "WRONGPASS"
says "$(redis-cli --tls --cacert "$SECRETS/ca.crt" -p "$(port 30)" get x 2>&1)" "NOAUTH"
says "$(redis-cli --tls --cacert "$SECRETS/ca.crt" -p "$(port 30)" ping 2>&1)" "NOAUTH"
assert_eq "$(racl redis-app statectl-app get statectl:tls/check)" over-tls "the app user reads its prefix"
assert_eq "$(racl redis-app statectl-app set statectl:acl/check written)" OK "the app user writes its prefix"
assert_eq "$(racl redis-app statectl-app get statectl:acl/check)" written "the app user reads its write back"
says "$(racl redis-app statectl-app get other:key)" "NOPERM"
says "$(racl redis-app statectl-app set other:key v)" "NOPERM"
says "$(racl redis-app statectl-app config get maxmemory)" "NOPERM"
says "$(racl redis-app statectl-app flushall)" "NOPERM"
assert_eq "$(racl redis statectl-admin acl whoami)" statectl-admin "the admin user"
[[ $(grep -c '^user ' "$SECRETS/redis-acl") == 5 ]] || fail "redis-acl does not hold 5 users"
! grep -qF -- "$(statectl secrets get redis-app)" "$SECRETS/redis-acl" || fail "a plain password in redis-acl"
pass "Redis ACL users: default user off, the app user limited to its prefix and the state commands, admin for operations"

# The passwords never reached a command line: not in the containers' or the host's processes
# (the containers' processes are the host's too; a snapshot first, so the check's own grep is
# not in it).
for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null <"$p/cmdline" && echo; done >cmdlines
[[ $(grep -c 'redis-server\|postgres\|pgbouncer' cmdlines) -ge 5 ]] || fail "the process snapshot misses the servers"
for s in postgres replication app pgbouncer redis; do
  v=$(cat "$SECRETS/$s")
  ! grep -qF -- "$v" "$OUT" "$ERR" || fail "secret $s in deploy's output"
  ! grep -qF -- "$v" cmdlines || fail "secret $s on a command line"
done
pass "no password in deploy's output or on any command line"

# 2. A second deploy changes nothing: same containers, same start times.
before=$(containers)
expect_exit 0 statectl -o json deploy --wait --timeout 300s
assert_eq "$(json_get "$OUT" 'j["verified"]')" True "verified"
assert_eq "$(containers)" "$before" "containers after a second deploy"
pass "a second deploy with the same config recreates nothing"

# 3. status.
expect_exit 0 statectl -o json status
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy"
assert_eq "$(json_get "$OUT" 'len(j["components"])')" 8 "components"
assert_eq "$(json_get "$OUT" 'sorted(set(c["role"] for c in j["components"]))')" "['master', 'pooler', 'primary', 'replica', 'sentinel']" "roles"
assert_eq "$(json_get "$OUT" '[s["state"] for s in j["replication"]["standbys"]]')" "['streaming']" "standbys"
pass "status reports every container healthy and the standby streaming"

# 4. psql and redis-cli inside the containers.
expect_exit 0 statectl psql -- -tAc 'SELECT pg_is_in_recovery()'
assert_eq "$(cat "$OUT")" f "psql on the primary"
expect_exit 0 statectl psql --replica -- -tAc 'SELECT pg_is_in_recovery()'
assert_eq "$(cat "$OUT")" t "psql --replica"
expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -qc 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$survives destroy$$)'
expect_exit 1 statectl psql --replica -- -v ON_ERROR_STOP=1 -qc 'INSERT INTO kept VALUES (1)'
assert_contains "$ERR" "read-only transaction"
expect_exit 0 statectl redis-cli -- set greeting hello
assert_eq "$(cat "$OUT")" OK "redis-cli set"
wait_for 20 '[[ $(statectl redis-cli --replica -- get greeting) == hello ]]' || fail "the Redis replica never saw the write"
expect_exit 0 statectl redis-cli --replica -- info replication
assert_contains "$OUT" "role:slave"
pass "psql and redis-cli reach the primary/master and, with --replica, a read-only standby/replica"

# A service whose container is gone is reported, and the next deploy brings it back.
docker rm -f -v $(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter label=com.docker.compose.service=redis-replica) >/dev/null
expect_exit 1 statectl -o json status
assert_eq "$(json_get "$OUT" '[(c["name"], c["ready"], c["healthy"]) for c in j["components"] if c["name"] == "redis-replica"]')" \
  "[('redis-replica', 'missing', False)]" "the service without a container"
assert_contains "$OUT" "redis-replica: no container"
expect_exit 0 statectl deploy --wait --timeout 300s
expect_exit 0 statectl status
pass "status reports a service that has no container (exit 1); deploy recreates it"

# 5. scale.
expect_exit 0 statectl scale postgres --replicas 2 --timeout 300s
wait_for 60 '[[ $(statectl psql -- -tAc "SELECT count(*) FROM pg_stat_replication WHERE state = '"'streaming'"'") == 2 ]]' ||
  fail "2 standbys do not stream after scale"
expect_exit 0 statectl scale pooler --replicas 2 --timeout 120s
assert_eq "$(bouncer_sql app app 'SELECT 1' "$(port 21)")" 1 "login through the second pooler's port"
expect_exit 0 statectl scale redis --replicas 2 --timeout 120s
wait_for 30 '[[ $(statectl redis-cli -- info replication | grep -c "^slave[0-9]") == 2 ]]' || fail "2 Redis replicas do not connect"
expect_exit 0 statectl scale postgres --replicas 1 --timeout 120s
assert_eq "$(anonymous_leftovers)" "" "anonymous volumes left by the scale-down"
expect_exit 0 statectl -o json status
assert_eq "$(json_get "$OUT" '[c["role"] for c in j["components"]].count("replica")')" 3 "standbys + Redis replicas after scaling down"
pass "scale postgres, pooler and redis up and down on the engine"

# 6. A bad image: up fails, the previous render comes back.
before=$(containers)
printf '\n[redis]\nimage = "statectl-test/no-such-image:1"\n' >>"$STACK_CONFIG"
expect_exit 4 statectl deploy --wait --timeout 120s
assert_contains "$ERR" "rolled back to the previous render"
assert_not_contains "$F" "no-such-image"
expect_exit 0 statectl status
pass "a deploy with an image that does not exist is rolled back; the stack stays healthy"

# 7. An unhealthy render (PgBouncer's health check asks the wrong port): rolled back.
sed -i '/no-such-image/d' "$STACK_CONFIG"
mkdir -p tpl
cp -r "$STATECTL_SOURCE_DIR/templates/compose" tpl/
sed -i 's/"-p", "6432"/"-p", "6433"/' tpl/compose/docker-compose.yml
grep -q '"6433"' tpl/compose/docker-compose.yml || fail "the broken template was not made"
printf '\n[templates]\ndir = "%s"\n' "$TEST_DIR/tpl" >>"$STACK_CONFIG"
expect_exit 1 statectl deploy --wait --timeout 45s
assert_contains "$ERR" "was not healthy within"
assert_contains "$ERR" "rolled back to the previous render"
assert_not_contains "$F" '"6433"' 
sed -i '/^\[templates\]/,$d' "$STACK_CONFIG"
wait_for 60 '[[ $(bouncer_sql app app "SELECT 1") == 1 ]]' || fail "PgBouncer does not answer after the rollback"
pass "a deploy whose containers do not become healthy is rolled back to the previous render"

# 8. destroy keeps the named volumes only; a new deploy finds the data; --purge leaves nothing.
expect_exit 0 statectl destroy --timeout 20s
left=$(project_objects)
assert_eq "$(grep -v '^volume ' <<<"$left" | grep -c . || true)" 0 "containers or networks left by destroy: $left"
assert_eq "$(grep '^volume ' <<<"$left" | sort -u | tr '\n' ' ')" "volume ${PROJECT}_postgres-primary-data volume ${PROJECT}_redis-master-data " "volumes left by destroy (the two named ones)"
expect_exit 0 statectl deploy --wait --timeout 300s
expect_exit 0 statectl psql -- -tAc 'SELECT v FROM kept'
assert_eq "$(cat "$OUT")" "survives destroy" "data after destroy and deploy"
expect_exit 0 statectl destroy --purge --timeout 20s
assert_eq "$(project_objects)" "" "objects left by destroy --purge"
[[ ! -e $STATE/compose ]] || fail "--purge left the render"
pass "destroy removes containers, networks and anonymous volumes; --purge the named volumes and the render too"

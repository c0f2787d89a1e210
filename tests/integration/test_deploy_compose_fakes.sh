#!/usr/bin/env bash
# deploy/scale --target compose against a recording fake `docker`: the exact command sequence of
# a successful deploy, a failed verify that rolls back, --dry-run, scale, a missing binary, and
# that no secret value reaches the rendered tree, argv or output.
source "$(dirname "$0")/lib.sh"
source "$STATECTL_SOURCE_DIR/tests/fakes/lib.sh"
cd "$TEST_DIR"

fake_tools bin docker
FAKE_PATH="$(fake_path "$TEST_DIR/bin")"
# Only statectl (and the fakes it runs) see the fake PATH: no real docker/kubectl/terraform.
statectl() { PATH="$FAKE_PATH" "$STATECTL" "$@"; }
export FAKE_LOG="$TEST_DIR/calls.log" FAKE_SCENARIO="$TEST_DIR/scenario"
STATE="$TEST_DIR/.statectl"
F="-p statectl -f $STATE/compose/docker-compose.yml"
printf '[project]\ntarget = "compose"\n' >statectl.toml

# A healthy stack: 2 containers healthy, 1 standby streaming, Sentinel knows the master.
healthy_scenario() {
  {
    printf 'docker * ps -q postgres-primary\t0\tc1\n'
    printf 'docker * ps -q\t0\tc1\\nc2\n'
    printf 'docker inspect *\t0\t/statectl-postgres-primary-1 healthy\\n/statectl-redis-sentinel-1 running\n'
    printf "docker * exec -T postgres-primary psql * -tAc *\t0\t%s\n" "${1:-1}"
    printf 'docker * exec -T redis-sentinel redis-cli *\t0\t172.18.0.3\\n6379\n'
  } >"$FAKE_SCENARIO"
}

healthy_scenario 1
expect_exit 0 statectl deploy --timeout 20s
cat >expected <<EXP
docker compose version
docker compose $F config -q
docker compose $F up -d --remove-orphans
docker compose $F ps -q postgres-primary
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c1
docker compose $F exec -T postgres-primary psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres
docker compose $F ps -q
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c1 c2
docker compose $F exec -T postgres-primary psql -U postgres -d postgres -v ON_ERROR_STOP=1 -qc 'CREATE TABLE IF NOT EXISTS statectl_deploy_check (id int PRIMARY KEY, at timestamptz NOT NULL); INSERT INTO statectl_deploy_check VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at'
docker compose $F exec -T postgres-primary psql -U postgres -d postgres -tAc 'SELECT count(*) FROM pg_stat_replication WHERE state = '\''streaming'\'''
docker compose $F exec -T redis-sentinel redis-cli --tls --cacert /run/secrets/ca.crt --user statectl-admin -p 26379 sentinel get-master-addr-by-name mymaster
EXP
fake_calls >actual
cp "$ERR" deploy.err
diff -u expected actual >&2 || fail "unexpected command sequence for a successful compose deploy"
assert_contains "$OUT" "verified postgres_streaming: 1/1"
assert_contains "$OUT" "verified sentinel_master: 172.18.0.3:6379"
pass "successful deploy runs validate, up, health wait and the three verify checks, in order"

for s in postgres replication app pgbouncer redis; do
  f="$STATE/compose/secrets/$s"
  [[ -s $f ]] || fail "secret file $f missing"
  assert_eq "$(stat -c '%a %u:%g' "$f")" "400 999:999" "mode and owner of $f (the containers' uid)"
  v=$(cat "$f")
  ! grep -rqF --exclude-dir=secrets -- "$v" "$STATE/compose" || fail "secret $s appears in the rendered tree"
  ! grep -qF -- "$v" "$FAKE_LOG" "$OUT" "$ERR" || fail "secret $s appears in argv or output"
  ! grep -qF -- "$v" "$FAKE_LOG".stdin.* || fail "secret $s reached the primary's SQL in plaintext"
done
assert_eq "$(stat -c %a "$STATE/compose/secrets")" 700 "mode of the secrets directory"
grep -q 'file: ./secrets/postgres' "$STATE/compose/docker-compose.yml" || fail "compose secrets not referenced"
sql=$(cat "$FAKE_LOG".stdin.*)
assert_eq "$(grep -c "PASSWORD 'SCRAM-SHA-256\$4096:" <<<"$sql")" 4 "roles given SCRAM verifiers"
grep -qF "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (*)';" <<<"$sql" || fail "synchronous_standby_names not set after the roles"
pass "secret files are 0400 for uid 999 in a 0700 directory; roles get SCRAM verifiers on stdin; no secret value in the rendered tree, argv or output"

# TLS: the default render speaks TLS only, with the certificate of statectl's CA mounted as
# Compose secrets next to the passwords (no warning); with Patroni (no compose TLS yet) an
# explicit [tls] enabled = true is refused before anything runs, the default deploys plain text
# and says so.
assert_not_contains deploy.err "plain text"
for s in ca.crt tls.crt tls.key; do
  assert_eq "$(stat -c '%a %u:%g' "$STATE/compose/secrets/$s")" "400 999:999" "mode and owner of secrets/$s"
  grep -q "file: ./secrets/$s" "$STATE/compose/docker-compose.yml" || fail "compose secret $s not referenced"
done
grep -q "^ssl = on" "$STATE/compose/postgres/postgresql.conf" || fail "postgresql.conf without ssl = on"
grep -q "^tls-port 6379" "$STATE/compose/redis/redis.conf" || fail "redis.conf without tls-port"
! grep -q -- "-----BEGIN" "$STATE/compose/docker-compose.yml" || fail "key material in the compose file"
: >"$FAKE_LOG"
STATECTL_TLS_ENABLED=true STATECTL_POSTGRES_HA=patroni expect_exit 2 statectl deploy --timeout 20s
assert_contains "$ERR" 'statectl: error: [tls] enabled = true is not rendered for compose with [postgres] ha = "patroni" yet'
[[ ! -s $FAKE_LOG ]] || fail "a refused TLS deploy ran: $(cat "$FAKE_LOG")"
STATECTL_POSTGRES_HA=patroni expect_exit 0 statectl --dry-run deploy --timeout 20s
assert_contains "$ERR" "statectl: warning: the compose stack speaks plain text inside its network"
pass "compose deploys TLS only by default (CA, certificate and key as 0400 secrets of uid 999); with Patroni an explicit [tls] enabled = true is refused (exit 2), nothing run"

# status: the containers of the project, replication on the primary, Sentinel's master.
status_scenario() {
  {
    printf 'docker * ps -q\t0\tc1\\nc2\\nc3\n'
    printf 'docker inspect --format *com.docker.compose.service*\t0\tpostgres-primary|/statectl-postgres-primary-1|running|healthy|postgres:16\\npostgres-replica|/statectl-postgres-replica-1|running|%s|postgres:16\\nredis-sentinel|/statectl-redis-sentinel-1|running|none|redis:7.2\n' "$1"
    printf 'docker * exec -T postgres-primary psql *\t0\tstatectl-postgres-replica-1|streaming|4096\n'
    printf 'docker * exec -T redis-sentinel redis-cli *\t0\t172.18.0.3\\n6379\n'
    # The render's services: with $2, one of them (pgbouncer) has no container.
    printf 'docker * config --services\t0\t%spostgres-primary\\npostgres-replica\\nredis-sentinel\n' "${2:-}"
  } >"$FAKE_SCENARIO"
}
status_scenario starting 'pgbouncer\n'
: >"$FAKE_LOG"
expect_exit 1 statectl -o json status
assert_eq "$(json_get "$OUT" 'j["healthy"]')" False "healthy"
assert_eq "$(json_get "$OUT" '[c["name"] + ":" + c["role"] + ":" + str(c["healthy"]) for c in j["components"]]')" \
  "['pgbouncer:pooler:False', 'statectl-postgres-primary-1:primary:True', 'statectl-postgres-replica-1:replica:False', 'statectl-redis-sentinel-1:sentinel:True']" "components"
assert_eq "$(json_get "$OUT" 'j["problems"]')" "['statectl-postgres-replica-1: health check says starting', 'pgbouncer: no container']" "problems"
assert_eq "$(json_get "$OUT" '[c["ready"] for c in j["components"]][0]')" missing "ready of a service without a container"
assert_eq "$(json_get "$OUT" 'j["replication"]["standbys"][0]["lag_bytes"]')" 4096 "lag"
assert_eq "$(json_get "$OUT" 'j["sentinel_master"]')" "172.18.0.3:6379" "sentinel master"
cat >expected <<EXP
docker compose version
docker compose $F ps -q
docker inspect --format '{{index .Config.Labels "com.docker.compose.service"}}|{{.Name}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.Config.Image}}' c1 c2 c3
docker compose $F config --services
docker compose $F exec -T postgres-primary psql -U postgres -d postgres -tA -F '|' -c 'SELECT application_name, state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint FROM pg_stat_replication ORDER BY application_name'
docker compose $F exec -T redis-sentinel redis-cli --tls --cacert /run/secrets/ca.crt --user statectl-admin -p 26379 sentinel get-master-addr-by-name mymaster
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for status"
status_scenario healthy
expect_exit 0 statectl status
assert_contains "$OUT" "replication: 1/1 standbys streaming"
assert_contains "$OUT" "sentinel master: 172.18.0.3:6379"
grep -qE '^statectl-postgres-replica-1 +postgres +replica +healthy +yes +postgres:16' "$OUT" || fail "status table: $(cat "$OUT")"
pass "status lists the containers (and services without one), the standbys' lag and Sentinel's master; exit 1 while one is not healthy"

# psql and redis-cli run inside the containers: no password in argv, the client's exit code.
: >"$FAKE_LOG"
printf 'docker * exec -T postgres-replica psql *\t1\t\tERROR:  cannot execute INSERT in a read-only transaction\n' >"$FAKE_SCENARIO"
expect_exit 0 statectl psql -- -c 'SELECT 1'
expect_exit 1 statectl psql --replica -- -c 'INSERT INTO t VALUES (1)'
assert_contains "$ERR" "read-only transaction"
expect_exit 0 statectl redis-cli -- get some:key
expect_exit 0 statectl redis-cli --replica -- info replication
cat >expected <<EXP
docker compose version
docker compose $F exec -T postgres-primary psql -U postgres -d postgres -c 'SELECT 1'
docker compose version
docker compose $F exec -T postgres-replica psql -U postgres -d postgres -c 'INSERT INTO t VALUES (1)'
docker compose version
docker compose $F exec -T redis-sentinel sh -c 'm=\$(redis-cli --tls --cacert /run/secrets/ca.crt --user statectl-admin -p 26379 sentinel get-master-addr-by-name "\$0" | head -n 1) && [ -n "\$m" ] && REDISCLI_AUTH="\$(cat /run/secrets/redis)" exec redis-cli --tls --cacert /run/secrets/ca.crt --user statectl-admin -h "\$m" "\$@"' mymaster get some:key
docker compose version
docker compose $F exec -T redis-replica sh -c 'REDISCLI_AUTH="\$(cat /run/secrets/redis)" exec redis-cli --tls --cacert /run/secrets/ca.crt --user statectl-admin "\$@"' redis-cli info replication
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected commands for psql / redis-cli on compose"
for s in postgres redis; do ! grep -qF -- "$(cat "$STATE/compose/secrets/$s")" "$FAKE_LOG" || fail "password $s in argv"; done
: >"$FAKE_LOG"
expect_exit 0 statectl --dry-run psql -- -c 'DROP TABLE t'
assert_eq "$(fake_calls)" "docker compose version" "--dry-run psql runs only the detection"
assert_contains "$OUT" "exec -T postgres-primary psql -U postgres -d postgres -c 'DROP TABLE t'"
pass "psql and redis-cli run inside the containers (compose exec), exit with the client's code, no password in argv"

# A bare-PostgreSQL switchover under --dry-run: the plan only, nothing but the detection run.
: >"$FAKE_LOG"
expect_exit 0 statectl --dry-run failover switchover
assert_eq "$(fake_calls)" "docker compose version" "--dry-run switchover runs only the detection"
assert_contains "$OUT" "PAUSE every PgBouncer; wait until the standby replayed the primary's last LSN"
[[ ! -e $STATE/compose-primary ]] || fail "--dry-run switchover recorded a primary"
pass "--dry-run failover switchover on bare compose plans the handover and runs nothing"

# A second deploy with 2 standbys whose verify sees only 1 streaming: roll back to the first render.
cp "$STATE/compose/docker-compose.yml" first.yml
: >"$FAKE_LOG"
healthy_scenario 1
printf '[project]\ntarget = "compose"\n[postgres]\nreplicas = 2\n' >statectl.toml
expect_exit 1 statectl deploy --timeout 20s
assert_contains "$ERR" "statectl: error: verify failed: replication is not streaming: 1 of 2 standbys stream from the primary; rolled back to the previous render"
cat >expected <<EXP
docker compose version
docker compose $F config -q
docker compose $F up -d --remove-orphans
docker compose $F ps -q postgres-primary
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c1
docker compose $F exec -T postgres-primary psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres
docker compose $F ps -q
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c1 c2
docker compose $F exec -T postgres-primary psql -U postgres -d postgres -v ON_ERROR_STOP=1 -qc 'CREATE TABLE IF NOT EXISTS statectl_deploy_check (id int PRIMARY KEY, at timestamptz NOT NULL); INSERT INTO statectl_deploy_check VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at'
docker compose $F exec -T postgres-primary psql -U postgres -d postgres -tAc 'SELECT count(*) FROM pg_stat_replication WHERE state = '\''streaming'\'''
docker compose $F up -d --remove-orphans
docker compose $F ps -q postgres-primary
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c1
docker compose $F exec -T postgres-primary psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres
docker compose $F ps -q
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c1 c2
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a failed verify"
cmp -s first.yml "$STATE/compose/docker-compose.yml" || fail "the applied render is not the previous one after the rollback"
[[ -s $STATE/compose/secrets/postgres ]] || fail "secrets lost in the rollback"
pass "a failed verify re-applies the previous render"

: >"$FAKE_LOG"
expect_exit 1 statectl deploy --timeout 20s --no-rollback
assert_contains "$ERR" "hint: the new render was left applied (--no-rollback)"
fake_calls | grep -c ' up -d ' | grep -qx 1 || fail "--no-rollback must not re-apply"
printf '[project]\ntarget = "compose"\n' >statectl.toml
expect_exit 0 statectl deploy --timeout 20s
pass "--no-rollback leaves the new render applied"

# --dry-run: the plan on stdout, nothing mutating run, nothing written.
: >"$FAKE_LOG"
rm -rf "$STATE/compose" "$STATE/compose.previous"
expect_exit 0 statectl --dry-run deploy
assert_eq "$(fake_calls)" "docker compose version" "dry-run calls"
assert_contains "$OUT" "docker compose $F up -d --remove-orphans"
[[ ! -e $STATE/compose ]] || fail "--dry-run wrote the render"
pass "--dry-run prints the plan and runs no mutating command"

# scale: bounds first, then up --scale; the count is recorded so render reproduces it.
expect_exit 0 statectl deploy --timeout 20s
: >"$FAKE_LOG"
expect_exit 2 statectl scale postgres --replicas 16
assert_contains "$ERR" "invalid --replicas 16 for postgres"
[[ ! -s $FAKE_LOG ]] || fail "an invalid count ran commands"
expect_exit 0 statectl scale postgres --replicas 3 --timeout 20s
cat >expected <<EXP
docker compose version
docker compose $F ps -q postgres-replica
docker compose $F up -d --no-recreate --scale postgres-replica=3
docker compose $F ps -q
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c1 c2
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for scale"
expect_exit 0 statectl render
grep -A50 '^  postgres-replica:' "$OUT" | grep -q 'replicas: 3' || fail "render does not reproduce the scaled count"
expect_exit 0 statectl scale pooler --replicas 2 --timeout 20s
fake_calls | tail -3 | head -1 | grep -qF -- "--scale pgbouncer=2" || fail "pooler scale"
grep -q '127.0.0.1:16432-16433:6432' "$STATE/compose/docker-compose.yml" || fail "pooler port range not re-rendered"
pass "scale validates bounds, runs up --scale --no-recreate and is recorded for render"

# destroy: down keeps the volumes; --purge adds --volumes and deletes the render; a second
# destroy finds nothing; --dry-run runs nothing mutating.
: >"$FAKE_LOG"
expect_exit 0 statectl --dry-run destroy --purge
assert_eq "$(fake_calls)" "docker compose version" "dry-run destroy calls"
assert_contains "$OUT" "docker compose $F down --remove-orphans --timeout 30 --volumes"
[[ -f $STATE/compose/docker-compose.yml ]] || fail "--dry-run destroy removed the render"
: >"$FAKE_LOG"
expect_exit 0 statectl destroy --timeout 10s
cat >expected <<EXP
docker compose version
docker compose $F stop --timeout 10
docker compose $F rm --force -v
docker compose $F down --remove-orphans --timeout 10
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for destroy"
assert_contains "$OUT" "its data is kept"
[[ -f $STATE/compose/docker-compose.yml && ! -e $STATE/compose/.applied ]] || fail "destroy must keep the render but not as applied"
: >"$FAKE_LOG"
expect_exit 0 statectl -o json destroy --purge
assert_eq "$(fake_calls | tail -1)" "docker compose $F down --remove-orphans --timeout 30 --volumes" "purge call"
assert_eq "$(json_get "$OUT" 'j["purged"]')" True "purged"
[[ ! -e $STATE/compose && ! -e $STATE/compose.previous ]] || fail "--purge left the render"
: >"$FAKE_LOG"
expect_exit 0 statectl destroy --purge
assert_contains "$ERR" "nothing to destroy: no compose render in $STATE/compose"
[[ ! -s $FAKE_LOG ]] || fail "destroy with nothing deployed ran $(fake_calls)"
pass "destroy runs stop, rm -v (anonymous volumes) and down, keeping the named volumes; --purge runs down --volumes and removes the render; a second destroy is a no-op"

healthy_scenario 1
printf 'docker * down *\t1\t\tError response from daemon: cannot stop container\n' >>"$FAKE_SCENARIO"
expect_exit 0 statectl deploy --timeout 20s
expect_exit 4 statectl destroy
assert_contains "$ERR" "statectl: error: docker compose down failed: exit code 1: Error response from daemon: cannot stop container"
[[ -e $STATE/compose/.applied ]] || fail "a failed destroy must leave the render applied"
pass "a failed down exits 4 and leaves the render applied"

# No compose client at all: exit 3 with a hint.
rm -f bin/docker
expect_exit 3 statectl deploy
assert_contains "$ERR" "statectl: error: no compose client found"
assert_contains "$ERR" "hint: install Docker"
pass "a missing docker exits 3"

#!/usr/bin/env bash
# [postgres] ha = "patroni" on the compose target, real engine (stand-in images,
# tests/docker/README.md): etcd ×3, Patroni ×3 (synchronous mode), HAProxy ×2, PgBouncer ×2.
# deploy comes up healthy; status reads Patroni's cluster view; state commands go through the
# published PgBouncer port; a backup from the leader; scale postgres down and up; `secrets rotate
# --apply` of the superuser and replication passwords (Patroni's own credentials too, no member
# restarted); `failover test` kills the leader's container 3 times (lost 0 each, the killed member
# rejoins as a replica, on the rotated passwords); `failover switchover` goes through Patroni's REST
# API; destroy --purge leaves nothing. RTOs and the switchover pause are printed, never asserted.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/docker_lib.sh"

# ttl 10: Patroni's rule loop_wait + 2 × retry_timeout <= ttl.
compose_stack '[postgres]
ha = "patroni"
ttl = 10
loop_wait = 2
retry_timeout = 4'
STATE="$TEST_DIR/.statectl"
F="$STATE/compose/docker-compose.yml"
SECRETS="$STATE/compose/secrets"
dc() { docker-compose -p "$PROJECT" -f "$F" "$@"; }
bouncer_sql() {
  PGPASSWORD=$(cat "$SECRETS/postgres") PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -p "${2:-$(port 20)}" -U postgres -d postgres -qtAc "$1"
}
# The member Patroni names leader, asked of a member's REST API.
leader() {
  dc exec -T patroni-1 curl -s http://127.0.0.1:8008/cluster |
    python3 -c 'import json,sys; print(*[m["name"] for m in json.load(sys.stdin)["members"] if m["role"] == "leader"])'
}

# 1. Deploy: every member, etcd, HAProxy and PgBouncer healthy; roles and passwords set.
expect_exit 0 statectl deploy --wait --timeout 600s
assert_contains "$OUT" "verified postgres_streaming: 2/2"
assert_eq "$(dc config --services | sort | tr '\n' ' ')" \
  "etcd-1 etcd-2 etcd-3 haproxy-1 haproxy-2 patroni-1 patroni-2 patroni-3 pgbouncer redis-master redis-replica redis-sentinel " "services"
assert_eq "$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter label=com.docker.compose.service=pgbouncer | wc -l)" 2 "poolers"
assert_eq "$(bouncer_sql 'SELECT pg_is_in_recovery()')" f "PgBouncer reaches the leader through HAProxy"
assert_eq "$(bouncer_sql 'SELECT 1' "$(port 21)")" 1 "the second PgBouncer"
assert_eq "$(PGPASSWORD=$(cat "$SECRETS/app") psql -X -h 127.0.0.1 -p "$(port 20)" -U app -d postgres -tAc 'SELECT current_user')" app "application login"
assert_eq "$(PGPASSWORD=$(cat "$SECRETS/postgres") psql -X -h 127.0.0.1 -p "$(port 1)" -U postgres -d postgres -tAc 'SELECT pg_is_in_recovery()')" t \
  "HAProxy's read-only port reaches a replica"
L=$(leader)
assert_eq "$(dc exec -T "$L" psql -U postgres -tAc 'SHOW synchronous_standby_names' | tr -d '\r')" "\"$(dc exec -T "$L" psql -U postgres -tAc "SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync'" | tr -d '\r')\"" \
  "Patroni's synchronous_mode names the synchronous standby"
# The published ports are the clients' only: PgBouncer, HAProxy, Redis and the Sentinels; no
# member, etcd or REST API port is published.
published=$(docker ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}} {{.Ports}}' | grep -E '_(patroni|etcd)-' | grep -c -- '->' || true)
assert_eq "$published" 0 "ports published by the members or etcd"
docker ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Ports}}' | tr ',' '\n' | grep -- '->' | grep -v '127.0.0.1:' &&
  fail "a port is published beyond 127.0.0.1"
for c in $(docker ps -q --filter "label=com.docker.compose.project=$PROJECT"); do
  ! docker inspect --format '{{.Args}} {{.Config.Env}}' "$c" | grep -qF -- "$(cat "$SECRETS/postgres")" || fail "the superuser password in a container's argv or config"
done
assert_eq "$(docker network ls --format '{{.Name}}' | grep -E -- "-$PROJECT-(dcs|postgres|clients|redis)\$" | sort | sed "s/.*-$PROJECT-//" | tr '\n' ' ')" \
  "clients dcs postgres redis " "networks"
docker inspect --format '{{range $n, $e := .NetworkSettings.Networks}}{{$n}} {{end}}' "${PROJECT}_etcd-1_1" | grep -q -- "-postgres" &&
  fail "etcd joined the members' network"
pass "deploy: etcd ×3, Patroni ×3 (leader $L), HAProxy ×2, PgBouncer ×2; only client ports on 127.0.0.1; separate networks"

# 2. status: Patroni's cluster view.
expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy"
assert_eq "$(json_get "$OUT" 'sorted(c["role"] for c in j["components"] if c["kind"] == "patroni")')" "['leader', 'replica', 'sync_standby']" "member roles"
assert_eq "$(json_get "$OUT" 'sorted(c["kind"] for c in j["components"] if c["kind"] in ("etcd", "haproxy"))')" "['etcd', 'etcd', 'etcd', 'haproxy', 'haproxy']" "etcd and HAProxy rows"
assert_eq "$(json_get "$OUT" 'j["replication"]["streaming"]')" 2 "standbys streaming"
expect_exit 0 statectl status
grep -qE "_${L}_1 +patroni +leader +running tl 1 " "$OUT" || fail "status table: $(cat "$OUT")"
pass "status shows the leader, the synchronous standby and the replica with timeline and lag"

# 3. State commands through the published PgBouncer port; psql on the leader and a replica.
expect_exit 0 statectl put greeting "hello patroni"
expect_exit 0 statectl get greeting
assert_eq "$(cat "$OUT")" "hello patroni" "get"
assert_eq "$(dc exec -T "$L" psql -U postgres -tAc "SELECT count(*) FROM statectl_kv" | tr -d '\r')" 1 "the row on the leader"
expect_exit 0 statectl psql -- -tAc 'SELECT pg_is_in_recovery()'
assert_eq "$(tr -d '\r' <"$OUT")" f "psql runs on the leader"
expect_exit 0 statectl psql --replica -- -tAc 'SELECT pg_is_in_recovery()'
assert_eq "$(tr -d '\r' <"$OUT")" t "psql --replica runs on a replica"
pass "put/get through PgBouncer and HAProxy; psql on the leader and on a replica"

# 4. A backup from the leader (through HAProxy's read-write port) with the WAL it archives into
# the spool.
expect_exit 0 statectl -o json backup create
B=$(json_get "$OUT" 'j["id"]')
expect_exit 0 statectl psql -- -tAc 'SELECT pg_walfile_name(pg_switch_wal())'
SEG=$(tr -d '\r' <"$OUT")
wait_for 60 '[[ -n $(ls "$STATE/wal-spool" "$STATE/backups/wal/${SEG:0:8}/" 2>/dev/null | grep "^$SEG") ]]' || fail "segment $SEG was neither spooled nor archived"
expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" 'j["ok"]')" True "backup verify"
pass "backup create ($B) and verify from the leader; its WAL reaches the repository through the spool"

# 5. scale postgres: 2 members, then 3 again (the new member clones from the leader).
expect_exit 0 statectl scale postgres --replicas 1 --timeout 300s
expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'sorted(c["role"] for c in j["components"] if c["kind"] == "patroni")')" "['leader', 'sync_standby']" "members after scaling to 1 replica"
assert_eq "$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | grep -c 'patroni-3-data' || true)" 0 "the dropped member's volume"
expect_exit 0 statectl scale postgres --replicas 2 --timeout 300s
wait_for 120 '"$STATECTL" status >/dev/null 2>&1' || { statectl status || true; cat "$OUT" >&2; fail "status is not healthy after scaling back to 3 members"; }
expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'sorted(c["role"] for c in j["components"] if c["kind"] == "patroni")')" "['leader', 'replica', 'sync_standby']" "members after scaling back"
expect_exit 0 statectl get greeting
assert_eq "$(cat "$OUT")" "hello patroni" "data after the scales"
pass "scale postgres removes a member (and its volume) and adds one that clones from the leader"

# 6. secrets rotate --apply of the superuser and the replication password: ALTER ROLE on the
# leader, Patroni's own credentials file in every member (reloaded, not restarted), PgBouncer;
# Patroni's fresh logins verify it. The failovers below run on the new values (a restarted member
# reads them from the secret files, pg_rewind logs in with them). Passwords are compared, never printed.
members_started() { docker inspect --format '{{.Name}} {{.State.StartedAt}}' $(docker ps -q --filter "label=com.docker.compose.project=$PROJECT") | grep _patroni- | sort; }
login() { PGPASSWORD=$3 PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -p "$1" -U "$2" -d postgres -qtAc 'SELECT 1' >/dev/null 2>&1; }
before=$(members_started)
L=$(leader)
for s in postgres replication; do
  old=$(cat "$SECRETS/$s")
  expect_exit 0 statectl secrets rotate "$s" --apply
  new=$(cat "$SECRETS/$s")
  [[ $new != "$old" ]] || fail "secrets/$s did not change"
  ! grep -qF -- "$new" "$OUT" "$ERR" || fail "the new $s password in the output"
  ! grep -qF -- "$old" "$OUT" "$ERR" || fail "the old $s password in the output"
  role=postgres; [[ $s == replication ]] && role=replicator
  assert_contains "$ERR" "${PROJECT}_${L}_1: ALTER ROLE $role PASSWORD (SCRAM verifier computed by statectl)"
  [[ $s == replication ]] || assert_eq "$(grep -c 'verified: Patroni on .* logged in again' "$ERR")" 3 "members whose Patroni logged in again"
  login "$(port 0)" "$role" "$new" || fail "$role: the new password is refused through HAProxy"
  ! login "$(port 0)" "$role" "$old" || fail "$role: the old password still works through HAProxy"
done
assert_eq "$(grep -c "Patroni's replication password rewritten in its credentials file; Patroni reloaded (SIGHUP)" "$ERR")" 3 "members whose Patroni got the replication password"
assert_contains "$ERR" "verified: 2 replica(s) stream from ${PROJECT}_${L}_1 again"
login "$(port 20)" postgres "$(cat "$SECRETS/postgres")" || fail "PgBouncer refuses the new superuser password"
assert_eq "$(bouncer_sql 'SELECT pg_is_in_recovery()')" f "PgBouncer still reaches the leader"
assert_eq "$(members_started)" "$before" "member start times (none restarted)"
assert_eq "$(leader)" "$L" "the leader"
expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'j["replication"]["streaming"]')" 2 "standbys streaming after the rotations"
pass "secrets rotate --apply postgres and replication: Patroni's credentials in every member, verified by its own new logins; no restart, no leader change"

# 7. failover test: 3 trials, each kills the leader's container; the killed member rejoins.
# Synchronous mode: reported as lossless.
failover_trials postgres 3 180s patroni True
assert_eq "$(json_get "$OUT" '[t["lost"] for t in j["trials"]]')" "[0, 0, 0]" "no acknowledged write lost"
assert_eq "$(json_get "$OUT" 'all(t["read_back"] and t["acked"] > 50 and t["rto_ms"] is not None for t in j["trials"])')" True "every trial wrote, recovered and read back"
assert_eq "$(json_get "$OUT" 'all(t["healthy_after"] and t["heal"].startswith("restarted ") for t in j["trials"])')" True "each killed member rejoined"
assert_eq "$(json_get "$OUT" 'all("_patroni-" in t["old_primary"] for t in j["trials"])')" True "each trial killed a member"
assert_eq "$(json_get "$OUT" 'j["passed"]')" True "passed"
wait_for 60 '"$STATECTL" status >/dev/null 2>&1' || { statectl status || true; cat "$OUT" >&2; fail "status is not healthy after the trials"; }
expect_exit 0 statectl get greeting
assert_eq "$(cat "$OUT")" "hello patroni" "data of before the trials"
pass "3 failovers: lost 0 each, RTO p50 $(json_get "$TEST_DIR/postgres-trials.json" 'j["rto_ms_p50"]') ms, max $(json_get "$TEST_DIR/postgres-trials.json" 'j["rto_ms_max"]') ms (ttl 10 s)"

# 8. A planned switchover through Patroni's REST API, to a named member.
before=$(leader)
to=$(dc exec -T patroni-1 curl -s http://127.0.0.1:8008/cluster |
  python3 -c 'import json,sys; print([m["name"] for m in json.load(sys.stdin)["members"] if m["role"] == "sync_standby"][0])')
expect_exit 0 statectl failover switchover --to "$to" --timeout 120s -o json
cp "$OUT" "$TEST_DIR/switchover.json"
echo "switchover: $(json_get "$OUT" '(j["old_primary"], j["new_primary"], j["pause_ms"], j["took_ms"], j["acked"], j["lost"])')" >&2
assert_eq "$(json_get "$OUT" 'j["old_primary"]')" "$before" "old leader"
assert_eq "$(json_get "$OUT" 'j["new_primary"]')" "$to" "new leader"
assert_eq "$(json_get "$OUT" 'j["lost"]')" 0 "lost"
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy afterwards"
assert_eq "$(leader)" "$to" "Patroni's leader"
expect_exit 2 statectl failover switchover --to patroni-9 --timeout 10s
assert_contains "$ERR" "statectl: error: no Patroni member 'patroni-9'"
pass "switchover $before -> $to: pause $(json_get "$TEST_DIR/switchover.json" 'j["pause_ms"]') ms, lost 0"

# 9. destroy --purge leaves nothing of the project.
expect_exit 0 statectl destroy --purge --timeout 20s
assert_eq "$(project_objects)" "" "objects left by destroy --purge"
pass "destroy --purge leaves no container, network or volume"

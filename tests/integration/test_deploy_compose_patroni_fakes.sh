#!/usr/bin/env bash
# deploy / status / failover on compose with [postgres] ha = "patroni", against a recording fake
# `docker`: the leader is found through Patroni's REST API inside a member (`docker exec ... curl
# /cluster`), the roles are set on it without touching synchronous_standby_names (Patroni's), the
# verify runs there, status shows Patroni's roles, and `failover test` kills the leader's container.
source "$(dirname "$0")/lib.sh"
source "$STATECTL_SOURCE_DIR/tests/fakes/lib.sh"
cd "$TEST_DIR"

fake_tools bin docker
FAKE_PATH="$(fake_path "$TEST_DIR/bin")"
statectl() { PATH="$FAKE_PATH" "$STATECTL" "$@"; }
export FAKE_LOG="$TEST_DIR/calls.log" FAKE_SCENARIO="$TEST_DIR/scenario"
STATE="$TEST_DIR/.statectl"
F="-p statectl -f $STATE/compose/docker-compose.yml"
# Redis standalone: the Sentinel side of compose is test_deploy_compose_fakes.sh's.
printf '[project]\ntarget = "compose"\n[postgres]\nha = "patroni"\n[redis]\nmode = "standalone"\n' >statectl.toml
CLUSTER='{"members":[{"name":"patroni-1","role":"replica","state":"running","timeline":3,"lag":0},{"name":"patroni-2","role":"leader","state":"running","timeline":3},{"name":"patroni-3","role":"sync_standby","state":"running","timeline":3,"lag":4096}]}'
MEMBERS_FORMAT='{{index .Config.Labels "com.docker.compose.service"}}|{{.Name}}|{{.State.Running}}'
{
  printf 'docker ps -a -q --filter label=com.docker.compose.project=statectl\t0\tc1\\nc2\\nc3\n'
  printf 'docker inspect --format *State.Running* c1 c2 c3\t0\tpatroni-1|/statectl_patroni-1_1|true\\npatroni-2|/statectl_patroni-2_1|true\\npatroni-3|/statectl_patroni-3_1|true\n'
  printf 'docker exec statectl_patroni-1_1 curl * http://127.0.0.1:8008/cluster\t0\t%s\\n200\n' "$CLUSTER"
  printf 'docker * ps -q patroni-2\t0\tc2\n'
  printf 'docker * ps -q\t0\tc1\\nc2\\nc3\n'
  printf 'docker inspect --format *com.docker.compose.service*State.Status*\t0\tpatroni-1|/statectl_patroni-1_1|running|healthy|statectl/patroni:16.10-bookworm\\npatroni-2|/statectl_patroni-2_1|running|healthy|statectl/patroni:16.10-bookworm\\npatroni-3|/statectl_patroni-3_1|running|healthy|statectl/patroni:16.10-bookworm\n'
  printf 'docker inspect *\t0\t/statectl_patroni-2_1 healthy\n'
  printf 'docker * exec -T patroni-2 psql * -tAc *\t0\t2\n'
  printf 'docker * exec -T patroni-2 psql * -tA -F *\t0\tpatroni-1|streaming|0\\npatroni-3|streaming|4096\n'
  printf 'docker * config --services\t0\tpatroni-1\\npatroni-2\\npatroni-3\n'
} >"$FAKE_SCENARIO"

expect_exit 0 statectl deploy --timeout 20s
CURL="curl -sS -m 10 -X GET -w '\\n%{http_code}' http://127.0.0.1:8008/cluster"
cat >expected <<EXP
docker compose version
docker compose $F config -q
docker compose $F up -d --remove-orphans
docker ps -a -q --filter label=com.docker.compose.project=statectl
docker inspect --format '$MEMBERS_FORMAT' c1 c2 c3
docker exec statectl_patroni-1_1 $CURL
docker compose $F ps -q patroni-2
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c2
docker compose $F exec -T patroni-2 psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres
docker compose $F ps -q
docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' c1 c2 c3
docker compose $F exec -T patroni-2 psql -U postgres -d postgres -v ON_ERROR_STOP=1 -qc 'CREATE TABLE IF NOT EXISTS statectl_deploy_check (id int PRIMARY KEY, at timestamptz NOT NULL); INSERT INTO statectl_deploy_check VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at'
docker compose $F exec -T patroni-2 psql -U postgres -d postgres -tAc 'SELECT count(*) FROM pg_stat_replication WHERE state = '\''streaming'\'''
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a Patroni deploy on compose"
assert_contains "$OUT" "verified postgres_streaming: 2/2"
sql=$(cat "$FAKE_LOG".stdin.*)
grep -q synchronous_standby_names <<<"$sql" && fail "the roles' SQL sets synchronous_standby_names under Patroni"
assert_eq "$(grep -c "PASSWORD 'SCRAM-SHA-256\$4096:" <<<"$sql")" 4 "roles given SCRAM verifiers"
for s in postgres replication app pgbouncer redis; do
  v=$(cat "$STATE/compose/secrets/$s")
  ! grep -rqF --exclude-dir=secrets -- "$v" "$STATE/compose" || fail "secret $s appears in the rendered tree"
  ! grep -qF -- "$v" "$FAKE_LOG" "$OUT" "$ERR" || fail "secret $s appears in argv or output"
done
pass "deploy finds the leader through Patroni's REST API, sets the roles there (no synchronous_standby_names) and verifies 2 standbys"

: >"$FAKE_LOG"
expect_exit 0 statectl -o json status
assert_eq "$(json_get "$OUT" '[(c["name"], c["kind"], c["role"], c["ready"], c["healthy"]) for c in j["components"]]')" \
  "[('statectl_patroni-1_1', 'patroni', 'replica', 'running tl 3 lag 0', True), ('statectl_patroni-2_1', 'patroni', 'leader', 'running tl 3', True), ('statectl_patroni-3_1', 'patroni', 'sync_standby', 'running tl 3 lag 4096', True)]" "members"
assert_eq "$(json_get "$OUT" '[(s["name"], s["lag_bytes"]) for s in j["replication"]["standbys"]]')" "[('patroni-1', 0), ('patroni-3', 4096)]" "replication from the leader"
fake_calls | grep -qF "docker compose $F exec -T patroni-2 psql -U postgres -d postgres -tA -F '|' -c" || fail "replication not read on the leader"
pass "status shows Patroni's roles, state, timeline and lag, and reads replication on the leader"

# A member that is not in Patroni's view is unhealthy.
sed -i 's/{"name":"patroni-1","role":"replica","state":"running","timeline":3,"lag":0},//' "$FAKE_SCENARIO"
expect_exit 1 statectl -o json status
assert_contains "$OUT" "statectl_patroni-1_1: not a member of the Patroni cluster (yet)"
pass "a member missing from Patroni's cluster view makes status unhealthy"

: >"$FAKE_LOG"
expect_exit 0 statectl --dry-run failover test --backend postgres
assert_contains "$OUT" "docker kill --signal KILL '<patroni leader>'"
expect_exit 0 statectl --dry-run failover switchover --to patroni-3
assert_contains "$OUT" "docker exec '<leader container>' curl -sS -m 10 -X POST -H 'Content-Type: application/json' -d '{\"candidate\":\"patroni-3\",\"leader\":\"<leader>\"}'"
! fake_calls | grep -qE ' (kill|start|exec) ' || fail "--dry-run ran a mutating command: $(fake_calls)"
pass "--dry-run failover test plans docker kill of the leader; switchover plans the POST /switchover"

: >"$FAKE_LOG"
printf 'docker exec statectl_patroni-1_1 curl * http://127.0.0.1:8008/cluster\t0\t%s\\n200\n' "$CLUSTER" | cat - "$FAKE_SCENARIO" >scenario.new
mv scenario.new "$FAKE_SCENARIO"
expect_exit 2 statectl scale postgres --replicas 16
[[ ! -s $FAKE_LOG ]] || fail "a refused scale ran $(fake_calls)"
expect_exit 0 statectl scale postgres --replicas 1 --timeout 20s
CLUSTER_CALLS="docker ps -a -q --filter label=com.docker.compose.project=statectl
docker inspect --format '$MEMBERS_FORMAT' c1 c2 c3
docker exec statectl_patroni-1_1 $CURL"
cat >expected <<EXP
docker compose version
$CLUSTER_CALLS
docker compose $F up -d --remove-orphans
docker compose $F up -d --no-deps --force-recreate haproxy-1
docker compose $F up -d --no-deps --force-recreate haproxy-2
docker volume rm statectl_patroni-3-data
$CLUSTER_CALLS
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for scale postgres with Patroni"
assert_eq "$(grep -c '^  patroni-[0-9]*:$' "$STATE/compose/docker-compose.yml")" 2 "members after the scale"
assert_eq "$(grep -c 'check port 8008' "$STATE/compose/haproxy/haproxy.cfg")" 4 "HAProxy servers after the scale"
: >"$FAKE_LOG"
expect_exit 0 statectl --dry-run scale postgres --replicas 2
assert_contains "$OUT" "docker compose $F up -d --no-deps --force-recreate haproxy-1"
assert_eq "$(grep -c '^  patroni-[0-9]*:$' "$STATE/compose/docker-compose.yml")" 2 "members after a --dry-run scale"
pass "scale postgres re-renders the members, runs up --remove-orphans, recreates the HAProxies one by one and removes the dropped member's volume"

#!/usr/bin/env bash
# [postgres] ha = "patroni" on the k8s target against a recording fake `kubectl`: the exact command
# sequences of deploy, status (Patroni's members from their role labels and status annotations),
# failover test (force-delete of the pod labelled role=master), failover switchover (POST
# /switchover to the leader's REST API through kubectl exec, then the new role=master pod), scale
# (members = standbys + 1; the leader is moved off a pod the scale removes) and destroy --purge
# (Patroni's ConfigMaps too). The switchover's write probe writes to a real PostgreSQL
# ([postgres] url), since no cluster runs here.
source "$(dirname "$0")/lib.sh"
source "$STATECTL_SOURCE_DIR/tests/fakes/lib.sh"
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
[[ -x $PG_BIN/initdb ]] || skip "PostgreSQL is not installed"
cd "$TEST_DIR"

pg_port=$(port 0)
mkdir -p pg run
chown postgres: pg run
runuser -u postgres -- "$PG_BIN/initdb" -D "$TEST_DIR/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
printf "listen_addresses='127.0.0.1'\nport=%s\nunix_socket_directories='%s'\n" "$pg_port" "$TEST_DIR/run" >>pg/postgresql.conf
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$TEST_DIR/pg" -l "$TEST_DIR/run/pg.log" -w start >/dev/null
on_exit "runuser -u postgres -- $PG_BIN/pg_ctl -D $TEST_DIR/pg -m immediate stop >/dev/null"

fake_tools bin kubectl
FAKE_PATH="$(fake_path "$TEST_DIR/bin")"
statectl() { PATH="$FAKE_PATH" "$STATECTL" "$@"; }
export FAKE_LOG="$TEST_DIR/calls.log" FAKE_SCENARIO="$TEST_DIR/scenario"
STATE="$TEST_DIR/.statectl"
K="kubectl --context prod --namespace state"
# A new scenario starts with a fresh log and fresh TIMES counters.
reset_log() { : >"$FAKE_LOG"; rm -f "$FAKE_LOG".used.*; }
MEMBERS="app.kubernetes.io/instance=orders,app.kubernetes.io/name=postgres"
LEADER="$MEMBERS,role=master"
cat >statectl.toml <<TOML
[project]
name = "orders"
target = "k8s"
[redis]
mode = "standalone"
# The probe's Redis address would be a port-forward otherwise (which the fake does not open).
url = "redis://127.0.0.1:$(port 1)"
[k8s]
context = "prod"
namespace = "state"
[postgres]
ha = "patroni"
url = "postgresql://postgres@127.0.0.1:$pg_port/postgres"
TOML


# deploy: the Patroni StatefulSet's rollout, then the write check through the read-write Service
# (kubectl exec takes the pod its role=master selector picks).
# The first streaming count is 1 (a replica that is ready but not streaming yet): asked again.
# The Secret does not exist yet: it is created from the store with the TLS certificate.
{
  printf 'kubectl * get secret *\t1\t\tError from server (NotFound): secrets "orders-secrets" not found\n'
  printf "kubectl * exec svc/orders-postgres-primary -- psql * -tAc *\t0\t1\t\t1\n"
  printf "kubectl * exec svc/orders-postgres-primary -- psql * -tAc *\t0\t2\n"
} >"$FAKE_SCENARIO"
expect_exit 0 statectl deploy --timeout 20s
{
  echo "$K apply -f $STATE/k8s/00-namespace.yaml"
  echo "$K get secret orders-secrets -o 'go-template={{range \$k, \$v := .data}}{{\$k}}{{\"\\n\"}}{{end}}'"
  echo "$K apply --server-side --field-manager=statectl --force-conflicts -f -"
  echo "$K apply -f $STATE/k8s"
  for w in statefulset/orders-postgres deployment/orders-pgbouncer statefulset/orders-redis-master; do
    echo "$K rollout status $w --timeout=20s"
  done
  echo "$K exec svc/orders-postgres-primary -- psql -U postgres -d postgres -v ON_ERROR_STOP=1 -qc 'CREATE TABLE IF NOT EXISTS statectl_deploy_check (id int PRIMARY KEY, at timestamptz NOT NULL); INSERT INTO statectl_deploy_check VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at'"
  for _ in 1 2; do
    echo "$K exec svc/orders-postgres-primary -- psql -U postgres -d postgres -tAc 'SELECT count(*) FROM pg_stat_replication WHERE state = '\\''streaming'\\'''"
  done
} >expected
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a Patroni deploy"
[[ -f $STATE/k8s/21-patroni.yaml && ! -e $STATE/k8s/20-postgres.yaml ]] || fail "the applied render is not the Patroni one"
manifest="$FAKE_LOG.stdin.3"
assert_eq "$(json_get "$manifest" 'sorted(k for k in j["stringData"] if "." in k)')" "['ca.crt', 'tls.crt', 'tls.key']" "TLS keys of the Secret"
! grep -qF -- "PRIVATE KEY" "$FAKE_LOG" "$OUT" "$ERR" || fail "key material in argv or output"
grep -q '^              mountPath: /tls$' "$STATE/k8s/21-patroni.yaml" || fail "the Patroni members mount no /tls"
grep -q '^        ssl: "on"$' "$STATE/k8s/21-patroni.yaml" || fail "Patroni's PostgreSQL without ssl"
pass "deploy: the Secret with tls.crt/tls.key/ca.crt, rollout of statefulset/orders-postgres, verify through svc/orders-postgres-primary (streaming asked again)"

# status: one row per member with Patroni's role label, state and timeline; replication probed
# on the leader pod.
pod() { # NAME ROLE READY STATE TIMELINE
  printf '{"metadata": {"name": "%s", "labels": {"role": "%s"}, "annotations": {"status": "{\\\\"state\\\\": \\\\"%s\\\\", \\\\"role\\\\": \\\\"%s\\\\", \\\\"timeline\\\\": %s}"}}, "spec": {"containers": [{"image": "statectl/patroni:16"}]}, "status": {"containerStatuses": [{"ready": %s}]}}' \
    "$1" "$2" "$4" "$2" "$5" "$3"
}
sts='{"kind": "StatefulSet", "metadata": {"name": "orders-postgres", "labels": {"app.kubernetes.io/name": "postgres", "app.kubernetes.io/component": "patroni"}}, "spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": "statectl/patroni:16"}]}}}, "status": {"readyReplicas": 3}}'
{
  printf 'kubectl * get statefulsets,deployments *\t0\t{"kind": "List", "items": [%s]}\n' "$sts"
  printf 'kubectl * get pods -l %s -o json\t0\t{"items": [%s, %s, %s]}\n' "$MEMBERS" "$(pod orders-postgres-1 master true running 2)" \
    "$(pod orders-postgres-0 replica true running 2)" "$(pod orders-postgres-2 replica true running 2)"
  printf 'kubectl * exec orders-postgres-1 -- psql *\t0\torders-postgres-0|streaming|0\\norders-postgres-2|streaming|0\n'
} >"$FAKE_SCENARIO"
reset_log
expect_exit 0 statectl -o json status
cat >expected <<EXP
$K get statefulsets,deployments -l app.kubernetes.io/instance=orders -o json
$K get pods -l $MEMBERS -o json
$K exec orders-postgres-1 -- psql -U postgres -d postgres -tA -F '|' -c 'SELECT application_name, state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint FROM pg_stat_replication ORDER BY application_name'
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a Patroni status"
assert_eq "$(json_get "$OUT" '[c["name"] + " " + c["role"] + " " + c["ready"] for c in j["components"] if c["kind"] == "patroni"]')" \
  "['pod/orders-postgres-0 replica running tl 2', 'pod/orders-postgres-1 leader running tl 2', 'pod/orders-postgres-2 replica running tl 2']" "members"
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "healthy"
pass "status: Patroni's members (role label, state, timeline) and replication on the leader pod"

# Two pods labelled role=master (a split the labels show) and a member that is not ready.
sed -i "s/$(pod orders-postgres-0 replica true running 2 | sed 's/[][\\/.*^$]/\\&/g')/$(pod orders-postgres-0 master false starting 2 | sed 's/[\\/&]/\\&/g')/" "$FAKE_SCENARIO"
reset_log
expect_exit 1 statectl -o json status
assert_eq "$(json_get "$OUT" 'j["problems"]')" "['pod/orders-postgres-0: not ready', '2 pods are labelled role=master: orders-postgres-0, orders-postgres-1']" "problems"
pass "status reports a member that is not ready and two leaders (exit 1)"

# failover test: the pod labelled role=master is force-deleted.
reset_log
printf 'kubectl * get pods -l %s -o *\t0\torders-postgres-1\n' "$LEADER" >"$FAKE_SCENARIO"
expect_exit 0 statectl --dry-run failover test --backend postgres
cat >expected <<EXP
$K get pods -l $LEADER -o 'jsonpath={.items[*].metadata.name}'
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a failover test plan"
assert_contains "$OUT" "$K delete pod orders-postgres-1 --grace-period=0 --force --wait=false"
pass "failover test: the leader found by its role label, force-deleted"

# switchover: POST /switchover in the leader's pod, Patroni's 412 asked again, then the new leader.
{
  printf 'kubectl * get pods -l %s -o json\t0\t{"items": [%s, %s, %s]}\t\t1\n' "$MEMBERS" "$(pod orders-postgres-1 master true running 2)" \
    "$(pod orders-postgres-0 replica true running 2)" "$(pod orders-postgres-2 replica true running 2)"
  printf 'kubectl * get pods -l %s -o json\t0\t{"items": [%s, %s, %s]}\n' "$MEMBERS" "$(pod orders-postgres-1 replica true running 3)" \
    "$(pod orders-postgres-0 replica true running 3)" "$(pod orders-postgres-2 master true running 3)"
  printf 'kubectl * get pods -l %s -o *\t0\torders-postgres-1\t\t2\n' "$LEADER"
  printf 'kubectl * get pods -l %s -o *\t0\torders-postgres-2\n' "$LEADER"
  printf 'kubectl * exec orders-postgres-1 -- curl *\t0\tno synchronous standby\\n412\t\t1\n'
  printf 'kubectl * exec orders-postgres-1 -- curl *\t0\tSuccessfully switched over to "orders-postgres-2"\\n200\n'
  printf 'kubectl * get statefulsets,deployments *\t0\t{"kind": "List", "items": [%s]}\n' "$sts"
  printf 'kubectl * exec orders-postgres-2 -- psql *\t0\torders-postgres-0|streaming|0\\norders-postgres-1|streaming|0\n'
} >"$FAKE_SCENARIO"
reset_log
expect_exit 0 statectl -o json failover switchover --to orders-postgres-2 --timeout 20s
POST="$K exec orders-postgres-1 -- curl -sS -X POST -H 'Content-Type: application/json' -d '{\"candidate\":\"orders-postgres-2\",\"leader\":\"orders-postgres-1\"}' -w '\\n%{http_code}' http://127.0.0.1:8008/switchover"
cat >expected <<EXP
$K get pods -l $LEADER -o 'jsonpath={.items[*].metadata.name}'
$K get pods -l $MEMBERS -o json
$POST
$POST
$K get pods -l $LEADER -o 'jsonpath={.items[*].metadata.name}'
$K get pods -l $LEADER -o 'jsonpath={.items[*].metadata.name}'
$K get statefulsets,deployments -l app.kubernetes.io/instance=orders -o json
$K get pods -l $MEMBERS -o json
$K exec orders-postgres-2 -- psql -U postgres -d postgres -tA -F '|' -c 'SELECT application_name, state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint FROM pg_stat_replication ORDER BY application_name'
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a Patroni switchover"
assert_eq "$(json_get "$OUT" 'j["old_primary"] + " -> " + j["new_primary"] + " " + j["mode"]')" "orders-postgres-1 -> orders-postgres-2 patroni" "switchover"
assert_eq "$(json_get "$OUT" 'j["lost"] == 0 and j["acked"] > 0')" True "the probe wrote and lost nothing"
pass "switchover: POST /switchover through kubectl exec (412 asked again), new leader by its label, probe lossless"

expect_exit 2 statectl failover switchover --backend redis
assert_contains "$ERR" "failover switchover --backend redis on the k8s target needs Patroni"
reset_log
printf 'kubectl * get pods -l %s -o json\t0\t{"items": [%s]}\n' "$MEMBERS" "$(pod orders-postgres-1 master true running 2)" >"$FAKE_SCENARIO"
printf 'kubectl * get pods -l %s -o *\t0\torders-postgres-1\n' "$LEADER" >>"$FAKE_SCENARIO"
expect_exit 2 statectl failover switchover --to orders-postgres-9
assert_contains "$ERR" "no Patroni member 'orders-postgres-9'"
fake_calls | grep -q curl && fail "posted a switchover to an unknown member"
pass "switchover refuses redis and an unknown member (exit 2) before posting anything"

# scale: members = standbys + 1; the leader on a removed ordinal is switched over to member 0 first.
reset_log
{
  printf 'kubectl * get pods -l %s -o *\t0\torders-postgres-2\t\t2\n' "$LEADER"
  printf 'kubectl * get pods -l %s -o *\t0\torders-postgres-0\n' "$LEADER"
  printf 'kubectl * exec orders-postgres-2 -- curl *\t0\tSuccessfully switched over to "orders-postgres-0"\\n200\n'
  printf 'kubectl * get pods -l %s -o json\t0\t{"items": [%s, %s, %s]}\n' "$MEMBERS" "$(pod orders-postgres-2 master true running 3)" \
    "$(pod orders-postgres-0 replica true running 3)" "$(pod orders-postgres-1 replica true running 3)"
} >"$FAKE_SCENARIO"
expect_exit 0 statectl scale postgres --replicas 1 --timeout 30s
cat >expected <<EXP
$K get pods -l $LEADER -o 'jsonpath={.items[*].metadata.name}'
$K get pods -l $LEADER -o 'jsonpath={.items[*].metadata.name}'
$K get pods -l $MEMBERS -o json
$K exec orders-postgres-2 -- curl -sS -X POST -H 'Content-Type: application/json' -d '{"candidate":"orders-postgres-0","leader":"orders-postgres-2"}' -w '\\n%{http_code}' http://127.0.0.1:8008/switchover
$K get pods -l $LEADER -o 'jsonpath={.items[*].metadata.name}'
$K scale statefulset/orders-postgres --replicas=2
$K rollout status statefulset/orders-postgres --timeout=30s
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a Patroni scale down"
expect_exit 0 statectl render
grep -A12 'name: orders-postgres$' "$OUT" | grep -q 'replicas: 2' || fail "render does not reproduce the scaled member count"
reset_log
printf 'kubectl * get pods -l %s -o *\t0\torders-postgres-0\n' "$LEADER" >"$FAKE_SCENARIO"
expect_exit 0 statectl scale postgres --replicas 4 --timeout 30s
cat >expected <<EXP
$K get pods -l $LEADER -o 'jsonpath={.items[*].metadata.name}'
$K scale statefulset/orders-postgres --replicas=5
$K rollout status statefulset/orders-postgres --timeout=30s
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a Patroni scale up"
pass "scale: kubectl scale of the members' StatefulSet, the leader moved off a removed pod first"

# psql reaches the leader through the read-write Service, --replica the read-only one.
sed -i '/^url = /d' statectl.toml
reset_log
expect_exit 0 statectl psql --replica -- -c 'SELECT 1'
assert_eq "$(fake_calls)" "$K exec -i svc/orders-postgres-replica -- psql -U postgres -d postgres -c 'SELECT 1'" "psql --replica"
reset_log
expect_exit 0 statectl psql -- -c 'SELECT 1'
assert_eq "$(fake_calls)" "$K exec -i svc/orders-postgres-primary -- psql -U postgres -d postgres -c 'SELECT 1'" "psql"
pass "psql: kubectl exec svc/orders-postgres-primary (or -replica)"

# destroy --purge also deletes Patroni's ConfigMaps, so a new cluster does not wait for the old one.
reset_log
: >"$FAKE_SCENARIO"
expect_exit 0 statectl destroy --purge --timeout 30s
fake_calls | grep -qxF "$K delete configmap -l $MEMBERS --ignore-not-found" || fail "Patroni's ConfigMaps are not deleted: $(fake_calls)"
pass "destroy --purge deletes Patroni's leader/config ConfigMaps"

#!/usr/bin/env bash
# deploy/scale --target k8s against a recording fake `kubectl`: the exact command sequence of a
# successful deploy, a failed verify that re-applies the previous render, --dry-run, scale and a
# missing kubectl (exit 3).
source "$(dirname "$0")/lib.sh"
source "$STATECTL_SOURCE_DIR/tests/fakes/lib.sh"
cd "$TEST_DIR"

fake_tools bin kubectl
FAKE_PATH="$(fake_path "$TEST_DIR/bin")"
# Only statectl (and the fakes it runs) see the fake PATH: no real docker/kubectl/terraform.
statectl() { PATH="$FAKE_PATH" "$STATECTL" "$@"; }
export FAKE_LOG="$TEST_DIR/calls.log" FAKE_SCENARIO="$TEST_DIR/scenario"
STATE="$TEST_DIR/.statectl"
K="kubectl --context prod --namespace state"
cat >statectl.toml <<'TOML'
[project]
name = "orders"
target = "k8s"
[k8s]
context = "prod"
namespace = "state"
TOML

# The Secret's key names, as `kubectl get secret -o go-template=...` lists them: the passwords and
# the TLS keys the render mounts.
ALL_KEYS='app\nca.crt\npgbouncer\npostgres\nredis\nreplication\ntls.crt\ntls.key\n'
SECRET_CHECK="$K get secret orders-secrets -o 'go-template={{range \$k, \$v := .data}}{{\$k}}{{\"\\n\"}}{{end}}'"
scenario() {
  {
    printf 'kubectl * get secret *\t0\t%s\n' "$ALL_KEYS"
    printf "kubectl * exec statefulset/orders-postgres-primary -- psql * -tAc *\t0\t%s\n" "$1"
    printf 'kubectl * exec statefulset/orders-redis-sentinel -- redis-cli *\t0\torders-redis-master-0\\n6379\n'
  } >"$FAKE_SCENARIO"
}

verify_calls() {
  cat <<EXP
$K exec statefulset/orders-postgres-primary -- psql -U postgres -d postgres -v ON_ERROR_STOP=1 -qc 'CREATE TABLE IF NOT EXISTS statectl_deploy_check (id int PRIMARY KEY, at timestamptz NOT NULL); INSERT INTO statectl_deploy_check VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at'
$K exec statefulset/orders-postgres-primary -- psql -U postgres -d postgres -tAc 'SELECT count(*) FROM pg_stat_replication WHERE state = '\''streaming'\'''
EXP
}
rollout_calls() {
  local w
  for w in statefulset/orders-postgres-primary statefulset/orders-postgres-replica deployment/orders-pgbouncer \
    statefulset/orders-redis-master statefulset/orders-redis-replica statefulset/orders-redis-sentinel; do
    echo "$K rollout status $w --timeout=20s"
  done
}

scenario 2
expect_exit 0 statectl deploy --timeout 20s
{
  echo "$K apply -f $STATE/k8s/00-namespace.yaml"
  echo "$SECRET_CHECK"
  echo "$K apply -f $STATE/k8s"
  rollout_calls
  verify_calls
  echo "$K exec statefulset/orders-redis-sentinel -- redis-cli --tls --cacert /tls/ca.crt -p 26379 sentinel get-master-addr-by-name mymaster"
} >expected
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a successful k8s deploy"
[[ $ERR != *"plain text"* ]] || fail "a TLS deploy warned about plain text: $ERR"
grep -q 'secretName: orders-secrets' "$STATE/k8s/20-postgres.yaml" || fail "the manifests do not reference the Secret by name"
! grep -rqiE '^ *(password|requirepass) *[:=] *[^ ]' "$STATE/k8s" || fail "a password literal in the manifests"
pass "successful deploy: namespace, Secret check, apply, rollout status per workload, verify"

# status: the project's workloads (ready / desired), replication on the primary, Sentinel's master.
item() { # KIND NAME NAME_LABEL COMPONENT DESIRED READY
  printf '{"kind": "%s", "metadata": {"name": "%s", "labels": {"app.kubernetes.io/name": "%s", "app.kubernetes.io/component": "%s"}}, "spec": {"replicas": %s, "template": {"spec": {"containers": [{"image": "postgres:16"}]}}}, "status": {"readyReplicas": %s}}' "$@"
}
{
  printf 'kubectl * get statefulsets,deployments *\t0\t{"kind": "List", "items": [%s, %s, %s]}\n' \
    "$(item StatefulSet orders-postgres-primary postgres primary 1 1)" "$(item StatefulSet orders-postgres-replica postgres replica 2 2)" \
    "$(item Deployment orders-pgbouncer pgbouncer pooler 2 1)"
  printf 'kubectl * exec statefulset/orders-postgres-primary -- psql *\t0\torders-postgres-replica-0|streaming|0\\norders-postgres-replica-1|catchup|99999999\n'
} >status-scenario
cp status-scenario "$FAKE_SCENARIO"
: >"$FAKE_LOG"
expect_exit 1 statectl -o json status
cat >expected <<EXP
$K get statefulsets,deployments -l app.kubernetes.io/instance=orders -o json
$K exec statefulset/orders-postgres-primary -- psql -U postgres -d postgres -tA -F '|' -c 'SELECT application_name, state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint FROM pg_stat_replication ORDER BY application_name'
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for status"
assert_eq "$(json_get "$OUT" '[c["name"] + " " + c["ready"] for c in j["components"]]')" \
  "['deployment/orders-pgbouncer 1/2', 'statefulset/orders-postgres-primary 1/1', 'statefulset/orders-postgres-replica 2/2']" "components"
assert_eq "$(json_get "$OUT" 'j["problems"]')" "['deployment/orders-pgbouncer: 1 of 2 pods ready', 'standby orders-postgres-replica-1 is 95.4 MiB behind the primary', '1 of 2 standbys stream from the primary', 'no Sentinel is running']" "problems"
pass "status reports ready/desired per workload, lagging standbys and a missing Sentinel (exit 1)"

: >"$FAKE_LOG"
expect_exit 0 statectl psql -- -c 'SELECT 1'
expect_exit 0 statectl redis-cli -- dbsize
cat >expected <<EXP
$K exec -i statefulset/orders-postgres-primary -- psql -U postgres -d postgres -c 'SELECT 1'
$K exec -i statefulset/orders-redis-sentinel -- sh -c 'm=\$(redis-cli --tls --cacert /tls/ca.crt -p 26379 sentinel get-master-addr-by-name "\$0" | head -n 1) && [ -n "\$m" ] && REDISCLI_AUTH="\$(cat /secrets/redis)" exec redis-cli --tls --cacert /tls/ca.crt -h "\$m" "\$@"' mymaster dbsize
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected commands for psql / redis-cli on k8s"
pass "psql and redis-cli run inside the pods (kubectl exec)"
scenario 2

# A second deploy (3 standbys) whose verify sees 2 streaming: the previous render is re-applied.
cp "$STATE/k8s/20-postgres.yaml" first.yaml
: >"$FAKE_LOG"
printf '[postgres]\nreplicas = 3\n' >>statectl.toml
expect_exit 1 statectl deploy --timeout 20s
assert_contains "$ERR" "verify failed: replication is not streaming: 2 of 3 standbys stream from the primary; rolled back to the previous render"
{
  echo "$K apply -f $STATE/k8s/00-namespace.yaml"
  echo "$SECRET_CHECK"
  echo "$K apply -f $STATE/k8s"
  rollout_calls
  verify_calls
  echo "$K apply -f $STATE/k8s"
  rollout_calls
} >expected
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a failed verify"
cmp -s first.yaml "$STATE/k8s/20-postgres.yaml" || fail "the previous render is not the applied one after the rollback"
pass "a failed verify re-applies the previous render and waits for it"

# A failed rollout also rolls back; exit 4 names the workload.
: >"$FAKE_LOG"
{
  printf 'kubectl * get secret *\t0\t%s\n' "$ALL_KEYS"
  printf 'kubectl * rollout status statefulset/orders-postgres-replica *\t1\t\terror: timed out waiting for the condition\t1\n'
} >"$FAKE_SCENARIO"
expect_exit 4 statectl deploy --timeout 20s
assert_contains "$ERR" "statefulset/orders-postgres-replica did not become ready within 20s: exit code 1: error: timed out waiting for the condition; rolled back to the previous render"
pass "a failed rollout exits 4 and rolls back"

: >"$FAKE_LOG"
expect_exit 0 statectl --dry-run deploy
[[ ! -s $FAKE_LOG ]] || fail "--dry-run ran: $(fake_calls)"
assert_contains "$OUT" "$K apply -f $STATE/k8s"
assert_contains "$OUT" "$K apply -f $STATE/k8s/00-namespace.yaml"
pass "--dry-run prints the plan and runs nothing"

: >"$FAKE_LOG"
rm -rf "$STATE/secrets"
{
  printf 'kubectl * get secret *\t1\t\tError from server (NotFound): secrets "orders-secrets" not found\n'
  printf "kubectl * exec statefulset/orders-postgres-primary -- psql * -tAc *\t0\t3\n"
  printf 'kubectl * exec statefulset/orders-redis-sentinel -- redis-cli *\t0\torders-redis-master-0\\n6379\n'
} >"$FAKE_SCENARIO"
expect_exit 0 statectl -o json deploy --timeout 20s
assert_eq "$(json_get "$OUT" 'j["secret"]')" created "secret in the result"
push_line=$(fake_calls | grep -n -- "apply --server-side" | cut -d: -f1)
[[ -n $push_line ]] || fail "the missing Secret was not pushed: $(fake_calls)"
assert_eq "$(fake_calls | sed -n "$((push_line - 1))p")" "$SECRET_CHECK" "push follows the check"
assert_eq "$(fake_calls | sed -n "${push_line}p")" "$K apply --server-side --field-manager=statectl --force-conflicts -f -" "push command"
assert_eq "$(fake_calls | sed -n "$((push_line + 1))p")" "$K apply -f $STATE/k8s" "workloads after the Secret"
manifest="$FAKE_LOG.stdin.$push_line"
assert_eq "$(json_get "$manifest" 'j["kind"] + " " + j["metadata"]["name"] + " " + j["metadata"]["namespace"]')" "Secret orders-secrets state" "pushed manifest"
for s in postgres replication app pgbouncer redis; do
  v=$(statectl secrets get "$s")
  [[ ${#v} -ge 16 ]] || fail "password $s was not generated"
  assert_eq "$(json_get "$manifest" "j['stringData']['$s']")" "$v" "pushed value of $s"
  ! grep -qF -- "$v" "$FAKE_LOG" "$OUT" "$ERR" || fail "password $s in argv or output"
  ! grep -rqF -- "$v" "$STATE/k8s" || fail "password $s in the manifests"
done
# TLS (the default): the certificate issued into the store goes into the Secret with its key and
# the CA (never ca.key), and every server pod mounts them read-only at /tls.
assert_contains "$ERR" "issuing the stack's TLS certificate"
assert_eq "$(json_get "$manifest" 'sorted(k for k in j["stringData"] if "." in k)')" "['ca.crt', 'tls.crt', 'tls.key']" "TLS keys of the Secret"
for s in tls.crt ca.crt; do
  statectl secrets get "$s" >"stored.$s"
  assert_eq "$(json_get "$manifest" "j['stringData']['$s'].strip() == open('stored.$s').read().strip()")" True "pushed $s is the store's"
done
assert_eq "$(json_get "$manifest" 'j["stringData"]["tls.key"].startswith("-----BEGIN")')" True "pushed tls.key is PEM"
! grep -qF -- "PRIVATE KEY" "$FAKE_LOG" "$OUT" "$ERR" || fail "key material in argv or output"
! grep -rqF -- "PRIVATE KEY" "$STATE/k8s" || fail "key material in the manifests"
for f in 20-postgres.yaml 30-pgbouncer.yaml 40-redis.yaml; do
  grep -q '^              mountPath: /tls$' "$STATE/k8s/$f" || fail "$f mounts no /tls"
  grep -q '^              - key: tls.key$' "$STATE/k8s/$f" || fail "$f does not mount tls.key"
done
grep -q "^    ssl = on$" "$STATE/k8s/10-configmaps.yaml" || fail "postgresql.conf without ssl = on"
grep -q "^    tls-port 6379$" "$STATE/k8s/10-configmaps.yaml" || fail "redis.conf without tls-port"
pass "a missing Secret is created from the secret store (stdin, server-side apply) before the workloads, with tls.crt, tls.key and ca.crt"

# A Secret that exists without the TLS keys (deployed by an older statectl, or with [tls] enabled
# = false) is pushed again from the store; one with them is kept.
: >"$FAKE_LOG"
{
  printf 'kubectl * get secret *\t0\tapp\\npgbouncer\\npostgres\\nredis\\nreplication\\n\n'
  printf "kubectl * exec statefulset/orders-postgres-primary -- psql * -tAc *\t0\t3\n"
  printf 'kubectl * exec statefulset/orders-redis-sentinel -- redis-cli *\t0\torders-redis-master-0\\n6379\n'
} >"$FAKE_SCENARIO"
pw_before=$(statectl secrets get postgres)
expect_exit 0 statectl -o json deploy --timeout 20s
assert_eq "$(json_get "$OUT" 'j["secret"]')" updated "secret in the result"
push_line=$(fake_calls | grep -n -- "apply --server-side" | cut -d: -f1)
[[ -n $push_line ]] || fail "the Secret without TLS keys was not pushed again: $(fake_calls)"
assert_eq "$(fake_calls | sed -n "$((push_line - 1))p")" "$SECRET_CHECK" "push follows the check"
assert_eq "$(fake_calls | sed -n "$((push_line + 1))p")" "$K apply -f $STATE/k8s" "workloads after the Secret"
manifest="$FAKE_LOG.stdin.$push_line"
assert_eq "$(json_get "$manifest" 'sorted(k for k in j["stringData"] if "." in k)')" "['ca.crt', 'tls.crt', 'tls.key']" "TLS keys pushed again"
assert_eq "$(statectl secrets get postgres)" "$pw_before" "the store's password is unchanged"
assert_contains "$ERR" "pushed the Secret orders-secrets again from the secret store: it lacked the TLS keys"
: >"$FAKE_LOG"
scenario 3
expect_exit 0 statectl -o json deploy --timeout 20s
assert_eq "$(json_get "$OUT" 'j["secret"]')" kept "secret in the result"
! fake_calls | grep -q -- "apply --server-side" || fail "a complete Secret was pushed again"
# Without the store's passwords the push is refused (a generated password would lock the servers
# out), before anything is applied.
mv "$STATE/secrets" secrets.kept
: >"$FAKE_LOG"
printf 'kubectl * get secret *\t0\tpostgres\\n\n' >"$FAKE_SCENARIO"
expect_exit 2 statectl deploy --timeout 20s
assert_contains "$ERR" "statectl: error: the Secret orders-secrets lacks tls.crt, tls.key, ca.crt and the secret store has no 'postgres'"
! fake_calls | grep -q -- "apply --server-side\|apply -f $STATE/k8s\$" || fail "applied after a refused Secret push: $(fake_calls)"
rm -rf "$STATE/secrets"
mv secrets.kept "$STATE/secrets"
pass "a Secret without tls.crt/tls.key/ca.crt is pushed again from the store (its passwords unchanged); a complete one is kept; without the store's passwords exit 2, nothing applied"

# statectl's own clients: a config asking for the other mode than the applied render is refused
# before any port-forward; with TLS they pin the store's CA, written beside the render (the fake
# port-forward opens nothing: exit 3 after the CA is written).
scenario 3
expect_exit 0 statectl deploy --timeout 20s
: >"$FAKE_LOG"
STATECTL_TLS_ENABLED=false expect_exit 2 statectl get greeting
assert_contains "$ERR" "statectl: error: the k8s stack applied from $STATE/k8s runs with TLS"
! fake_calls | grep -q port-forward || fail "port-forward to a stack in the other mode: $(fake_calls)"
expect_exit 3 statectl get greeting
assert_contains "$ERR" "kubectl port-forward to svc/orders-pgbouncer did not open"
statectl secrets get ca.crt >stored.ca
cmp -s stored.ca "$STATE/k8s/secrets/ca.crt" || fail "the clients' CA is not the store's"
pass "the clients refuse a stack applied in the other TLS mode (exit 2) and pin the store's CA"

: >"$FAKE_LOG"
printf 'kubectl * get secret *\t1\t\tError from server (Forbidden): secrets "orders-secrets" is forbidden\n' >"$FAKE_SCENARIO"
expect_exit 4 statectl deploy
assert_contains "$ERR" "statectl: error: cannot tell whether the Secret orders-secrets exists: exit code 1: Error from server (Forbidden)"
fake_calls | grep -q "apply -f $STATE/k8s\$" && fail "applied the workloads without their Secret"
pass "a failed Secret check stops the deploy before the workloads are applied (exit 4)"

scenario 2
expect_exit 2 statectl scale pooler --replicas 0
: >"$FAKE_LOG"
expect_exit 0 statectl scale postgres --replicas 4 --timeout 30s
cat >expected <<EXP
$K scale statefulset/orders-postgres-replica --replicas=4
$K rollout status statefulset/orders-postgres-replica --timeout=30s
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for scale"
expect_exit 0 statectl render
grep -A12 'name: orders-postgres-replica$' "$OUT" | grep -q 'replicas: 4' || fail "render does not reproduce the scaled count"
: >"$FAKE_LOG"
expect_exit 0 statectl scale pooler --replicas 6 --timeout 30s
cat >expected <<EXP
$K scale deployment/orders-pgbouncer --replicas=6
$K patch hpa/orders-pgbouncer --type=merge -p '{"spec":{"minReplicas":6,"maxReplicas":6}}'
$K rollout status deployment/orders-pgbouncer --timeout=30s
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for pooler scale"
pass "scale runs kubectl scale + rollout status and is recorded for render"

# destroy: every manifest but the Namespace, in reverse order; the claims and the Secret stay
# unless --purge; the namespace is never deleted.
manifests=""
for f in $(ls "$STATE"/k8s/*.yaml | sort -r); do [[ $f == */00-namespace.yaml ]] || manifests+=" -f $f"; done
: >"$FAKE_LOG"
expect_exit 0 statectl --dry-run destroy --purge
[[ ! -s $FAKE_LOG ]] || fail "--dry-run destroy ran: $(fake_calls)"
assert_contains "$OUT" "$K delete --ignore-not-found --cascade=foreground --wait --timeout=30s$manifests"
assert_contains "$OUT" "$K delete pvc -l"
expect_exit 0 statectl destroy --timeout 60s
assert_eq "$(fake_calls)" "$K delete --ignore-not-found --cascade=foreground --wait --timeout=60s$manifests" "destroy calls"
assert_contains "$OUT" "its data is kept"
[[ ! -e $STATE/k8s/.applied && -f $STATE/k8s/20-postgres.yaml ]] || fail "destroy must keep the render, not as applied"
: >"$FAKE_LOG"
expect_exit 0 statectl destroy --purge
cat >expected <<EXP
$K delete --ignore-not-found --cascade=foreground --wait --timeout=30s$manifests
$K delete pvc -l app.kubernetes.io/instance=orders,app.kubernetes.io/managed-by=statectl --ignore-not-found --wait --timeout=30s
$K delete secret orders-secrets --ignore-not-found
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for destroy --purge"
fake_calls | grep -q ' namespace' && fail "destroy deleted the namespace"
assert_contains "$ERR" "the namespace state is kept"
[[ ! -e $STATE/k8s ]] || fail "--purge left the render"
expect_exit 0 statectl render
claims=$(grep -c '^  volumeClaimTemplates:' "$OUT")
[[ $claims -ge 4 ]] || fail "expected 4 volume claim templates, found $claims"
assert_eq "$(grep -A4 '^  volumeClaimTemplates:' "$OUT" | grep -c 'app.kubernetes.io/instance: orders')" "$claims" "labels of the volume claim templates"
grep -A12 'name: orders-postgres-replica$' "$OUT" | grep -q 'replicas: 3' || fail "--purge must forget the scaled count (config says 3)"
: >"$FAKE_LOG"
expect_exit 0 statectl destroy --purge
[[ ! -s $FAKE_LOG ]] || fail "a second destroy ran $(fake_calls)"
pass "destroy deletes the render's objects (claims and Secret too with --purge), never the namespace; a second destroy is a no-op"

rm -f bin/kubectl
expect_exit 3 statectl deploy
assert_contains "$ERR" "statectl: error: kubectl not found on PATH"
assert_contains "$ERR" "hint: install kubectl"
expect_exit 3 statectl scale postgres --replicas 1
pass "a missing kubectl exits 3"

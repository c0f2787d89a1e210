#!/usr/bin/env bash
# Every rendered Kubernetes manifest passes the API schemas of npm kubernetes-models (installed
# once per build directory; skipped when npm cannot install it).
source "$(dirname "$0")/lib.sh"
command -v node >/dev/null && command -v npm >/dev/null || skip "node/npm are not installed"
cd "$TEST_DIR"

VALIDATOR="${STATECTL_BUILD_DIR:-$TEST_DIR}/k8s-validator"
mkdir -p "$VALIDATOR"
(
  flock 9
  if [[ ! -f $VALIDATOR/node_modules/kubernetes-models/package.json || ! -f $VALIDATOR/node_modules/js-yaml/package.json ]]; then
    timeout 300 npm install --prefix "$VALIDATOR" --no-audit --no-fund --silent kubernetes-models js-yaml >"$VALIDATOR/npm.log" 2>&1 || exit 77
  fi
) 9>"$VALIDATOR/.lock" || skip "npm could not install kubernetes-models (see $VALIDATOR/npm.log)"
validate() { NODE_PATH="$VALIDATOR/node_modules" node "$STATECTL_SOURCE_DIR/tests/integration/k8s_validate.js" "$@"; }

cat >custom.toml <<'TOML'
[project]
name = "orders"
[postgres]
replicas = 3
[k8s]
namespace = "orders-state"
storage_class = "fast-ssd"
[redis]
mode = "cluster"
TOML
printf '[redis]\nmode = "standalone"\n[postgres]\nreplicas = 0\n' >minimal.toml
printf '' >default.toml

for c in default custom minimal; do
  expect_exit 0 statectl -c $c.toml render --target k8s --out out-$c
  run validate out-$c/*.yaml
  [[ $RC == 0 ]] || fail "$c: kubernetes-models rejected a manifest: $(grep INVALID "$OUT")"
  echo "$c: $(tail -1 "$OUT")"
done
pass "every manifest of the default, custom and minimal renders is schema-valid"

# The negative control: the validator does catch a broken manifest.
printf 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: x\nspec:\n  replicas: "three"\n' >broken.yaml
run validate broken.yaml
[[ $RC == 1 ]] || fail "the validator accepted a StatefulSet with replicas: \"three\""
pass "the validator rejects a wrong type"

expect_exit 0 statectl -c default.toml render --target k8s
cp "$OUT" stream.yaml
grep -q '^kind: Namespace' stream.yaml || fail "no Namespace in the stream"
assert_eq "$(grep -c '^# Source: ' stream.yaml)" 7 "files in the stream"
run validate stream.yaml
[[ $RC == 0 ]] || fail "the multi-document stream is not valid"
assert_eq "$(tail -1 "$OUT")" "27 manifests valid" "documents in the stream"
expect_exit 0 statectl -c default.toml render --target k8s -o json
assert_eq "$(json_get "$OUT" 'len(j["files"])')" "7" "k8s manifest files"
pass "the stdout stream is valid multi-document YAML"

grep -q 'replicas: 2' out-default/20-postgres.yaml || fail "k8s default must render 2 postgres replicas"
grep -q 'replicas: 3' out-custom/20-postgres.yaml || fail "custom must render 3 postgres replicas"
grep -q 'storageClassName: fast-ssd' out-custom/20-postgres.yaml || fail "custom storage class missing"
grep -q 'redis-cli --cluster create' out-custom/41-redis-cluster.yaml || fail "cluster create job missing"
[[ ! -e out-default/41-redis-cluster.yaml ]] || fail "sentinel mode must not render the cluster manifests"
pass "replica counts, storage class and redis mode reach the manifests"

# [postgres] ha = "patroni": Patroni on the Kubernetes API, every document schema-valid.
printf '[project]\nname = "orders"\n[postgres]\nha = "patroni"\npatroni_image = "registry.example/patroni:16"\n[monitoring]\nenabled = true\n' >patroni.toml
expect_exit 0 statectl -c patroni.toml render --target k8s --out out-patroni
# (70-monitoring.yaml's Prometheus Operator kinds are validated by test_monitoring_render.sh.)
run validate out-patroni/[0-6]*.yaml
[[ $RC == 0 ]] || fail "patroni: kubernetes-models rejected a manifest: $(grep INVALID "$OUT")"
[[ ! -e out-patroni/20-postgres.yaml ]] || fail "patroni mode must not render the primary/standby StatefulSets"
P=out-patroni/21-patroni.yaml
kinds=$(python3 - "$P" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
print(" ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs))
PY
)
assert_eq "$kinds" "ServiceAccount/orders-patroni Role/orders-patroni RoleBinding/orders-patroni ConfigMap/orders-patroni-config Service/orders-postgres Service/orders-postgres-primary Service/orders-postgres-replica StatefulSet/orders-postgres" "patroni documents"
check=$(python3 - out-patroni <<'PY'
import sys, yaml, glob
docs = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if d: docs[f"{d['kind']}/{d['metadata']['name']}"] = d
role = docs["Role/orders-patroni"]["rules"]
print(";".join(f"{','.join(r['resources'])}:{','.join(r['verbs'])}" for r in role))
sts = docs["StatefulSet/orders-postgres"]["spec"]
print(sts["replicas"], sts["template"]["spec"]["serviceAccountName"], sts["template"]["spec"]["containers"][0]["image"])
print(sorted(sts["template"]["spec"]["affinity"]["podAntiAffinity"].keys()))
env = sts["template"]["spec"]["containers"][0]["env"]
print(sorted(e["name"] for e in env if "PASSWORD" in e["name"] and "secretKeyRef" in e.get("valueFrom", {})))
print([e["name"] for e in env if "PASSWORD" in e["name"] and "value" in e])
print(docs["Service/orders-postgres-primary"]["spec"]["selector"]["role"], docs["Service/orders-postgres-replica"]["spec"]["selector"]["role"])
print(docs["PodDisruptionBudget/orders-postgres"]["spec"]["maxUnavailable"], "PodDisruptionBudget/orders-postgres-primary" in docs)
pol = docs["NetworkPolicy/orders-postgres"]["spec"]["ingress"]
print([sorted(p.get("podSelector", {}).get("matchLabels", {}).items()) for p in pol[0]["from"]])
print([p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in pol[1]["from"]], [p["port"] for p in pol[1]["ports"]])
print(docs["ConfigMap/orders-pgbouncer-config"]["data"]["pgbouncer.ini"].split("\n")[1])
PY
)
cat >expected <<'EXP'
configmaps:create,get,list,patch,update,watch;endpoints:get,patch,update;pods:get,list,patch,update,watch
3 orders-patroni registry.example/patroni:16
['preferredDuringSchedulingIgnoredDuringExecution']
['PATRONI_REPLICATION_PASSWORD', 'PATRONI_REWIND_PASSWORD', 'PATRONI_SUPERUSER_PASSWORD']
[]
master replica
1 False
[[('app.kubernetes.io/instance', 'orders'), ('app.kubernetes.io/name', 'pgbouncer')], [('app.kubernetes.io/part-of', 'app')], [('app.kubernetes.io/instance', 'orders'), ('app.kubernetes.io/name', 'statectl-exporters')]]
['postgres'] [5432, 8008]
postgres = host=orders-postgres-primary port=5432 dbname=postgres
EXP
diff -u expected <(echo "$check") >&2 || fail "the Patroni manifests differ from the contract"
grep -q '^FROM postgres:16.10-bookworm$' out-patroni/patroni/Dockerfile || fail "the Dockerfile does not start from [postgres] image"
grep -q 'patroni=${PATRONI_VERSION}' out-patroni/patroni/Dockerfile || fail "the Dockerfile does not pin Patroni"
pass "patroni: RBAC, 3 members with anti-affinity, PDB, role-label Services, policies, secretKeyRef only, Dockerfile"

# Patroni itself accepts the configuration it is given (with what the pod's env adds).
if command -v patroni >/dev/null; then
  python3 - "$P" >patroni.yml <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap": sys.stdout.write(d["data"]["patroni.yml"])
PY
  run env PATRONI_NAME=orders-postgres-0 PATRONI_KUBERNETES_POD_IP=10.1.2.3 PATRONI_POSTGRESQL_CONNECT_ADDRESS=10.1.2.3:5432 \
    PATRONI_RESTAPI_CONNECT_ADDRESS=10.1.2.3:8008 PATRONI_SUPERUSER_PASSWORD=x PATRONI_REPLICATION_PASSWORD=y PATRONI_REWIND_PASSWORD=x \
    patroni --validate-config patroni.yml
  [[ $RC == 0 ]] || fail "patroni --validate-config rejected the rendered patroni.yml: $(cat "$OUT" "$ERR")"
  pass "patroni --validate-config accepts the rendered patroni.yml"
fi

# The stdout stream stays one valid YAML stream with the Dockerfile as comment lines.
grep -v -e '^\[monitoring\]' -e '^enabled' patroni.toml >patroni-plain.toml
expect_exit 0 statectl -c patroni-plain.toml render --target k8s
cp "$OUT" patroni-stream.yaml
grep -q '^# Source: patroni/Dockerfile$' patroni-stream.yaml || fail "no Dockerfile in the stream"
run validate patroni-stream.yaml
[[ $RC == 0 ]] || fail "the patroni stream is not valid: $(grep INVALID "$OUT")"
pass "the patroni stream is valid YAML, the Dockerfile as comments"

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

#!/usr/bin/env bash
# [monitoring] enabled renders: the alert rules pass `promtool check rules` and the unit tests of
# tests/monitoring/alerts_test.yml (`promtool test rules`: every alert fires on a failing series
# and stays silent on a healthy one); the Compose render's Prometheus config passes `promtool
# check config` and docker-compose; the Kubernetes render's exporters, ServiceMonitor and
# PrometheusRule pass the kubernetes-models schemas (Prometheus Operator models included), the
# ServiceMonitor's ports exist on the exporters' Service and the PrometheusRule's groups pass
# promtool.
source "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || skip "promtool is not installed (Debian package prometheus)"
cd "$TEST_DIR"

# Every rule group: Patroni and Sentinel ones included.
cat >mon.toml <<'TOML'
[monitoring]
enabled = true
[postgres]
ha = "patroni"
TOML
expect_exit 0 statectl -c mon.toml render --target compose --out compose
for f in docker-compose.yml monitoring/prometheus.yml monitoring/alerts.yml monitoring/postgres-queries.yml; do
  [[ -s compose/$f ]] || fail "compose render lacks $f"
done
promtool check rules compose/monitoring/alerts.yml >promtool.out 2>&1 || fail "promtool check rules: $(cat promtool.out)"
grep -q "SUCCESS: 27 rules found" promtool.out || fail "expected 27 rules: $(cat promtool.out)"
cp "$STATECTL_SOURCE_DIR/tests/monitoring/alerts_test.yml" compose/monitoring/
promtool test rules compose/monitoring/alerts_test.yml >promtool.out 2>&1 || fail "promtool test rules: $(cat promtool.out)"
pass "alert rules: promtool check rules (27 rules) and promtool test rules (each fires, none on a healthy stack)"

promtool check config compose/monitoring/prometheus.yml >promtool.out 2>&1 || fail "promtool check config: $(cat promtool.out)"
if command -v docker-compose >/dev/null; then
  mkdir -p compose/secrets
  for s in postgres replication app pgbouncer redis ca.crt tls.crt tls.key redis-acl redis-replication redis-sentinel; do echo x >compose/secrets/$s; done
  (cd compose && docker-compose -f docker-compose.yml config -q) >"$OUT" 2>"$ERR" || fail "docker-compose config -q: $(cat "$ERR")"
  (cd compose && docker-compose -f docker-compose.yml config --services) | sort | tr '\n' ' ' >services
  for s in prometheus postgres-exporter postgres-exporter-replica redis-exporter; do
    grep -qw "$s" services || fail "compose render lacks service $s: $(cat services)"
  done
fi
grep -q 'DATA_SOURCE_PASS_FILE: /run/secrets/postgres' compose/docker-compose.yml || fail "exporter password not from a secret"
pass "compose: promtool check config, docker-compose config, exporters and Prometheus services"

# Monitoring off: nothing of it is rendered.
printf '' >off.toml
expect_exit 0 statectl -c off.toml render --target compose --out off
[[ ! -e off/monitoring ]] || fail "monitoring files rendered while [monitoring] is off"
grep -q prometheus off/docker-compose.yml && fail "prometheus service rendered while [monitoring] is off"

# Kubernetes: exporters, ServiceMonitor, PrometheusRule.
printf '[monitoring]\nenabled = true\n' >k8s.toml
expect_exit 0 statectl -c k8s.toml render --target k8s --out k8s
[[ -s k8s/70-monitoring.yaml ]] || fail "k8s render lacks 70-monitoring.yaml"
python3 - k8s/70-monitoring.yaml >k8s-check.out <<'PY' || fail "k8s monitoring objects: $(cat k8s-check.out)"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
for k in ("ConfigMap", "Deployment", "Service", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"):
    assert k in kinds, "missing " + k
svc, sm = kinds["Service"], kinds["ServiceMonitor"]
assert sm["apiVersion"] == "monitoring.coreos.com/v1"
labels = svc["metadata"]["labels"]
for k, v in sm["spec"]["selector"]["matchLabels"].items():
    assert labels.get(k) == v, "ServiceMonitor selector %s=%s does not match the Service" % (k, v)
ports = {p["name"] for p in svc["spec"]["ports"]}
for ep in sm["spec"]["endpoints"]:
    assert ep["port"] in ports, "ServiceMonitor port %s is not a Service port %s" % (ep["port"], ports)
containers = {p["name"] for c in kinds["Deployment"]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
for p in svc["spec"]["ports"]:
    assert p["targetPort"] in containers, "Service targetPort %s has no container port" % p["targetPort"]
queries = yaml.safe_load(kinds["ConfigMap"]["data"]["postgres-queries.yml"])
assert "pg_replication" in queries
yaml.safe_dump({"groups": kinds["PrometheusRule"]["spec"]["groups"]}, open("k8s-rules.yml", "w"))
print("ok", len(docs), "documents")
PY
promtool check rules k8s-rules.yml >promtool.out 2>&1 || fail "PrometheusRule groups: $(cat promtool.out)"
grep -q "SUCCESS: 25 rules found" promtool.out || fail "PrometheusRule: expected 25 rules (no Patroni group): $(cat promtool.out)"

if command -v node >/dev/null && command -v npm >/dev/null; then
  VALIDATOR="${STATECTL_BUILD_DIR:-$TEST_DIR}/k8s-validator"
  mkdir -p "$VALIDATOR"
  (
    flock 9
    for pkg in kubernetes-models js-yaml @kubernetes-models/prometheus-operator; do
      [[ -f $VALIDATOR/node_modules/$pkg/package.json ]] && continue
      timeout 300 npm install --prefix "$VALIDATOR" --no-audit --no-fund --silent "$pkg" >>"$VALIDATOR/npm.log" 2>&1 || exit 77
    done
  ) 9>"$VALIDATOR/.lock"
  if [[ $? == 0 ]]; then
    NODE_PATH="$VALIDATOR/node_modules" node "$STATECTL_SOURCE_DIR/tests/integration/k8s_validate.js" k8s/*.yaml >"$OUT" 2>&1 ||
      fail "kubernetes-models rejected a manifest: $(grep INVALID "$OUT")"
    grep -q "ok k8s/70-monitoring.yaml: PrometheusRule/" "$OUT" || fail "PrometheusRule not schema-checked"
    grep -q "ok k8s/70-monitoring.yaml: ServiceMonitor/" "$OUT" || fail "ServiceMonitor not schema-checked"
    echo "k8s: $(tail -1 "$OUT")"
    # The negative control: a rule without expr and a numeric ServiceMonitor port are caught.
    python3 -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open("k8s/70-monitoring.yaml")) if d and d["kind"] in ("PrometheusRule", "ServiceMonitor")]
for d in docs:
    if d["kind"] == "PrometheusRule": del d["spec"]["groups"][0]["rules"][0]["expr"]
    else: d["spec"]["endpoints"][0]["port"] = 12
yaml.safe_dump_all(docs, open("broken.yaml", "w"))'
    ! NODE_PATH="$VALIDATOR/node_modules" node "$STATECTL_SOURCE_DIR/tests/integration/k8s_validate.js" broken.yaml >"$OUT" 2>&1 ||
      fail "the validator accepted a broken PrometheusRule/ServiceMonitor"
    [[ $(grep -c INVALID "$OUT") == 2 ]] || fail "expected both broken objects rejected: $(cat "$OUT")"
  else
    echo "note: npm could not install the validators; schemas not checked" >&2
  fi
fi
pass "k8s: exporters, ServiceMonitor and PrometheusRule are schema-valid and consistent; the rules pass promtool"

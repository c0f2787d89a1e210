#!/usr/bin/env bash
# [monitoring] enabled on the local target: deploy runs Debian's prometheus-postgres-exporter
# (one per PostgreSQL member), prometheus-redis-exporter and prometheus as real processes on this
# test's ports; status shows them healthy; Prometheus's HTTP API reports every target up (both
# PostgreSQL members, the Redis master and replica, the three Sentinels, itself), has loaded the
# rendered alert rules and fires none on the healthy stack; scaling PostgreSQL and Redis adds
# scrape targets that come up; destroy stops them all.
source "$(dirname "$0")/lib.sh"
for tool in prometheus prometheus-postgres-exporter prometheus-redis-exporter; do
  command -v $tool >/dev/null || skip "$tool is not installed"
done
cd "$TEST_DIR"

start_stack $'[monitoring]\nenabled = true\nscrape_interval = "1s"'
PROM="http://127.0.0.1:$(port 100)"

expect_exit 0 statectl status -o json
for name in pg-exporter-0 pg-exporter-1 redis-exporter prometheus; do
  assert_eq "$(json_get "$OUT" "[c['healthy'] for c in j['components'] if c['name'] == '$name'][0]")" True "$name healthy"
done
cp "$OUT" status.json
expect_exit 0 statectl status
assert_contains "$OUT" "prometheus"
pass "deploy started the exporters and Prometheus; status shows them healthy"

# Every target up, as Prometheus itself reports it.
targets_up() {
  curl -sf "$PROM/api/v1/query?query=up" >up.json || return 1
  python3 - <<'PY'
import json, sys
r = json.load(open("up.json"))["data"]["result"]
jobs = {}
for s in r:
    jobs.setdefault(s["metric"]["job"], []).append(s["value"][1])
want = {"postgres": 2, "redis": 2, "sentinel": 3, "prometheus": 1}
ok = all(len(jobs.get(j, [])) == n and all(v == "1" for v in jobs[j]) for j, n in want.items())
sys.exit(0 if ok else 1)
PY
}
wait_until 90 targets_up || fail "not every target is up: $(cat up.json)"
curl -sf "$PROM/api/v1/query?query=pg_up" >pg_up.json
assert_eq "$(json_get pg_up.json 'sorted(s["value"][1] for s in j["data"]["result"])')" "['1', '1']" "pg_up of both members"
curl -sf "$PROM/api/v1/query?query=pg_replication_is_replica" >roles.json
assert_eq "$(json_get roles.json 'sorted(s["value"][1] for s in j["data"]["result"])')" "['0', '1']" "one primary, one standby"
curl -sf "$PROM/api/v1/query?query=redis_up" >redis_up.json
assert_eq "$(json_get redis_up.json 'len([s for s in j["data"]["result"] if s["value"][1] == "1"])')" 5 "redis_up of 2 servers and 3 Sentinels"
pass "Prometheus reports every target up: 2 PostgreSQL, 2 Redis, 3 Sentinels, itself"

curl -sf "$PROM/api/v1/rules" >rules.json
assert_eq "$(json_get rules.json 'sum(len(g["rules"]) for g in j["data"]["groups"])')" 25 "alert rules loaded (no Patroni group)"
curl -sf "$PROM/api/v1/alerts" >alerts.json
assert_eq "$(json_get rules.json 'all(r["health"] == "ok" for g in j["data"]["groups"] for r in g["rules"])')" True "every rule evaluates"
assert_eq "$(json_get alerts.json '[a["labels"]["alertname"] for a in j["data"]["alerts"] if a["state"] == "firing"]')" "[]" "no alert fires on a healthy stack"
pass "the rendered alert rules are loaded, evaluate, and none fires on the healthy stack"

# The statectl_* series the rules read are the ones statectl's textfile outputs export.
expect_exit 0 statectl backup create
statectl backup list --format prometheus >backup.prom
statectl capacity check --format prometheus >capacity.prom
# Both files in one textfile directory: no metric family may come from both.
cat backup.prom capacity.prom >textfile.prom
for f in backup.prom capacity.prom textfile.prom; do
  promtool check metrics <$f >promtool.out 2>&1 || fail "promtool check metrics $f: $(cat promtool.out)"
done
grep -v '^ *#' "$TEST_DIR/stack/prometheus/alerts.yml" | grep -o 'statectl_[a-z][a-z_]*' | sort -u >rule-names
[[ -s rule-names ]] || fail "no statectl_ series in the rules"
while read -r name; do
  grep -q "^$name[{ ]" textfile.prom || fail "the rules read $name, which no --format prometheus output has"
done <rule-names
pass "every statectl_ series of the alert rules ($(tr '\n' ' ' <rule-names)) is exported by backup list / capacity check"

# The exporters' passwords are in no argv (postgres_exporter: environment; redis_exporter: 0600 file).
pg_pw=$(statectl secrets get postgres)
redis_pw=$(statectl secrets get redis)
[[ -n $pg_pw && -n $redis_pw ]] || fail "secrets get returned nothing"
for name in pg-exporter-0 pg-exporter-1 redis-exporter prometheus; do
  pid=$(json_get status.json "[c['pid'] for c in j['components'] if c['name'] == '$name'][0]")
  args=$(tr '\0' ' ' </proc/"$pid"/cmdline)
  [[ $args != *"$pg_pw"* && $args != *"$redis_pw"* ]] || fail "$name has a password in its argv"
done
[[ $(stat -c %a "$TEST_DIR/stack/redis-exporter/passwords.json") == 600 ]] || fail "redis_exporter password file is not 0600"
pass "no password in the exporters' argv"

# Scaling adds members: Prometheus scrapes the new exporter and the new Redis replica (with its
# password) without a redeploy of the monitoring.
expect_exit 0 statectl scale postgres --replicas 2
expect_exit 0 statectl scale redis --replicas 2
scaled_up() {
  curl -sf "$PROM/api/v1/query?query=up" >up.json || return 1
  [[ $(json_get up.json 'sorted((s["metric"]["job"], s["value"][1]) for s in j["data"]["result"] if s["metric"]["job"] in ("postgres", "redis"))') == \
    "[('postgres', '1'), ('postgres', '1'), ('postgres', '1'), ('redis', '1'), ('redis', '1'), ('redis', '1')]" ]] || return 1
  curl -sf "$PROM/api/v1/query?query=redis_up" >redis_up.json || return 1
  [[ $(json_get redis_up.json 'len([s for s in j["data"]["result"] if s["value"][1] == "1"])') == 6 ]]
}
wait_until 90 scaled_up || fail "after scaling, not every new target is up: $(cat up.json) $(cat redis_up.json)"
expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "scaled stack healthy"
cp "$OUT" status.json
pass "scale postgres/redis: the new exporter and Redis replica are scraped and up"

expect_exit 0 statectl destroy
for name in pg-exporter-0 pg-exporter-1 pg-exporter-2 redis-exporter prometheus; do
  pid=$(json_get status.json "[c['pid'] for c in j['components'] if c['name'] == '$name'][0]")
  [[ $pid -gt 0 ]] || fail "no pid for $name"
  wait_until 15 bash -c "! kill -0 $pid 2>/dev/null" || fail "$name (pid $pid) still runs after destroy"
done
pass "destroy stops the exporters and Prometheus"

#!/usr/bin/env bash
# [monitoring] enabled with ha = "patroni" on the local target: Prometheus scrapes a
# postgres_exporter per Patroni member and every member's Patroni /metrics, reports all of them
# up, sees exactly one leader (patroni_primary) and one PostgreSQL primary, and loads the Patroni
# alert group; a switchover moves the leader and PatroniLeaderChanged fires.
source "$(dirname "$0")/lib.sh"
for tool in prometheus prometheus-postgres-exporter prometheus-redis-exporter patroni etcd; do
  command -v $tool >/dev/null || skip "$tool is not installed"
done
cd "$TEST_DIR"

start_stack $'[postgres]\nha = "patroni"\nttl = 10\nloop_wait = 2\nretry_timeout = 4\n[redis]\nmode = "standalone"\n[monitoring]\nenabled = true\nscrape_interval = "1s"'
PROM="http://127.0.0.1:$(port 100)"
query() { curl -sfG "$PROM/api/v1/query" --data-urlencode "query=$1" >q.json && json_get q.json "$2"; }

expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'j["healthy"]')" True "stack with monitoring healthy"
targets_up() { [[ $(query 'up' 'sorted((s["metric"]["job"], s["value"][1]) for s in j["data"]["result"])') == \
  "[('patroni', '1'), ('patroni', '1'), ('patroni', '1'), ('postgres', '1'), ('postgres', '1'), ('postgres', '1'), ('prometheus', '1'), ('redis', '1')]" ]]; }
wait_until 90 targets_up || fail "not every target is up: $(cat q.json)"
assert_eq "$(query 'sum(patroni_primary)' 'j["data"]["result"][0]["value"][1]')" 1 "one Patroni leader"
assert_eq "$(query 'count(pg_replication_is_replica == 0)' 'j["data"]["result"][0]["value"][1]')" 1 "one PostgreSQL primary"
curl -sf "$PROM/api/v1/rules" >rules.json
assert_eq "$(json_get rules.json '[r["name"] for g in j["data"]["groups"] if g["name"] == "statectl-patroni" for r in g["rules"]]')" \
  "['PatroniNoLeader', 'PatroniLeaderChanged']" "Patroni alert group loaded"
pass "Prometheus: 3 Patroni members, 3 postgres_exporters, Redis and itself up; one leader"

expect_exit 0 statectl failover switchover
leader_changed() { curl -sf "$PROM/api/v1/alerts" >alerts.json && [[ $(json_get alerts.json '[a["state"] for a in j["data"]["alerts"] if a["labels"]["alertname"] == "PatroniLeaderChanged"]') == "['firing']" ]]; }
wait_until 60 leader_changed || fail "PatroniLeaderChanged did not fire after a switchover: $(cat alerts.json)"
pass "a switchover makes PatroniLeaderChanged fire"

#!/usr/bin/env bash
# [tls] enabled in Patroni mode: the members' PostgreSQL accepts TLS 1.3 only, Patroni streams
# and bootstraps over verify-full, HAProxy passes TLS through, Patroni's REST API and etcd serve
# TLS only (HAProxy's checks and statectl verify them against the CA), and statectl's clients work.
source "$(dirname "$0")/lib.sh"

start_stack $'[tls]\nenabled = true\n[postgres]\nha = "patroni"\nttl = 10\nloop_wait = 2\nretry_timeout = 4\n[redis]\nmode = "standalone"'
pass "deploy in Patroni mode with TLS"

expect_exit 0 statectl status -o json
cp "$OUT" status.json
python3 - status.json <<'PY' || fail "status -o json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["healthy"] is True, j
for c in j["components"]:
    if c["kind"] in ("haproxy", "pgbouncer", "redis", "etcd", "patroni"):  # Patroni members: their REST API
        assert c.get("tls_protocol") == "TLSv1.3", c
PY
pass "status: every member healthy; HAProxy, PgBouncer, Redis, etcd and Patroni REST links TLSv1.3"

CA="$TEST_DIR/stack/tls/ca.crt"
for p in "$(port 0)" "$(port 90)" "$(port 20)"; do
  run env PGPASSWORD="$(cat "$TEST_DIR/stack/secrets/postgres")" PGSSLMODE=disable PGCONNECT_TIMEOUT=5 \
    psql -h 127.0.0.1 -p "$p" -U postgres -d postgres -tAc 'SELECT 1'
  [[ $RC != 0 ]] || fail "a plain-text login to 127.0.0.1:$p was accepted"
done
timeout 10 openssl s_client -connect "127.0.0.1:$(port 90)" -starttls postgres -CAfile "$CA" -verify_return_error -brief </dev/null >s_client.out 2>&1 ||
  fail "TLS through HAProxy: $(cat s_client.out)"
assert_contains s_client.out "Protocol version: TLSv1.3"
pass "plain text refused on a member, HAProxy and PgBouncer; TLS 1.3 through HAProxy"

# A replica may still be connecting right after deploy: wait for both streams.
tls_streams() {
  statectl psql --direct -- -tAc "SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid WHERE s.ssl" >streams.out 2>&1 &&
    [[ "$(cat streams.out)" == 2 ]]
}
wait_until 60 tls_streams || true
expect_exit 0 statectl psql --direct -- -tAc "SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid WHERE s.ssl"
assert_eq "$(cat "$OUT")" 2 "both Patroni replicas stream over TLS"
expect_exit 0 statectl put tls-patroni yes
expect_exit 0 statectl get tls-patroni
assert_eq "$(cat "$OUT")" yes "get through PgBouncer -> HAProxy -> leader over TLS"
pass "Patroni replication over TLS; state commands through the TLS chain"

# Patroni's REST API and etcd: TLS 1.3 verified against the stack's CA; plain HTTP is refused.
for p in "$(port 60)" "$(port 70)" "$(port 71)" "$(port 72)"; do
  timeout 10 openssl s_client -connect "127.0.0.1:$p" -CAfile "$CA" -verify_return_error -verify_ip 127.0.0.1 -brief </dev/null >s_client.out 2>&1 ||
    fail "TLS to 127.0.0.1:$p: $(cat s_client.out)"
  assert_contains s_client.out "Protocol version: TLSv1.3"
done
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" "https://127.0.0.1:$(port 60)/health") || true
assert_eq "$code" 200 "etcd /health over https with the CA"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" "https://127.0.0.1:$(port 70)/cluster") || true
assert_eq "$code" 200 "Patroni /cluster over https with the CA"
for url in "http://127.0.0.1:$(port 60)/health" "http://127.0.0.1:$(port 60)/v3/kv/range" "http://127.0.0.1:$(port 70)/cluster" \
  "http://127.0.0.1:$(port 71)/patroni"; do
  # etcd (Go) answers plain HTTP with 400 "Client sent an HTTP request to an HTTPS server";
  # Patroni drops the connection after the failed handshake. Neither serves the request.
  out=$(curl -sS -m 5 -w '\n%{http_code}' "$url" 2>&1) || true
  [[ $(tail -1 <<<"$out") != 2* ]] || fail "plain HTTP to $url was served: $out"
  [[ $out != *'"health"'* && $out != *'"members"'* && $out != *'"state"'* ]] || fail "plain HTTP to $url answered: $out"
done
grep -q 'check-ssl verify required ca-file' stack/haproxy/haproxy.cfg || fail "HAProxy checks the REST API without TLS: $(cat stack/haproxy/haproxy.cfg)"
pass "Patroni REST and etcd: TLS 1.3 verified against the CA, plain HTTP refused, HAProxy's checks over verified TLS"

expect_exit 0 statectl failover switchover -o json
old=$(json_get "$OUT" 'j["old_primary"]')
new=$(json_get "$OUT" 'j["new_primary"]')
[[ $old != "$new" ]] || fail "switchover kept the leader"
expect_exit 0 statectl get tls-patroni
assert_eq "$(cat "$OUT")" yes "get after the switchover"
pass "switchover $old -> $new through the TLS REST API"

before=$(openssl s_client -connect "127.0.0.1:$(port 70)" -CAfile "$CA" </dev/null 2>/dev/null | openssl x509 -noout -serial)
expect_exit 0 statectl secrets tls --rotate --apply
cat "$OUT" "$ERR" >rotate.out
assert_contains rotate.out "Patroni reload (SIGHUP)"
after=$(openssl s_client -connect "127.0.0.1:$(port 70)" -CAfile "$CA" </dev/null 2>/dev/null | openssl x509 -noout -serial)
[[ -n $after && $after != "$before" ]] || fail "Patroni's REST API still presents $before"
healthy_status() { statectl status >/dev/null 2>&1; }
wait_until 30 healthy_status || fail "not healthy after the rotation: $(statectl status 2>&1)"
pass "secrets tls --rotate --apply: the REST API and etcd present the new certificate"

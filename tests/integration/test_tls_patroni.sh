#!/usr/bin/env bash
# [tls] enabled in Patroni mode: the members' PostgreSQL accepts TLS 1.3 only, Patroni streams
# and bootstraps over verify-full, HAProxy passes TLS through, and statectl's clients work.
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
    if c["kind"] in ("haproxy", "pgbouncer", "redis"):  # Patroni members: from the REST API
        assert c.get("tls_protocol") == "TLSv1.3", c
PY
pass "status: every member healthy; HAProxy, PgBouncer and Redis links TLSv1.3"

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

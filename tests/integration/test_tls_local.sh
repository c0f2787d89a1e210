#!/usr/bin/env bash
# [tls] enabled on the local target: every server port speaks TLS only (plain-text TCP logins to
# PostgreSQL, PgBouncer and Redis are refused), `openssl s_client` negotiates TLS 1.3 with each
# and verifies the certificate against the stack's CA, and statectl's own clients (state
# commands, locks, status, psql, redis-cli) verify the servers and work.
source "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || skip "openssl is not installed"

start_stack $'[tls]\nenabled = true'
pass "deploy with [tls] enabled brings the stack up"

CA="$TEST_DIR/stack/tls/ca.crt"
[[ -s $CA ]] || fail "the stack's CA file $CA is missing"
key_mode=$(stat -c '%a %U' "$TEST_DIR/stack/tls/server.key")
if [[ $(id -u) == 0 ]]; then assert_eq "$key_mode" "600 postgres" "server key mode and owner"; fi

# --- status: every link encrypted with TLSv1.3 -----------------------------------------------
expect_exit 0 statectl status -o json
cp "$OUT" status.json
python3 - status.json <<'PY' || fail "status -o json does not show TLS on every link"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["healthy"] is True, j
for c in j["components"]:
    if c["kind"] in ("postgres", "pgbouncer", "redis", "sentinel"):
        assert c.get("encrypted") is True and c.get("tls_protocol") == "TLSv1.3", c
PY
expect_exit 0 statectl status
assert_contains "$OUT" "TLSv1.3"
pass "status shows each link encrypted with TLSv1.3"

# --- plain text refused ----------------------------------------------------------------------
PW_PG=$(cat "$TEST_DIR/stack/secrets/postgres")
for p in "$(port 0)" "$(port 1)" "$(port 20)"; do
  run env PGPASSWORD="$PW_PG" PGSSLMODE=disable PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p "$p" -U postgres -d postgres -tAc 'SELECT 1'
  [[ $RC != 0 ]] || fail "a plain-text login to 127.0.0.1:$p was accepted"
  grep -qiE 'reject|SSL|TLS|pg_hba' "$ERR" || fail "unexpected refusal on $p: $(cat "$ERR")"
done
pass "plain-text logins to PostgreSQL (primary, standby) and PgBouncer are refused"

for p in "$(port 30)" "$(port 31)" "$(port 50)"; do
  run env REDISCLI_AUTH="$(cat "$TEST_DIR/stack/secrets/redis")" timeout 10 redis-cli -h 127.0.0.1 -p "$p" PING
  if grep -qx PONG "$OUT"; then fail "a plain-text PING to Redis/Sentinel 127.0.0.1:$p was answered"; fi
done
pass "plain-text Redis and Sentinel connections get no answer"

# --- TLS 1.3 with a certificate from the stack's CA ------------------------------------------
s_client() { # PORT [EXTRA...]
  local p=$1
  shift
  timeout 10 openssl s_client -connect "127.0.0.1:$p" -CAfile "$CA" -verify_return_error -verify_ip 127.0.0.1 -brief "$@" </dev/null 2>&1
}
for p in "$(port 0)" "$(port 20)"; do
  s_client "$p" -starttls postgres >"$OUT" || fail "TLS handshake with PostgreSQL/PgBouncer on $p failed: $(cat "$OUT")"
  assert_contains "$OUT" "Protocol version: TLSv1.3"
  assert_contains "$OUT" "Verification: OK"
done
for p in "$(port 30)" "$(port 31)" "$(port 50)"; do
  s_client "$p" >"$OUT" || fail "TLS handshake with Redis/Sentinel on $p failed: $(cat "$OUT")"
  assert_contains "$OUT" "Protocol version: TLSv1.3"
  assert_contains "$OUT" "Verification: OK"
done
run timeout 10 openssl s_client -connect "127.0.0.1:$(port 30)" -tls1_2 </dev/null
[[ $RC != 0 ]] || fail "Redis accepted TLS 1.2"
run timeout 10 openssl s_client -connect "127.0.0.1:$(port 0)" -starttls postgres -tls1_2 </dev/null
[[ $RC != 0 ]] || fail "PostgreSQL accepted TLS 1.2"
pass "openssl s_client negotiates TLSv1.3 with PostgreSQL, PgBouncer, Redis and Sentinel (verified against the CA); TLS 1.2 is refused"

# A CA the servers' certificate does not chain to is refused by statectl's clients.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -days 1 \
  -keyout "$TEST_DIR/other.key" -out "$TEST_DIR/other.crt" 2>/dev/null
run env PGPASSWORD="$PW_PG" PGSSLMODE=verify-full PGSSLROOTCERT="$TEST_DIR/other.crt" psql -h 127.0.0.1 -p "$(port 20)" -U postgres -d postgres -tAc 'SELECT 1'
[[ $RC != 0 ]] || fail "verify-full accepted a server certificate from another CA"

# --- replication over TLS --------------------------------------------------------------------
expect_exit 0 statectl psql --direct -- -tAc "SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid WHERE s.ssl AND s.version = 'TLSv1.3'"
assert_eq "$(cat "$OUT")" 1 "standbys streaming over TLSv1.3"
expect_exit 0 statectl psql -- -tAc "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
assert_eq "$(cat "$OUT")" t "PgBouncer's server connection is TLS"
expect_exit 0 statectl redis-cli -- INFO replication
assert_contains "$OUT" "connected_slaves:1"
assert_contains "$OUT" "state=online"
pass "PostgreSQL replication and PgBouncer's server link use TLSv1.3; the Redis replica is online over TLS"

# --- statectl's own clients ------------------------------------------------------------------
for backend in postgres redis; do
  expect_exit 0 statectl put "tls:$backend" "secret-free-value" --backend "$backend"
  expect_exit 0 statectl get "tls:$backend" --backend "$backend"
  assert_eq "$(cat "$OUT")" "secret-free-value" "get over TLS ($backend)"
  expect_exit 0 statectl lock "tls-lock-$backend" --backend "$backend" --ttl 10s -- sh -c 'test -n "$STATECTL_LOCK_TOKEN"'
  expect_exit 0 statectl keys --backend "$backend" --prefix tls:
  assert_contains "$OUT" "tls:$backend"
done
expect_exit 0 statectl redis-cli -- PING
assert_eq "$(cat "$OUT")" PONG "redis-cli over TLS"
pass "get, put, keys and lock work on both backends over verified TLS; psql and redis-cli passthroughs too"

# No secret in argv: the passthroughs' command lines (as --dry-run shows them) hold none.
expect_exit 0 statectl --dry-run redis-cli -- PING
cat "$OUT" "$ERR" >dry-run.txt
assert_contains dry-run.txt "--tls --cacert $CA"
for s in postgres redis; do
  ! grep -qF -- "$(cat "$TEST_DIR/stack/secrets/$s")" dry-run.txt || fail "the $s password appears in the dry-run output"
done
pass "redis-cli gets --tls --cacert, and no password, in argv"

# --- certificate rotation without a restart ----------------------------------------------------
serial_on() { # PORT [-starttls postgres]
  local p=$1
  shift
  timeout 10 openssl s_client -connect "127.0.0.1:$p" -CAfile "$CA" "$@" </dev/null 2>/dev/null | openssl x509 -noout -serial
}
before=$(serial_on "$(port 30)")
expect_exit 0 statectl status -o json
cp "$OUT" before.json
expect_exit 0 statectl secrets tls --rotate --apply
assert_contains "$OUT" "applied: "
assert_contains "$OUT" "verified: every server presents the new certificate"
want=$(statectl secrets get tls.crt | openssl x509 -noout -serial)
[[ $want != "$before" ]] || fail "the rotated certificate has the old serial"
for p in "$(port 0)" "$(port 1)" "$(port 20)"; do
  assert_eq "$(serial_on "$p" -starttls postgres)" "$want" "certificate on $p after rotation"
done
for p in "$(port 30)" "$(port 31)" "$(port 50)"; do assert_eq "$(serial_on "$p")" "$want" "certificate on $p after rotation"; done
expect_exit 0 statectl status -o json
cp "$OUT" after.json
python3 - before.json after.json <<'PY' || fail "a server was restarted by the rotation"
import json, sys
b, a = (json.load(open(f)) for f in sys.argv[1:3])
pids = lambda j: {c["name"]: c["pid"] for c in j["components"] if c["kind"] in ("postgres", "pgbouncer", "redis")}
assert pids(b) == pids(a), (pids(b), pids(a))
assert a["healthy"], a
PY
expect_exit 0 statectl get tls:postgres
expect_exit 0 statectl get tls:redis --backend redis
pass "secrets tls --rotate --apply: every server presents the new certificate, PostgreSQL, PgBouncer and Redis without a restart"

# The TLS mode of a running stack does not switch under it.
STATECTL_TLS_ENABLED=false expect_exit 2 statectl deploy
assert_contains "$ERR" "statectl: error: the local stack in $TEST_DIR/stack runs with TLS"
assert_contains "$ERR" "hint: set [tls] enabled = true to keep it as it is, or run 'statectl destroy --purge' first to switch"
expect_exit 0 statectl status
pass "deploy refuses to turn TLS off on a running TLS stack (exit 2) and leaves it healthy"

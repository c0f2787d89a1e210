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

# --- the application role's client certificate ------------------------------------------------
# The state commands log in to PgBouncer as [postgres] app_user with a certificate of the
# stack's CA (CN = the role; PgBouncer auth_type = hba with a `cert` line for that user only).
APP_CRT="$TEST_DIR/stack/tls/pg-app.crt"
APP_KEY="$TEST_DIR/stack/tls/pg-app.key"
for f in "$APP_CRT" "$APP_KEY" "$TEST_DIR/stack/secrets/pg-app.crt" "$TEST_DIR/stack/secrets/pg-app.key"; do
  [[ -s $f ]] || fail "$f is missing"
  assert_eq "$(stat -c %a "$f")" 600 "mode of $f"
done
assert_contains <(openssl x509 -in "$APP_CRT" -noout -subject -ext extendedKeyUsage) "CN = app"
assert_contains <(openssl x509 -in "$APP_CRT" -noout -ext extendedKeyUsage) "TLS Web Client Authentication"
openssl verify -CAfile "$CA" "$APP_CRT" >/dev/null || fail "the client certificate does not chain to the stack's CA"
BOUNCER_DIR="$TEST_DIR/stack/pgbouncer"
assert_contains "$BOUNCER_DIR/pgbouncer.ini" "auth_type = hba"
assert_contains "$BOUNCER_DIR/pgbouncer_hba.conf" "hostssl all       app   127.0.0.1/32  cert"
# The state table was made by the application role: the state commands above ran as it.
expect_exit 0 statectl psql -- -tAc "SELECT tableowner FROM pg_tables WHERE tablename = 'statectl_kv'"
assert_eq "$(cat "$OUT")" app "owner of the state table"
grep -qE "login attempt: db=postgres user=app tls=TLSv1.3" "$BOUNCER_DIR/pgbouncer.log" ||
  fail "PgBouncer logged no TLS login of the application role: $(tail -5 "$BOUNCER_DIR/pgbouncer.log")"
# No key material in statectl's argv or environment while it holds a lock, nor in any log.
expect_exit 0 statectl lock tls-argv --ttl 10s -- sh -c 'tr "\0" "\n" </proc/$PPID/cmdline; tr "\0" "\n" </proc/$PPID/environ'
! grep -qE "PRIVATE KEY|BEGIN CERT|pg-app" "$OUT" || fail "key material in statectl's argv or environment: $(cat "$OUT")"
! grep -rlF -e "PRIVATE KEY" -e "$(sed -n 2p "$APP_KEY")" "$TEST_DIR/stack" --include='*.log' || fail "key material in a log"
pass "state commands log in as the application role with its client certificate (0600 files, CN = role, not in argv or logs)"

# A password login as the application role through PgBouncer is refused (the cert line); the
# superuser's password login there still works, and so does the role's own password directly.
PW_APP=$(cat "$TEST_DIR/stack/secrets/app")
run env PGPASSWORD="$PW_APP" PGSSLMODE=verify-full PGSSLROOTCERT="$CA" PGCONNECT_TIMEOUT=5 \
  psql -h 127.0.0.1 -p "$(port 20)" -U app -d postgres -tAc 'SELECT 1'
[[ $RC != 0 ]] || fail "PgBouncer accepted a password login of the application role"
run env PGPASSWORD="$PW_PG" PGSSLMODE=verify-full PGSSLROOTCERT="$CA" PGCONNECT_TIMEOUT=5 \
  psql -h 127.0.0.1 -p "$(port 20)" -U postgres -d postgres -tAc 'SELECT 1'
assert_eq "$(cat "$OUT")" 1 "superuser password login through PgBouncer"
run env PGSSLMODE=verify-full PGSSLROOTCERT="$CA" PGSSLCERT="$APP_CRT" PGSSLKEY="$APP_KEY" PGCONNECT_TIMEOUT=5 \
  psql -h 127.0.0.1 -p "$(port 20)" -U app -d postgres -tAc 'SELECT current_user'
assert_eq "$(cat "$OUT")" app "certificate login of the application role through PgBouncer"
run env PGSSLMODE=verify-full PGSSLROOTCERT="$CA" PGSSLCERT="$APP_CRT" PGSSLKEY="$APP_KEY" PGCONNECT_TIMEOUT=5 \
  psql -h 127.0.0.1 -p "$(port 20)" -U postgres -d postgres -tAc 'SELECT 1'
[[ $RC != 0 ]] || fail "the application role's certificate logged in as the superuser"
pass "PgBouncer refuses the application role's password and the certificate for another user; the superuser's password still works"

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
app_before=$(openssl x509 -in "$APP_CRT" -noout -serial)
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
app_after=$(openssl x509 -in "$APP_CRT" -noout -serial)
[[ $app_after != "$app_before" ]] || fail "the application role's certificate was not reissued by the rotation"
assert_eq "$(statectl secrets get pg-app.crt | openssl x509 -noout -serial)" "$app_after" "client certificate file and store"
expect_exit 0 statectl get tls:postgres
expect_exit 0 statectl lock tls-lock-rotated --ttl 10s -- true
expect_exit 0 statectl get tls:redis --backend redis
pass "secrets tls --rotate --apply: every server presents the new certificate, PostgreSQL, PgBouncer and Redis without a restart; the application role's reissued certificate logs in"

# The TLS mode of a running stack does not switch under it.
STATECTL_TLS_ENABLED=false expect_exit 2 statectl deploy
assert_contains "$ERR" "statectl: error: the local stack in $TEST_DIR/stack runs with TLS"
assert_contains "$ERR" "hint: set [tls] enabled = true to keep it as it is, or run 'statectl destroy --purge' first to switch"
expect_exit 0 statectl status
pass "deploy refuses to turn TLS off on a running TLS stack (exit 2) and leaves it healthy"

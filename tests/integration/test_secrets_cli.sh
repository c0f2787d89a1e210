#!/usr/bin/env bash
# secrets generate / tls / list / get / rotate / push --target compose / keygen through the real
# binary: modes, backups, certificate expiry, encryption at rest and its failure messages.
source "$(dirname "$0")/lib.sh"
cd "$TEST_DIR"
printf '[project]\nname = "clitest"\n[local]\ndir = "%s/state"\n' "$TEST_DIR" >statectl.toml
store="$TEST_DIR/state/secrets"

expect_exit 0 statectl --dry-run secrets generate
assert_contains "$OUT" "would generate   postgres"
[[ ! -e $store/postgres ]] || fail "dry-run wrote a secret"
expect_exit 0 statectl secrets generate -o json
assert_eq "$(json_get "$OUT" '[s["name"] + ":" + s["action"] for s in j["secrets"]]')" \
  "['postgres:generated', 'replication:generated', 'app:generated', 'pgbouncer:generated', 'redis:generated']" "generate"
assert_eq "$(stat -c %a "$store")" 700 "store mode"
assert_eq "$(stat -c %a "$store/postgres")" 600 "secret mode"
pg=$(statectl secrets get postgres)
[[ $pg =~ ^[A-Za-z0-9_-]{32}$ ]] || fail "password '$pg' is not 32 URL-safe characters"
expect_exit 0 statectl secrets generate
assert_contains "$OUT" "kept             postgres (exists; --force replaces it)"
assert_eq "$(statectl secrets get postgres)" "$pg" "generate keeps existing values"
expect_exit 0 statectl secrets generate extra --length 48
assert_eq "$(statectl secrets get extra | wc -c)" 48 "--length"
expect_exit 2 statectl secrets generate short --length 8
assert_contains "$ERR" "statectl: error: invalid --length 8: a password must have between 16 and 1024 characters"
pass "generate: the stack's set, kept unless --force, 0700/0600"

expect_exit 0 statectl secrets tls --san db.example.com --days 90 -o json
assert_eq "$(json_get "$OUT" 'j["ca_created"]')" True "first tls creates a CA"
assert_eq "$(json_get "$OUT" 'j["days_left"]')" 89 "days left"
assert_eq "$(json_get "$OUT" '"db.example.com" in j["sans"] and "127.0.0.1" in j["sans"] and "clitest-pgbouncer" in j["sans"]')" True "sans"
expect_exit 0 statectl secrets tls
assert_contains "$OUT" "existing CA"
# The certificate verifies against the CA with OpenSSL, and has the names.
statectl secrets get ca.crt >ca.pem
statectl secrets get tls.crt >tls.pem
openssl verify -CAfile ca.pem tls.pem >/dev/null || fail "tls.crt does not verify against ca.crt"
openssl x509 -in tls.pem -noout -ext subjectAltName | grep -q "DNS:clitest-postgres-primary" || fail "SAN missing"
expect_exit 0 statectl secrets list -o json
days=$(json_get "$OUT" '[s["days_left"] for s in j["secrets"] if s["name"] == "tls.crt"][0]')
[[ $days == 364 ]] || fail "secrets list days_left of tls.crt is $days, expected 364"
assert_eq "$(json_get "$OUT" '[s["kind"] for s in j["secrets"] if s["name"] == "ca.crt"][0]')" tls-ca "ca kind"
assert_eq "$(json_get "$OUT" '[s["days_left"] for s in j["secrets"] if s["name"] == "postgres"][0]')" None "password has no expiry"
assert_not_contains "$OUT" "$pg"
assert_not_contains "$OUT" "PRIVATE KEY"
expect_exit 0 statectl secrets list
assert_contains "$OUT" "NAME"
assert_contains "$OUT" "DAYS LEFT"
assert_not_contains "$OUT" "$pg"
pass "tls: CA reused, SANs, expiry shown by list (days_left $days), no values in list"

expect_exit 0 statectl secrets rotate postgres -o json
new=$(statectl secrets get postgres)
[[ $new != "$pg" && ${#new} == 32 ]] || fail "rotate did not change the value"
backup=$(json_get "$OUT" 'j["backups"][0]')
assert_eq "$(cat "$backup")" "$pg" "backup holds the old value"
assert_eq "$(stat -c %a "$backup")" 600 "backup mode"
[[ $(basename "$backup") =~ ^postgres\.[0-9]{8}T[0-9]{6}Z$ ]] || fail "backup name $(basename "$backup")"
expect_exit 0 statectl secrets list -o json
[[ $(json_get "$OUT" '[s["rotated"] for s in j["secrets"] if s["name"] == "postgres"][0]') =~ ^20[0-9-]+T ]] || fail "rotated date"
expect_exit 0 statectl secrets rotate tls.crt
assert_contains "$OUT" "rotated tls.crt, tls.key"
statectl secrets get tls.crt >tls2.pem
openssl verify -CAfile ca.pem tls2.pem >/dev/null || fail "rotated tls.crt does not verify against the same CA"
cmp -s tls.pem tls2.pem && fail "tls.crt unchanged"
expect_exit 2 statectl secrets rotate nope
assert_contains "$ERR" "statectl: error: secret 'nope' not found in $store"
pass "rotate: new value, dated 0600 backup, rotated date; tls reissued under the same CA"

expect_exit 1 statectl secrets get nope
assert_contains "$ERR" "secret 'nope' not found"
chmod 0644 "$store/app"
expect_exit 2 statectl secrets get app
assert_contains "$ERR" "statectl: error: refusing to read $store/app: its mode is 0644, readable by group or others"
assert_contains "$ERR" "hint: run: chmod 0600 $store/app"
chmod 0600 "$store/app"
pass "get: exit 1 when absent; group-readable file refused with the chmod to run"

expect_exit 0 statectl secrets push --target compose
for n in postgres replication app pgbouncer redis tls.crt tls.key ca.crt; do
  f="$TEST_DIR/state/compose/secrets/$n"
  [[ -f $f ]] || fail "compose secret $n missing"
  # For the containers' uid 999 (the compose render's user), inside the 0700 directory.
  if [[ $(id -u) == 0 ]]; then want="400 999"; else want="644 $(id -u)"; fi
  assert_eq "$(stat -c '%a %u' "$f")" "$want" "compose secret mode and owner of $n"
done
[[ ! -e $TEST_DIR/state/compose/secrets/ca.key ]] || fail "ca.key must never be pushed"
assert_eq "$(cat "$TEST_DIR/state/compose/secrets/postgres")" "$new" "compose secret content"
expect_exit 2 statectl secrets push --target local
pass "push --target compose: 0600 files where the compose file looks, never ca.key"

# Encryption at rest: a key from the environment; plaintext stays readable, new writes encrypt.
export STATECTL_MASTER_KEY=$(statectl secrets keygen)
[[ $STATECTL_MASTER_KEY =~ ^[0-9a-f]{64}$ ]] || fail "keygen output"
expect_exit 0 statectl secrets rotate redis
grep -q "SCTLAES1" "$store/redis" || fail "rotated value not encrypted"
r=$(statectl secrets get redis)
grep -qF -- "$r" "$store/redis" && fail "plaintext on disk"
expect_exit 0 statectl secrets list -o json
assert_eq "$(json_get "$OUT" '[s["encrypted"] for s in j["secrets"] if s["name"] == "redis"][0]')" True "encrypted flag"
good=$STATECTL_MASTER_KEY
STATECTL_MASTER_KEY=$(statectl secrets keygen) expect_exit 2 statectl secrets get redis
assert_contains "$ERR" "statectl: error: cannot decrypt secret 'redis': wrong master key: $store/redis was encrypted with key id"
assert_not_contains "$OUT" "$r"
unset STATECTL_MASTER_KEY
expect_exit 2 statectl secrets get redis
assert_contains "$ERR" "it is encrypted and no master key is configured"
printf '%s\n' "$good" >key.file
chmod 0644 key.file
printf '[secrets]\nkey_file = "%s/key.file"\n' "$TEST_DIR" >>statectl.toml
expect_exit 2 statectl secrets get redis
assert_contains "$ERR" "refusing to read $TEST_DIR/key.file: its mode is 0644"
chmod 0600 key.file
assert_eq "$(statectl secrets get redis)" "$r" "key file decrypts"
pass "encryption at rest: round trip, wrong key and missing key say so, key file mode enforced"

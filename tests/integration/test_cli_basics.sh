#!/usr/bin/env bash
# The command tree, config errors and version, through the real binary.
source "$(dirname "$0")/lib.sh"
cd "$TEST_DIR"

expect_exit 2 statectl confg
assert_contains "$ERR" "statectl: error: unknown command 'confg'"
assert_contains "$ERR" "did you mean 'config'"
pass "unknown command suggests the closest one"

expect_exit 2 statectl config shw
assert_contains "$ERR" "did you mean 'show'"
pass "unknown nested command suggests the closest one"

expect_exit 2 statectl --no-such-flag
assert_contains "$ERR" "statectl: error: unknown option '--no-such-flag'"
pass "unknown flag exits 2"

expect_exit 2 statectl -o json confg
json_get "$OUT" 'j["error"]["code"]' | grep -qx 2 || fail "json error code"
pass "errors under -o json go to stdout as JSON"

printf '[project]\nname = "demo"\n[postgres]\nreplicaz = 3\n' >bad.toml
expect_exit 2 statectl -c bad.toml config validate
assert_contains "$ERR" "statectl: error: bad.toml:4:1: unknown key 'replicaz' in [postgres]"
assert_contains "$ERR" "hint: did you mean 'replicas'?"
pass "unknown key names FILE:LINE:COL"

printf '[postgres]\nreplicas = "three"\n' >type.toml
expect_exit 2 statectl -c type.toml config show
assert_contains "$ERR" "type.toml:2:12: postgres.replicas must be an integer, got string"
pass "wrong type names FILE:LINE:COL"

printf '[project]\nname = "x"\nname = = 1\n' >syntax.toml
expect_exit 2 statectl -c syntax.toml config show
assert_contains "$ERR" "syntax.toml:3:"
pass "TOML syntax error names its line"

expect_exit 1 test -e statectl.toml
expect_exit 0 statectl init --target k8s
expect_exit 0 statectl config validate
expect_exit 2 statectl init
assert_contains "$ERR" "statectl.toml already exists"
expect_exit 0 statectl init --force
pass "init writes a valid config and refuses to overwrite without --force"

cat >prod.toml <<'TOML'
[postgres]
replicas = 2
[env.prod.postgres]
replicas = 3
TOML
expect_exit 0 statectl -c prod.toml -e prod config show -o json
assert_eq "$(json_get "$OUT" 'j["postgres"]["replicas"]')" 3 "profile overrides file"
STATECTL_POSTGRES_REPLICAS=4 expect_exit 0 statectl -c prod.toml -e prod config show -o json
assert_eq "$(json_get "$OUT" 'j["postgres"]["replicas"]')" 4 "environment overrides profile"
expect_exit 2 statectl -c prod.toml -e staging config show
assert_contains "$ERR" "profile 'staging' not found"
pass "precedence file < profile < env"

printf '[postgres]\nurl = "postgresql://app:s3cretPassw0rd@db.example:5432/app"\n' >url.toml
expect_exit 0 statectl -c url.toml config show -o json
python3 -m json.tool "$OUT" >/dev/null || fail "config show -o json is not JSON"
assert_not_contains "$OUT" "s3cretPassw0rd"
assert_contains "$OUT" "postgresql://app:****@db.example:5432/app"
pass "config show -o json parses and hides the password"

expect_exit 0 statectl version -o json
for lib in libpq hiredis openssl zstd fmt tomlplusplus; do
  [[ -n $(json_get "$OUT" "j['libraries']['$lib']") ]] || fail "version lacks $lib"
done
expect_exit 0 statectl --version
assert_contains "$OUT" "statectl "
pass "version lists linked libraries"

# --backend is accepted before the command too, and only by commands that use a backend.
expect_exit 0 statectl --backend redis --dry-run put some/key value
assert_contains "$OUT" "# would put key 'some/key' (5 bytes) on redis"
expect_exit 0 statectl --dry-run put some/key value --backend redis
assert_contains "$OUT" "# would put key 'some/key' (5 bytes) on redis"
expect_exit 0 statectl -o text --backend=postgres --dry-run put some/key value
assert_contains "$OUT" "# would put key 'some/key' (5 bytes) on postgres"
expect_exit 2 statectl --backend redis version
assert_contains "$ERR" "statectl: error: unknown option '--backend'"
expect_exit 2 statectl --backend mysql get k
assert_contains "$ERR" "mysql"
pass "--backend before or after the command; rejected where no backend is used"

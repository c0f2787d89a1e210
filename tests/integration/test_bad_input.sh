#!/usr/bin/env bash
# Bad input through the real binary, no servers needed: the documented exit code and a message
# that names the real problem (a directory, a permission, a non-executable file, a missing
# repository), never "not found" for something else, never an internal error, nothing stored.
source "$(dirname "$0")/lib.sh"
cd "$TEST_DIR"

# Config values that name servers are checked when the config is loaded (exit 2, not exit 70
# "internal error: stoi", not five connection retries).
STATECTL_REDIS_SENTINEL_ADDRS=127.0.0.1:notaport expect_exit 2 statectl --backend redis get k
assert_contains "$ERR" "statectl: error: STATECTL_REDIS_SENTINEL_ADDRS: redis.sentinel_addrs has an invalid port 'notaport'"
assert_not_contains "$ERR" "internal error"
STATECTL_REDIS_SENTINEL_ADDRS=not-an-address expect_exit 2 statectl config validate
assert_contains "$ERR" "redis.sentinel_addrs must be host:port addresses, got 'not-an-address'"
for url in mysql://x http://x 'postgresql://db:port/app'; do
  printf '[postgres]\nurl = "%s"\n' "$url" >url.toml
  expect_exit 2 statectl -c url.toml config validate
  assert_contains "$ERR" "statectl: error: url.toml:2:7: postgres.url "
  expect_exit 2 statectl -c url.toml get k
  assert_not_contains "$ERR" "attempts"
done
pass "sentinel addresses and URLs are validated at load time (exit 2, file:line:col)"

# A directory where a file is expected.
mkdir adir
expect_exit 2 statectl --dry-run put --batch adir
assert_contains "$ERR" "statectl: error: cannot read adir: it is a directory"
run statectl --dry-run put k - <adir
[[ $RC == 2 ]] || fail "put k - < DIR exited $RC"
assert_contains "$ERR" "statectl: error: cannot read standard input: it is a directory"
expect_exit 2 statectl -c adir config show
assert_contains "$ERR" "statectl: error: cannot read config $TEST_DIR/adir: it is a directory"
pass "a directory as input is refused with 'it is a directory'"

# CRLF batch lines: the \r is part of the line break, not of the value (checked without a server
# through --dry-run's count and a malformed CRLF line's message).
printf 'a\t1\r\nb\t2\r\n' >crlf.tsv
expect_exit 0 statectl --dry-run put --batch crlf.tsv
assert_contains "$OUT" "would write 2 keys"

# A secret the user may not read is "permission denied", not "not found".
mkdir -p secrets && chmod 0700 secrets && printf 's3cret' >secrets/app && chmod 0600 secrets/app
printf '[secrets]\ndir = "%s/secrets"\n' "$TEST_DIR" >sec.toml
chmod 0644 sec.toml
expect_exit 0 statectl -c sec.toml secrets get app
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
  run setpriv --reuid=nobody --regid=nogroup --clear-groups "$STATECTL" -c "$TEST_DIR/sec.toml" secrets get app
  [[ $RC == 1 ]] || fail "secrets get without permission exited $RC"
  assert_contains "$ERR" "statectl: error: cannot read secret 'app': $TEST_DIR/secrets/app: Permission denied"
  assert_not_contains "$ERR" "not found"
  pass "an unreadable secret store says permission denied"
fi

# lock -- FILE that is not executable.
printf '#!/bin/sh\nexit 0\n' >notexec.sh
chmod 0644 notexec.sh
expect_exit 3 statectl lock n -- ./notexec.sh
assert_contains "$ERR" "statectl: error: cannot run './notexec.sh': permission denied (not executable)"
assert_contains "$ERR" "hint: make it executable: chmod +x ./notexec.sh"
expect_exit 3 statectl lock n -- ./no-such-file
assert_contains "$ERR" "cannot run './no-such-file': No such file or directory"
pass "lock -- FILE names what is wrong with FILE, before connecting"

# wal fetch: the argument name keeps its case; a missing repository is exit 3, not "end of archive".
expect_exit 2 statectl wal fetch
assert_contains "$ERR" "NAME is required"
expect_exit 3 statectl wal fetch --repo "$TEST_DIR/missing-repo" 000000010000000000000001 "$TEST_DIR/seg"
assert_contains "$ERR" "the backup repository $TEST_DIR/missing-repo does not exist"
mkdir -p repo
expect_exit 1 statectl wal fetch --repo "$TEST_DIR/repo" 000000010000000000000001 "$TEST_DIR/seg"
pass "wal fetch: NAME is required; a missing repository exits 3, a missing segment 1"

# Empty values and malformed durations are refused, not taken as unset.
expect_exit 2 statectl -c '' config show
assert_contains "$ERR" "needs a non-empty value"
expect_exit 2 statectl restore --to "$TEST_DIR/r" --target-name ''
assert_contains "$ERR" "needs a non-empty value"
[[ ! -e $TEST_DIR/r ]] || fail "restore created its directory"
expect_exit 2 statectl --dry-run put k v --ttl 1.2.3s
assert_contains "$ERR" "invalid duration '1.2.3s'"
STATECTL_STATE_TIMEOUT=0s expect_exit 2 statectl get k
assert_contains "$ERR" "state.timeout must be at least 1ms, got '0s'"
expect_exit 2 statectl capacity plan --ram 16GB --cpus 4 --growth 5GB
assert_contains "$ERR" "invalid --growth: '5GB' has no period"
expect_exit 2 statectl keys --limit -1
expect_exit 2 statectl keys --limit 99999999999999999999999
pass "empty option values, 1.2.3s, a zero timeout, a growth without period and --limit -1 exit 2"

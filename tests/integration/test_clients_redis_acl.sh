#!/usr/bin/env bash
# The Redis client against a real server whose default user is disabled: an ACL user from
# [redis] url authenticates as "AUTH user password"; a wrong password is exit 3 with a hint and
# the password appears nowhere in the output.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || skip "redis-server is not installed"
cd "$TEST_DIR"

rport=$(port 1)
good='aclPassw0rd-good-71'
bad='aclPassw0rd-wrong-72'
# The ACL in a 0600 file, not in the server's argv.
cat >redis.conf <<CONF
port $rport
bind 127.0.0.1
dir $TEST_DIR
save ""
appendonly no
daemonize yes
pidfile $TEST_DIR/redis.pid
logfile $TEST_DIR/redis.log
user default off
user app on >$good ~* &* +@all
CONF
chmod 0600 redis.conf
redis-server "$TEST_DIR/redis.conf"
on_exit "kill_wait \$(cat $TEST_DIR/redis.pid)"
wait_for 10 "bash -c 'exec 3<>/dev/tcp/127.0.0.1/$rport'" || fail "redis-server did not start"

write_conf() {
  cat >statectl.toml <<CONF
# This hand-started server speaks plain text.
[tls]
enabled = false
[local]
dir = "$TEST_DIR/state"
[redis]
mode = "standalone"
url = "redis://app:$1@127.0.0.1:$rport"
[state]
connect_retries = 2
retry_initial = "50ms"
CONF
}

write_conf "$good"
expect_exit 0 statectl put --backend redis acl/key 'through an ACL user'
expect_exit 0 statectl get --backend redis acl/key
assert_eq "$(cat "$OUT")" "through an ACL user" "get through the ACL user"
# No PostgreSQL here: the exit code is UNKNOWN's; the Redis checks must have reached the server.
run statectl capacity check -o json
[[ $(json_get "$OUT" '[c["status"] for c in j["checks"] if c["name"] == "redis_memory"][0]') != unknown ]] ||
  fail "capacity check did not reach Redis as the ACL user: $(cat "$OUT")"
pass "an ACL user of [redis] url authenticates (state backend and capacity check)"

write_conf "$bad"
expect_exit 3 statectl get --backend redis acl/key
assert_contains "$ERR" "statectl: error: cannot connect to redis at 127.0.0.1:$rport"
assert_contains "$ERR" "WRONGPASS"
assert_contains "$ERR" "hint: check the redis password (the secret store's, see"
assert_contains "$ERR" "or [redis] url's) and the server's requirepass/ACL"
assert_not_contains "$ERR" "attempts)" # rejected credentials are not retried
assert_not_contains "$ERR" "$bad"
assert_not_contains "$OUT" "$bad"
pass "a wrong ACL password is exit 3 and the password is never printed"

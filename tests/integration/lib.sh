# Shared helpers for integration tests (sourced, not run). Each test runs the real binary:
#   STATECTL                the built binary (set by CTest)
#   STATECTL_SOURCE_DIR     the source tree
#   STATECTL_TEST_PORT_BASE first of 200 loopback ports reserved for this test
# A test exits 0 on success, 77 to be skipped, anything else on failure.
set -euo pipefail

: "${STATECTL:?run through ctest (STATECTL unset)}"
: "${STATECTL_SOURCE_DIR:?}"
: "${STATECTL_TEST_PORT_BASE:=21000}"

TEST_NAME=$(basename "$0" .sh)
# The test's scratch directory; traversable by the unprivileged server user when run as root.
TEST_DIR=$(mktemp -d "/tmp/statectl-${TEST_NAME}.XXXXXX")
chmod 0755 "$TEST_DIR"
OUT="$TEST_DIR/stdout"
ERR="$TEST_DIR/stderr"
declare -a _cleanups=()

# Registers a command to run at exit (last registered runs first).
on_exit() { _cleanups+=("$*"); }
_run_cleanups() {
  local rc=$?
  local i
  # A failed test keeps its servers' logs (the cleanups below destroy the stack with its data).
  if [[ $rc != 0 && $rc != 77 && -d $TEST_DIR/stack ]]; then
    mkdir -p "$TEST_DIR/logs"
    (cd "$TEST_DIR/stack" && find . -name '*.log' -exec cp --parents {} "$TEST_DIR/logs/" \;) 2>/dev/null || true
  fi
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[i]}" >/dev/null 2>&1 || true; done
  # A server still shutting down may write one more file while the folder is removed: try again.
  if [[ $rc == 0 || $rc == 77 ]]; then rm -rf "$TEST_DIR" 2>/dev/null || { sleep 1; rm -rf "$TEST_DIR" || true; }
  else echo "test files kept in $TEST_DIR" >&2; fi
  exit $rc
}
trap _run_cleanups EXIT

# kill_wait PID...: SIGTERM, then waits (up to 10 s each, then SIGKILL) until every one is gone,
# so a server that is shutting down does not write into $TEST_DIR while it is being removed.
kill_wait() {
  local p i
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for ((i = 0; i < 100; i++)); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$p" 2>/dev/null || true
  done
}

fail() {
  echo "FAIL: $*" >&2
  if [[ -s $OUT ]]; then echo "--- stdout:" >&2; head -c 4000 "$OUT" >&2; fi
  if [[ -s $ERR ]]; then echo "--- stderr:" >&2; head -c 4000 "$ERR" >&2; fi
  exit 1
}
skip() { echo "SKIP: $*" >&2; exit 77; }
pass() { echo "ok - $*"; }

# port N: the Nth port of this test's range.
port() { echo $((STATECTL_TEST_PORT_BASE + $1)); }

# run CMD...: runs it with stdout/stderr captured in $OUT/$ERR; sets RC; never fails itself.
run() {
  set +e
  "$@" >"$OUT" 2>"$ERR"
  RC=$?
  set -e
}

# expect_exit N CMD...: runs CMD and fails the test unless it exits with N.
expect_exit() {
  local want=$1
  shift
  run "$@"
  [[ $RC == "$want" ]] || fail "expected exit $want from '$*', got $RC"
}

# statectl ARGS...: the binary under test.
statectl() { "$STATECTL" "$@"; }

assert_contains() { grep -qF -- "$2" "$1" || fail "expected '$2' in $1"; }
assert_not_contains() { ! grep -qF -- "$2" "$1" || fail "did not expect '$2' in $1"; }
assert_eq() { [[ "$1" == "$2" ]] || fail "${3:-values differ}: expected '$2', got '$1'"; }

# json_get FILE EXPR: evaluates a Python expression on the JSON document j read from FILE.
json_get() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# wait_for SECONDS 'CONDITION': like wait_until, but CONDITION is a shell string evaluated anew on
# every poll, so command substitutions in it see fresh values (wait_until's arguments are
# expanded once, when it is called).
wait_for() {
  local limit=$1 cond=$2
  local end=$((SECONDS + limit))
  until eval "$cond" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

# wait_until SECONDS CMD...: polls CMD every 0.2 s until it succeeds.
wait_until() {
  local limit=$1
  shift
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

# stack_tls_ca: prints the CA file of this test's local stack and succeeds when its servers speak
# TLS (deploy wrote the CA into <[local] dir>/tls), fails when they speak plain text. The stack's
# directory is $STACK_DIR, $TEST_DIR/stack (start_stack's) unless a test sets it.
stack_tls_ca() {
  local ca="${STACK_DIR:-$TEST_DIR/stack}/tls/ca.crt"
  [[ -s $ca ]] || return 1
  echo "$ca"
}

# rcli PORT ARGS...: redis-cli on 127.0.0.1:PORT of this test's stack, TLS or not: with TLS it
# verifies the server against the stack's CA (--tls --cacert). A password, if the caller needs one,
# goes in REDISCLI_AUTH (never argv); rcli_auth does that with the stack's Redis password.
rcli() {
  local p=$1 ca
  shift
  local -a tls=()
  if ca=$(stack_tls_ca); then tls=(--tls --cacert "$ca"); fi
  redis-cli "${tls[@]}" -h 127.0.0.1 -p "$p" "$@"
}
# On a stack with ACL users (stack.json "redis_acl": true) it logs in as statectl-admin, whose
# password is the "redis" secret; rcli_user USER SECRET PORT ARGS... logs in as any user.
rcli_auth() {
  local -a user=()
  if stack_redis_acl; then user=(--user statectl-admin); fi
  REDISCLI_AUTH=$(cat "${STACK_DIR:-$TEST_DIR/stack}/secrets/redis") rcli "$1" "${user[@]}" --no-auth-warning "${@:2}"
}
rcli_user() { REDISCLI_AUTH=$(cat "${STACK_DIR:-$TEST_DIR/stack}/secrets/$2") rcli "$3" --user "$1" --no-auth-warning "${@:4}"; }
# stack_redis_acl: succeeds when this test's local stack runs Redis with ACL users.
stack_redis_acl() { grep -q '"redis_acl": *true' "${STACK_DIR:-$TEST_DIR/stack}/stack.json" 2>/dev/null; }

# pgsql ARGS...: psql against this test's stack, TLS or not: with TLS it connects with
# sslmode=verify-full against the stack's CA (through PGSSLMODE/PGSSLROOTCERT, not argv). The
# caller passes the password in PGPASSWORD.
pgsql() {
  local ca
  if ca=$(stack_tls_ca); then PGSSLMODE=verify-full PGSSLROOTCERT=$ca psql "$@"; else psql "$@"; fi
}

# start_stack [EXTRA_TOML]: brings up the local stack (real PostgreSQL, PgBouncer, Redis,
# Sentinels; Patroni/etcd/HAProxy with ha = "patroni") for this test and tears it down at exit.
#   - writes $TEST_DIR/statectl.toml (write_stack_config below) with [local] dir =
#     "$TEST_DIR/stack" and every [local] port from this test's range: postgres_port $(port 0)
#     (standbys $(port 1)...), pgbouncer_port $(port 20), redis_port $(port 30) (replicas
#     $(port 31)...; in cluster mode every node from $(port 30) on, its cluster bus port
#     redis_cluster_bus_port $(port 130)...), sentinel_port $(port 50)..., etcd_port $(port 60) (peer $(port 61)),
#     patroni_port $(port 70)..., haproxy_port $(port 90) (read-only $(port 91)), prometheus_port
#     $(port 100), postgres_exporter_port $(port 110)..., redis_exporter_port $(port 120); then appends
#     EXTRA_TOML, e.g. $'[postgres]\nreplicas = 2' (EXTRA_TOML must not open [local] again: set
#     STATECTL_LOCAL_* variables for that);
#   - cd's to $TEST_DIR, so a plain `statectl ...` (and `statectl psql`, `statectl redis-cli`)
#     uses that config and finds the stack;
#   - registers `statectl destroy --purge` with on_exit, then runs `statectl deploy`; the test
#     fails with deploy's output when deploy fails.
# Secrets live in $TEST_DIR/stack/secrets; STACK_CONFIG is the config's path.
start_stack() {
  write_stack_config "${1:-}"
  on_exit "cd '$TEST_DIR' && '$STATECTL' -c '$STACK_CONFIG' destroy --purge"
  run statectl deploy
  [[ $RC == 0 ]] || fail "start_stack: statectl deploy exited $RC"
}

# write_stack_config [EXTRA_TOML]: only the config and the cd of start_stack (no deploy).
write_stack_config() {
  STACK_CONFIG="$TEST_DIR/statectl.toml"
  cat >"$STACK_CONFIG" <<TOML
[local]
dir = "$TEST_DIR/stack"
postgres_port = $(port 0)
pgbouncer_port = $(port 20)
redis_port = $(port 30)
redis_cluster_bus_port = $(port 130)
sentinel_port = $(port 50)
etcd_port = $(port 60)
patroni_port = $(port 70)
haproxy_port = $(port 90)
prometheus_port = $(port 100)
postgres_exporter_port = $(port 110)
redis_exporter_port = $(port 120)
TOML
  if [[ -n ${1:-} ]]; then printf '\n%s\n' "$1" >>"$STACK_CONFIG"; fi
  cd "$TEST_DIR"
}

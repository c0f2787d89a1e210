#!/usr/bin/env bash
# No secret value leaks: push to Kubernetes, deploy --dry-run, config show, status -v, a failing
# connection and render run while a recording fake kubectl/docker/terraform logs argv, the whole
# environment and stdin. No value may appear in any argv, in the fakes' environment, in anything
# statectl printed, or in a log file; each value must appear in the stdin of the push.
source "$(dirname "$0")/lib.sh"
cd "$TEST_DIR"

# A recording fake per tool: one line of argv per call in $FAKE_LOG, the call's whole environment
# in $FAKE_LOG.env.N and its stdin in $FAKE_LOG.stdin.N.
export FAKE_LOG="$TEST_DIR/fake.log"
mkdir -p "$TEST_DIR/bin"
for t in kubectl docker terraform; do
  cat >"$TEST_DIR/bin/$t" <<'FAKE'
#!/bin/bash
n=$(( $(cat "$FAKE_LOG" 2>/dev/null | wc -l) + 1 ))
printf '%s' "$(basename "$0")" >>"$FAKE_LOG"
printf ' %s' "$@" >>"$FAKE_LOG"
printf '\n' >>"$FAKE_LOG"
env >"$FAKE_LOG.env.$n"
if [[ ! -t 0 ]]; then cat >"$FAKE_LOG.stdin.$n"; [[ -s $FAKE_LOG.stdin.$n ]] || rm -f "$FAKE_LOG.stdin.$n"; fi
exit 0
FAKE
  chmod +x "$TEST_DIR/bin/$t"
done
fake_calls() { cat "$FAKE_LOG" 2>/dev/null || true; }
export PATH="$TEST_DIR/bin:$PATH"

cat >statectl.toml <<TOML
[project]
name = "leaktest"
[local]
dir = "$TEST_DIR/state"
postgres_port = $(port 1)
pgbouncer_port = $(port 20)
redis_port = $(port 30)
sentinel_port = $(port 40)
[k8s]
namespace = "leakns"
context = "kind-leak"
[secrets]
key_file = "$TEST_DIR/master.key"
TOML

expect_exit 0 statectl secrets keygen --out master.key
[[ $(stat -c %a master.key) == 600 ]] || fail "key file mode"
expect_exit 0 statectl secrets generate
expect_exit 0 statectl secrets tls --key ec-p256
declare -A value
for n in postgres replication app pgbouncer redis; do
  value[$n]=$(statectl secrets get "$n")
  [[ ${#value[$n]} == 32 ]] || fail "secret $n has length ${#value[$n]}"
done
# A line from the middle of the server key's PEM body stands for the key.
value[tls.key]=$(statectl secrets get tls.key | sed -n 3p)
[[ ${#value[tls.key]} -ge 40 ]] || fail "tls.key body line too short"
value[master]=$(tr -d '\n' <master.key)
pass "store prepared (encrypted with a key file)"

i=0
# step NAME ARGS...: runs statectl ARGS, keeping stdout/stderr as step-NAME.{out,err}.
step() {
  local name=$1
  shift
  set +e
  statectl "$@" >"step-$name.out" 2>"step-$name.err"
  local rc=$?
  set -e
  echo "$rc" >"step-$name.rc"
  i=$((i + 1))
}

step push secrets push --target k8s
[[ $(cat step-push.rc) == 0 ]] || { cat step-push.err >&2; fail "push exited $(cat step-push.rc)"; }
assert_eq "$(fake_calls | grep -c '^kubectl')" 1 "kubectl calls"
assert_eq "$(fake_calls | grep '^kubectl')" \
  "kubectl --context kind-leak --namespace leakns apply --server-side --field-manager=statectl --force-conflicts -f -" "push argv"
stdin_file=$(ls "$FAKE_LOG".stdin.* | head -1)
[[ -s $stdin_file ]] || fail "push sent nothing on stdin"
python3 - "$stdin_file" <<'PY' || fail "pushed manifest is wrong"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["kind"] == "Secret" and doc["metadata"]["name"] == "leaktest-secrets", doc["metadata"]
assert doc["metadata"]["namespace"] == "leakns"
keys = sorted(doc["stringData"])
assert keys == ["app", "ca.crt", "pgbouncer", "postgres", "redis", "replication", "tls.crt", "tls.key"], keys
PY
for n in postgres replication app pgbouncer redis tls.key; do
  grep -qF -- "${value[$n]}" "$stdin_file" || fail "value of $n missing from the push's stdin"
done
grep -qF -- "${value[master]}" "$stdin_file" && fail "master key in the push's stdin"
pass "push sends one Secret on kubectl's stdin with every value"

step push-dry --dry-run secrets push --target k8s
assert_eq "$(cat step-push-dry.rc)" 0 "push --dry-run exit"
grep -qF "kubectl --context kind-leak --namespace leakns apply" step-push-dry.out || fail "dry-run push shows no plan"
assert_eq "$(fake_calls | grep -c '^kubectl')" 1 "dry-run must not call kubectl"

step deploy-dry deploy --dry-run
step deploy-k8s-dry deploy --target k8s --dry-run
step config-show config show
step config-json config show -o json
step status status -v
step status-json status -v -o json
# Failing connections: nothing listens on the stack's ports, and an external URL whose password
# is the app secret points at a closed port.
step get-fail get some-key
step keys-fail -v keys
STATECTL_POSTGRES_URL="postgresql://app:${value[app]}@127.0.0.1:$(port 9)/app" step url-fail -v get some-key
STATECTL_REDIS_URL="redis://:${value[redis]}@127.0.0.1:$(port 10)/0" step redis-url-fail -v get --backend redis some-key
step render-k8s render --target k8s --out "$TEST_DIR/rendered-k8s"
step render-compose render --target compose --out "$TEST_DIR/rendered-compose"
step render-print render --target k8s
step secrets-list secrets list -o json
step rotate-dry --dry-run secrets rotate redis
for f in step-*.rc; do printf '%s=%s ' "$(basename "$f" .rc)" "$(cat "$f")"; done >&2
echo >&2
for s in get-fail url-fail; do
  [[ $(cat "step-$s.rc") != 0 ]] || fail "step $s was expected to fail"
done
# The steps that must succeed (a command another capability has not registered yet is skipped).
for s in deploy-dry config-show config-json render-k8s render-compose render-print secrets-list; do
  statectl "${s%%-*}" --help >/dev/null 2>&1 || { echo "note: '${s%%-*}' is not a command yet; step $s not asserted" >&2; continue; }
  [[ $(cat "step-$s.rc") == 0 ]] || { cat "step-$s.err" >&2; fail "step $s exited $(cat "step-$s.rc")"; }
done
if statectl deploy --help >/dev/null 2>&1; then
  grep -q "initdb\|pg_ctl" step-deploy-dry.out || fail "deploy --dry-run shows no plan"
fi
pass "ran push, deploy --dry-run, config show, status -v, failing connections, render ($i steps)"

# Where a value must never be: the fakes' argv and environment, statectl's output, log files,
# rendered files (they reference the Secret, never contain it).
leaks=0
check_absent() { # FILE...
  local f n
  for f in "$@"; do
    [[ -f $f ]] || continue
    for n in "${!value[@]}"; do
      if grep -qF -- "${value[$n]}" "$f"; then
        echo "LEAK: value of $n in $f" >&2
        leaks=$((leaks + 1))
      fi
    done
  done
}
checked=0
mapfile -t files < <(
  ls step-*.out step-*.err
  echo "$FAKE_LOG"
  ls "$FAKE_LOG".env.* 2>/dev/null
  find "$TEST_DIR/state" "$TEST_DIR/rendered-k8s" "$TEST_DIR/rendered-compose" -type f \
    \( -name '*.log' -o -name '*.yaml' -o -name '*.yml' -o -name '*.tf' -o -name '*.json' -o -name '*.conf' -o -name '*.ini' \) 2>/dev/null |
    grep -v '/secrets/' || true
)
check_absent "${files[@]}"
checked=${#files[@]}
[[ $leaks == 0 ]] || fail "$leaks leaked values"
[[ $(ls "$FAKE_LOG".env.* | wc -l) -ge 1 ]] || fail "the fakes recorded no environment"
pass "no secret value in $checked files: argv, environment, stdout/stderr, logs, rendered files"

# Values are shown only on explicit request, and the redaction itself is visible.
grep -q "\"days_left\"" step-secrets-list.out || fail "list -o json lacks days_left"
grep -qF -- "${value[postgres]}" <(statectl secrets get postgres) || fail "secrets get does not print the value"
pass "secrets get prints a value on explicit request only"

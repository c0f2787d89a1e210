#!/usr/bin/env bash
# failover test on the container targets drives the fault through the engine: with recording
# fakes of docker and kubectl on PATH, the exact `docker kill` / `kubectl delete pod
# --grace-period=0 --force` command lines are logged. The probe writes to a real Redis (the fakes
# kill nothing, so the command reports that the fault had no visible effect and exits 1).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../fakes/lib.sh"
command -v redis-server >/dev/null || skip "redis-server is not installed"
cd "$TEST_DIR"

rport=$(port 0)
redis-server --port "$rport" --bind 127.0.0.1 --daemonize yes --pidfile "$TEST_DIR/redis.pid" --dir "$TEST_DIR" \
  --logfile "$TEST_DIR/redis.log" --save '' >/dev/null
on_exit "kill_wait \$(cat '$TEST_DIR/redis.pid')"
wait_until 10 redis-cli -h 127.0.0.1 -p "$rport" ping || fail "redis did not start"

cat >statectl.toml <<TOML
# This hand-started server speaks plain text.
[tls]
enabled = false
[local]
dir = "$TEST_DIR/state"
[redis]
url = "redis://127.0.0.1:$rport"
TOML
fake_tools "$TEST_DIR/bin" docker kubectl
export FAKE_LOG="$TEST_DIR/fake.log" FAKE_SCENARIO="$TEST_DIR/scenario"
printf '%s\t0\t%s\n' \
  'docker compose * ps -q redis-master' 'c0ffee\n' \
  'docker compose * ps -q postgres-primary' 'deadbeef\n' \
  'kubectl * get pods -l app.kubernetes.io/name=redis,*' 'statectl-redis-master-0' \
  'kubectl * get pods -l app.kubernetes.io/name=postgres,*' 'statectl-postgres-primary-0' >"$FAKE_SCENARIO"
FAKE_PATH=$(fake_path "$TEST_DIR/bin")

run env PATH="$FAKE_PATH" "$STATECTL" failover test --backend redis --target compose --warmup 500ms --timeout 2s --rate 50 -o json
assert_eq "$RC" 1 "exit code when the fault has no effect"
assert_contains "$OUT" "no write failed within 2s after the fault"
assert_eq "$(json_get "$OUT" 'j["trials"][0]["fault"]')" "docker kill --signal KILL c0ffee" "fault in the report"
assert_eq "$(json_get "$OUT" 'j["trials"][0]["acked"] > 0')" True "the probe wrote to the real Redis"
calls=$(fake_calls)
grep -qxF "docker compose -p statectl -f $TEST_DIR/state/compose/docker-compose.yml ps -q redis-master" <<<"$calls" || fail "no ps -q call: $calls"
grep -qxF "docker kill --signal KILL c0ffee" <<<"$calls" || fail "no docker kill call: $calls"
pass "compose: docker kill --signal KILL <container of redis-master>"

: >"$FAKE_LOG"
run env PATH="$FAKE_PATH" "$STATECTL" failover test --backend redis --target k8s --warmup 500ms --timeout 2s --rate 50
assert_eq "$RC" 1 "k8s exit code"
calls=$(fake_calls)
grep -qxF "kubectl --namespace statectl get pods -l app.kubernetes.io/name=redis,app.kubernetes.io/component=master -o 'jsonpath={.items[*].metadata.name}'" <<<"$calls" || fail "no get pods call: $calls"
grep -qxF "kubectl --namespace statectl delete pod statectl-redis-master-0 --grace-period=0 --force --wait=false" <<<"$calls" || fail "no delete pod call: $calls"
pass "k8s: kubectl delete pod <master pod> --grace-period=0 --force"

# --dry-run shows the fault without running it (PostgreSQL needs no server for the plan).
: >"$FAKE_LOG"
run env PATH="$FAKE_PATH" "$STATECTL" --dry-run failover test --backend postgres --target k8s
assert_eq "$RC" 0 "dry run exit code"
assert_contains "$OUT" "kubectl --namespace statectl delete pod statectl-postgres-primary-0 --grace-period=0 --force --wait=false"
assert_not_contains "$FAKE_LOG" "delete pod"
pass "--dry-run prints the kubectl delete without running it"

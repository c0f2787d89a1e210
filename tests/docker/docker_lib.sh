# Helpers for the docker tests (sourced after tests/integration/lib.sh). The engine comes from
# the CTest fixture "docker: engine start" (tests/docker/engine.sh); without it the test is
# skipped with the reason the fixture recorded.
#
#   compose_stack [EXTRA_TOML]  writes statectl.toml for target compose with a project name of
#                               its own and the loopback ports a compose render publishes from
#                               this test's range ([local] postgres_port $(port 0), pgbouncer_port
#                               $(port 20), redis_port $(port 30), sentinel_port $(port 50)), cd's
#                               there, and registers a teardown (destroy --purge, then anything left);
#                               PORT_SLOT=N (before sourcing) shifts every port by N, so two docker
#                               tests never publish the same ports (the docker tests share one range)
#   project_objects             the containers, networks and volumes of the project, one a line
: "${STATECTL_BUILD_DIR:?}"
DOCKER_TEST_DIR="$STATECTL_SOURCE_DIR/tests/docker"

_engine_status=$(cat "$STATECTL_BUILD_DIR/docker-engine/status" 2>/dev/null || echo "unavailable: the engine fixture has not run (run through ctest)")
case $_engine_status in
ok) ;;
unavailable:*) skip "no Docker engine: ${_engine_status#unavailable: }" ;;
*) fail "the Docker engine fixture: $_engine_status" ;;
esac
eval "$(bash "$DOCKER_TEST_DIR/engine.sh" env)"
command -v docker-compose >/dev/null || skip "docker-compose is not installed"

PORT_SLOT=${PORT_SLOT:-0}

# The test's compose project: short, unique per test.
PROJECT="st-${TEST_NAME#test_}"
PROJECT=${PROJECT//_/-}

project_objects() {
  docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT" | sed 's/^/container /'
  docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" | sed 's/^/network /'
  docker network ls --format '{{.Name}}' | grep -E -- "-$PROJECT-(postgres|redis)\$" | sed 's/^/network /' || true
  docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | sed 's/^/volume /'
  anonymous_leftovers | sed 's/^/volume /'
}

# Volumes without a compose label that no container uses: on the private engine, where the tests
# run one at a time, anonymous volumes a removed container of the project left behind.
anonymous_leftovers() {
  docker volume ls -q --filter dangling=true | grep -vxF -f <(docker volume ls -q --filter label=com.docker.compose.project; echo /) || true
}

_remove_project_objects() {
  local c
  c=$(docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT")
  [[ -z $c ]] || docker rm -f -v $c
  docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker network rm
  docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker volume rm -f
  docker volume ls -q --filter dangling=true | xargs -r docker volume rm -f
}

# On a failed test (called from lib.sh's exit handler, whose `rc` it sees): every container of the
# project leaves its log in $TEST_DIR/logs/NAME.log before the teardown removes it.
_save_container_logs() {
  [[ ${rc:-0} != 0 && ${rc:-0} != 77 ]] || return 0
  mkdir -p "$TEST_DIR/logs"
  local c name
  for c in $(docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT"); do
    name=$(docker inspect -f '{{.Name}}' "$c" 2>/dev/null) || continue
    docker logs --timestamps "$c" >"$TEST_DIR/logs/${name#/}.log" 2>&1 || true
  done
}

compose_stack() {
  STACK_CONFIG="$TEST_DIR/statectl.toml"
  cat >"$STACK_CONFIG" <<TOML
[project]
name = "$PROJECT"
target = "compose"

[local]
postgres_port = $(port $((PORT_SLOT + 0)))
pgbouncer_port = $(port $((PORT_SLOT + 20)))
redis_port = $(port $((PORT_SLOT + 30)))
sentinel_port = $(port $((PORT_SLOT + 50)))
TOML
  if [[ -n ${1:-} ]]; then printf '\n%s\n' "$1" >>"$STACK_CONFIG"; fi
  cd "$TEST_DIR"
  on_exit _remove_project_objects
  on_exit "cd '$TEST_DIR' && '$STATECTL' -c '$STACK_CONFIG' destroy --purge --timeout 10s"
  on_exit _save_container_logs
}

# failover_trials BACKEND N TIMEOUT MODE LOSSLESS: `failover test` with N trials (-o json, kept in
# $TEST_DIR/BACKEND-trials.json); prints each trial's numbers to stderr (never asserted) and
# checks the report's mode, its lossless flag (True/False) and the trial count.
failover_trials() {
  expect_exit 0 statectl failover test --backend "$1" --trials "$2" --warmup 2s --settle 1s --timeout "$3" -o json
  cp "$OUT" "$TEST_DIR/$1-trials.json"
  echo "$1 trials: $(json_get "$OUT" '[(t["old_primary"], t["new_primary"], t["detect_ms"], t["rto_ms"], t["acked"], t["lost"], t["unknown"], t["heal_ms"]) for t in j["trials"]]')" >&2
  assert_eq "$(json_get "$OUT" 'j["mode"]')" "$4" "mode"
  assert_eq "$(json_get "$OUT" 'j["lossless"]')" "$5" "lossless"
  assert_eq "$(json_get "$OUT" 'len(j["trials"])')" "$2" "trial count"
}

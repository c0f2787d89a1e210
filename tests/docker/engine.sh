#!/usr/bin/env bash
# A private Docker engine for the `docker` tests (see tests/docker/README.md).
#
#   engine.sh start   starts dockerd on a private socket, data root and exec root, waits for it,
#                     then builds (or loads from the cache) the stand-in images; always exits 0
#                     (CTest fixture set-up) and writes $ENGINE_DIR/status: "ok" or
#                     "unavailable: REASON", which docker_lib.sh turns into exit 77
#   engine.sh stop    removes every container, network and volume, stops dockerd; the images
#                     (the cache) stay in the data root
#   engine.sh env     prints DOCKER_HOST=... for a shell: eval "$(tests/docker/engine.sh env)"
#
# Environment: STATECTL_BUILD_DIR (the build tree; the data root lives in it), STATECTL (the
# binary: it renders the PgBouncer Dockerfile that the image build uses).
set -euo pipefail

: "${STATECTL_BUILD_DIR:?run through ctest (STATECTL_BUILD_DIR unset)}"
DOCKER_TEST_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENGINE_DIR="$STATECTL_BUILD_DIR/docker-engine"
# Sockets have a 108-byte path limit: they live in a short per-build-tree folder under /run.
key=$(printf '%s' "$STATECTL_BUILD_DIR" | sha256sum | cut -c1-10)
RUN_DIR="/run/statectl-docker-$key"
[[ -w /run ]] || RUN_DIR="/tmp/statectl-docker-$key"
SOCK="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
export DOCKER_HOST="unix://$SOCK"

log() { echo "engine: $*" >&2; }

unavailable() {
  mkdir -p "$ENGINE_DIR"
  echo "unavailable: $*" >"$ENGINE_DIR/status"
  log "the docker tests will be skipped: $*"
  exit 0
}

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  mkdir -p "$ENGINE_DIR"
  rm -f "$ENGINE_DIR/status"
  command -v dockerd >/dev/null || unavailable "dockerd is not installed (packaging/install-deps.sh --test installs docker.io)"
  command -v docker >/dev/null || unavailable "the docker client is not installed"
  [[ $(id -u) == 0 ]] || unavailable "dockerd needs root (running as $(id -un))"
  if running; then
    log "reusing the engine already running (pid $(cat "$PIDFILE"))"
  else
    mkdir -p "$RUN_DIR" "$ENGINE_DIR/data"
    chmod 0700 "$RUN_DIR"
    echo '{}' >"$ENGINE_DIR/daemon.json"
    # Private everything: no docker0 bridge, no host iptables rules (published ports go through
    # docker-proxy on loopback), compose networks from a pool of our own, the machine's
    # /etc/docker/daemon.json ignored. Two build trees can each run one at the same time.
    local pool=$((200 + 0x${key:0:2} % 50))
    # The daemon keeps none of the caller's descriptors: it would otherwise hold the lock of a
    # `flock /work/docker.lock ctest ...` for as long as it lives, and a run interrupted before
    # "engine stop" would block every other engine until someone kills this one.
    (
      for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
      done
      exec setsid dockerd --config-file "$ENGINE_DIR/daemon.json" --data-root "$ENGINE_DIR/data" --exec-root "$RUN_DIR/exec" \
        --host "$DOCKER_HOST" --pidfile "$PIDFILE" --bridge none --iptables=false --ip-masq=false \
        --default-address-pool "base=10.$pool.0.0/16,size=24" --userland-proxy=true \
        </dev/null >"$ENGINE_DIR/dockerd.log" 2>&1
    ) &
    local i
    for ((i = 0; i < 150; i++)); do
      docker info >/dev/null 2>&1 && break
      if ! kill -0 $! 2>/dev/null; then
        tail -5 "$ENGINE_DIR/dockerd.log" >&2 || true
        unavailable "dockerd exited at start: $(tail -1 "$ENGINE_DIR/dockerd.log" 2>/dev/null)"
      fi
      sleep 0.2
    done
    docker info >/dev/null 2>&1 || unavailable "dockerd did not answer on $SOCK within 30 s (log: $ENGINE_DIR/dockerd.log)"
    log "dockerd ready on $SOCK ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
  fi
  if ! bash "$DOCKER_TEST_DIR/images.sh"; then
    echo "failed: the stand-in images could not be built (see the output above)" >"$ENGINE_DIR/status"
    exit 1
  fi
  echo ok >"$ENGINE_DIR/status"
}

stop() {
  if running; then
    local c n v
    c=$(docker ps -aq 2>/dev/null || true)
    [[ -z $c ]] || docker rm -f -v $c >/dev/null 2>&1 || true
    n=$(docker network ls -q --filter type=custom 2>/dev/null || true)
    [[ -z $n ]] || docker network rm $n >/dev/null 2>&1 || true
    v=$(docker volume ls -q 2>/dev/null || true)
    [[ -z $v ]] || docker volume rm -f $v >/dev/null 2>&1 || true
    local pid
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
    log "dockerd stopped; removed ${c:+containers }${n:+networks }${v:+volumes}"
  fi
  # dockerd leaves its default network namespace mounted in the exec root.
  local m
  for m in $(awk -v d="$RUN_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$RUN_DIR"
  rm -f "$ENGINE_DIR/status"
}

case ${1:-} in
start) start ;;
stop) stop ;;
env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
*)
  echo "usage: engine.sh start|stop|env" >&2
  exit 2
  ;;
esac

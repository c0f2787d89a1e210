#!/usr/bin/env bash
# Installs what statectl needs to build and run, from Debian's packages only, and only what is
# missing (idempotent: a second run installs nothing). With --test, also what the test suite
# needs (validators; the npm schema package is installed by the test set-up itself).
set -euo pipefail

build_deps=(cmake g++ make pkg-config git libcli11-dev libpq-dev libfmt-dev libtomlplusplus-dev
  doctest-dev libhiredis-dev nlohmann-json3-dev libzstd-dev libssl-dev libcurl4-openssl-dev libkainjow-mustache-dev)
run_deps=(postgresql-15 postgresql-client-15 postgresql-15-pgaudit pgbouncer redis-server redis-sentinel redis-tools
  patroni etcd-server etcd-client haproxy zstd)
test_deps=(docker-compose docker.io mmdebstrap yamllint bash-completion nodejs npm procps iproute2 python3 file dpkg-dev
  prometheus prometheus-postgres-exporter prometheus-redis-exporter python3-yaml curl
  lintian zsh fish)

want=("${build_deps[@]}" "${run_deps[@]}")
if [[ ${1:-} == --test ]]; then
  want+=("${test_deps[@]}")
fi

missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from outside Debian on some machines: a working binary is enough.
  case $p in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: everything is installed" >&2
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [[ $(id -u) != 0 ]]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2

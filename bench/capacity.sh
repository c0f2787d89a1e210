#!/usr/bin/env bash
# Benchmark (not a test): `statectl capacity bench` against the reference load generators at the
# same client count, on a local stack of its own (ports 35000-35999):
#   - PostgreSQL through PgBouncer: pgbench running the backend's own get statement (read-only),
#   - Redis: redis-benchmark -t set and -t get with the same value size and key count (the
#     backend's put is a Lua script writing value and metadata, so SET compares a heavier
#     operation with a plain SET), and redis-benchmark running that same put script (EVALSHA,
#     value and metadata) as the like-for-like reference of a put.
# The references run as many threads as capacity bench has clients (pgbench -j, redis-benchmark
# --threads): with one thread, redis-benchmark itself was the bottleneck on a loaded 2-core machine.
# capacity bench and the reference alternate over ROUNDS rounds; each line is the median ratio
# capacity / reference in ops/s (higher is better) with its spread [lowest-highest round]; the
# target is >= 1.0 against pgbench and >= 0.9 against redis-benchmark, so the load generator is
# never the bottleneck.
#
# usage: bench/capacity.sh [BUILD_DIR] [CLIENTS] [SECONDS] [ROUNDS]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
clients=${2:-4}
seconds=${3:-10}
rounds=${4:-5}
keys=10000
value_size=100
statectl=$build/statectl
[[ -x $statectl ]] || { echo "no statectl binary in $build (build first)" >&2; exit 2; }
for tool in pgbench redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 3; }
done

work=$(mktemp -d /tmp/statectl-capacity-bench.XXXXXX)
chmod 0755 "$work"
cfg=$work/statectl.toml
cat >"$cfg" <<EOF
[local]
dir = "$work/state"
postgres_port = 35100
pgbouncer_port = 35110
redis_port = 35120
sentinel_port = 35130
etcd_port = 35140
patroni_port = 35150
haproxy_port = 35160
[redis]
mode = "standalone"
replicas = 0
[postgres]
replicas = 0
synchronous = false
EOF
st() { "$statectl" -c "$cfg" "$@"; }
cleanup() {
  st redis-cli -- ACL DELUSER capbench >/dev/null 2>&1 || true
  st destroy --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "deploying a bench stack in $work ..." >&2
st deploy --wait >"$work/deploy.log" 2>&1 || { cat "$work/deploy.log" >&2; exit 1; }

json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }

# --- PostgreSQL via PgBouncer -------------------------------------------------------------------
# capacity bench deletes its keys when done, so pgbench's run needs them loaded again: the same
# names (capacity-bench:00000000...) and values, written through the backend with put --batch.
python3 - "$keys" "$value_size" >"$work/keys.tsv" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print(f"capacity-bench:{i:08d}\t{'v' * size}")
PY

# One round: capacity bench and the reference, in alternating order (A B, B A, ...), so the load
# of this shared machine falls on both alike; the ratio of each round is capacity / reference
# in ops/s (higher is better) and the line is its median [lowest-highest round].
cap_pg() {
  st capacity bench --backend postgres --clients "$clients" --duration "${seconds}s" --read-ratio 1 \
    --keys "$keys" --value-size "$value_size" -o json >"$work/pg.json"
  json "$work/pg.json" 'j["ops_per_second"]'
}
ref_pg() {
  st put --backend postgres --batch "$work/keys.tsv" >/dev/null
  PGPASSWORD=$pg_password pgbench -n -h 127.0.0.1 -p 35110 -U postgres -M extended -c "$clients" -j "$clients" \
    -T "$seconds" -f "$work/get.sql" postgres >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; exit 1; }
  sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | head -1
  cut -f1 "$work/keys.tsv" | xargs "$statectl" -c "$cfg" del --backend postgres >/dev/null 2>&1 || true
}
cat >"$work/get.sql" <<'SQL'
\set k random(0, 9999)
SELECT value FROM statectl_kv WHERE key = convert_to('capacity-bench:' || lpad(:k::text, 8, '0'), 'UTF8') AND (expires_at IS NULL OR expires_at > now());
SQL
pg_password=$(st secrets get postgres 2>/dev/null || true)

# --- Redis --------------------------------------------------------------------------------------
# redis-benchmark cannot read the password from the environment; give it a throwaway ACL user
# limited to reads and writes, deleted on exit, so no stack secret appears in argv.
st redis-cli -- ACL SETUSER capbench on '>capbench-throwaway' '~*' '+@read' '+@write' '+@connection' '+config|get' '+evalsha' '+eval' '+script|load' >/dev/null
# With [tls] enabled (the default) redis-benchmark connects with TLS against the stack's CA, as
# statectl does.
rtls=()
if st secrets get ca.crt >"$work/ca.crt" 2>/dev/null && [[ -s $work/ca.crt ]]; then rtls=(--tls --cacert "$work/ca.crt"); fi
rb() { redis-benchmark "${rtls[@]}" -h 127.0.0.1 -p 35120 --user capbench -a capbench-throwaway -c "$clients" --threads "$clients" \
  -d "$value_size" -r "$keys" -n "$1" "${@:2}" --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'; }
cap_redis() {
  st capacity bench --backend redis --clients "$clients" --duration "${seconds}s" --read-ratio "$1" \
    --keys "$keys" --value-size "$value_size" -o json >"$work/redis.json"
  json "$work/redis.json" 'j["ops_per_second"]'
}
# About as many requests as capacity bench managed in its first round, so both run for a similar time.
n_for() { python3 -c "print(max(10000, int(float('$1') * $seconds)))"; }
# The like-for-like reference of a put: the same script statectl's put runs (value and metadata
# with SET each, one EVALSHA per operation) driven by redis-benchmark; __rand_int__ spreads keys.
sed -n '/k_put_script = R"lua(/,/^)lua";/p' "$here/core/state/redis_scripts.h" | sed '1d;$d' >"$work/put.lua"
put_sha=$(st redis-cli -- SCRIPT LOAD "$(cat "$work/put.lua")" | tail -1)
ref_redis_set() { rb "$1" -t set; }
ref_redis_get() { rb "$1" -t get; }
ref_redis_put() {
  redis-benchmark "${rtls[@]}" -h 127.0.0.1 -p 35120 --user capbench -a capbench-throwaway -c "$clients" --threads "$clients" -r "$keys" -n "$1" --csv \
    EVALSHA "$put_sha" 2 "statectl:capacity-bench:__rand_int__" "statectl#statectl:meta:capacity-bench:__rand_int__" \
    "$(printf 'v%.0s' $(seq "$value_size"))" 0 "$(date +%s%3N)" 0 2>/dev/null |
    tail -1 | cut -d, -f2 | tr -d '"'
}

declare -A ratios
round() { # label capfn capargs... -- reffn refargs...
  local label=$1 r=$2; shift 2
  local -a capcmd=() refcmd=()
  while [[ $1 != -- ]]; do capcmd+=("$1"); shift; done; shift
  refcmd=("$@")
  local a b
  if ((r % 2 == 0)); then a=$("${capcmd[@]}"); b=$("${refcmd[@]}"); else b=$("${refcmd[@]}"); a=$("${capcmd[@]}"); fi
  ratios[$label]+="$a/$b "
}
summary() { # label round-label reference-name goal
  python3 - "$1" "$3" "$4" "${ratios[$2]}" <<'PY'
import statistics, sys
label, ref, goal, pairs = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4].split()
a = [float(p.split("/")[0]) for p in pairs]; b = [float(p.split("/")[1]) for p in pairs]
r = [x / y for x, y in zip(a, b)]
med = statistics.median(r)
print(f"{label:<28} ratio {med:5.2f} [{min(r):.2f}-{max(r):.2f}]  capacity {statistics.median(a):7.0f} ops/s  "
      f"{ref:<32} {statistics.median(b):7.0f} ops/s  goal >= {goal:.2f}: {'met' if med >= goal else 'NOT met'}")
PY
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
first_get=$(cap_redis 1); first_set=$(cap_redis 0)
n_get=$(n_for "$first_get"); n_set=$(n_for "$first_set")
ref_redis_set "$n_set" >/dev/null # SET first, so that GET finds values as capacity bench's gets do
for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds ..." >&2
  round pg "$r" cap_pg -- ref_pg
  round get "$r" cap_redis 1 -- ref_redis_get "$n_get"
  round set "$r" cap_redis 0 -- ref_redis_set "$n_set"
  round put "$r" cap_redis 0 -- ref_redis_put "$n_set"
done
cut -f1 "$work/keys.tsv" | xargs "$statectl" -c "$cfg" del --backend redis >/dev/null 2>&1 || true

echo
echo "$clients clients, ${seconds}s per run, $rounds rounds alternating; ratio = capacity bench / reference ops/s (higher is better)"
summary "postgres get (read-ratio 1)" pg "pgbench, the same SELECT" 1.0
summary "redis get (read-ratio 1)" get "redis-benchmark -t get" 0.9
summary "redis put (read-ratio 0)" set "redis-benchmark -t set" 0.9
summary "redis put (read-ratio 0)" put "redis-benchmark, the put script" 0.9
echo "load average: before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Benchmark (not a test): `statectl capacity bench` against the reference load generators at the
# same client count, on a local stack of its own (ports 35000-35999):
#   - PostgreSQL through PgBouncer: pgbench running the backend's own get statement (read-only),
#   - Redis: redis-benchmark -t set and -t get with the same value size and key count (the
#     backend's put is a Lua script writing value and metadata, so SET compares a heavier
#     operation with a plain SET).
# Prints ops/s of each and the ratio capacity/reference; the target is >= 0.9 for each, so the
# load generator is never the bottleneck.
#
# usage: bench/capacity.sh [BUILD_DIR] [CLIENTS] [SECONDS]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
clients=${2:-4}
seconds=${3:-10}
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

st capacity bench --backend postgres --clients "$clients" --duration "${seconds}s" --read-ratio 1 \
  --keys "$keys" --value-size "$value_size" -o json >"$work/pg.json"
cap_pg=$(json "$work/pg.json" 'j["ops_per_second"]')
st put --backend postgres --batch "$work/keys.tsv" >/dev/null

cat >"$work/get.sql" <<'SQL'
\set k random(0, 9999)
SELECT value FROM statectl_kv WHERE key = convert_to('capacity-bench:' || lpad(:k::text, 8, '0'), 'UTF8') AND (expires_at IS NULL OR expires_at > now());
SQL
pg_password=$(st secrets get postgres 2>/dev/null || true)
PGPASSWORD=$pg_password pgbench -n -h 127.0.0.1 -p 35110 -U postgres -M extended -c "$clients" -j "$clients" \
  -T "$seconds" -f "$work/get.sql" postgres >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; exit 1; }
ref_pg=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | head -1)
st del --backend postgres $(cut -f1 "$work/keys.tsv" | head -n "$keys") >/dev/null 2>&1 || true

# --- Redis --------------------------------------------------------------------------------------
# redis-benchmark cannot read the password from the environment; give it a throwaway ACL user
# limited to reads and writes, deleted on exit, so no stack secret appears in argv.
st redis-cli -- ACL SETUSER capbench on '>capbench-throwaway' '~*' '+@read' '+@write' '+@connection' '+config|get' >/dev/null
rb() { redis-benchmark -h 127.0.0.1 -p 35120 --user capbench -a capbench-throwaway -c "$clients" \
  -d "$value_size" -r "$keys" -n "$1" -t "$2" --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'; }

st capacity bench --backend redis --clients "$clients" --duration "${seconds}s" --read-ratio 1 \
  --keys "$keys" --value-size "$value_size" -o json >"$work/redis_get.json"
cap_get=$(json "$work/redis_get.json" 'j["ops_per_second"]')
st capacity bench --backend redis --clients "$clients" --duration "${seconds}s" --read-ratio 0 \
  --keys "$keys" --value-size "$value_size" -o json >"$work/redis_set.json"
cap_set=$(json "$work/redis_set.json" 'j["ops_per_second"]')
# About as many requests as capacity bench managed, so both run for a similar time.
n_get=$(python3 -c "print(max(10000, int(float('$cap_get') * $seconds)))")
n_set=$(python3 -c "print(max(10000, int(float('$cap_set') * $seconds)))")
# SET first, so that GET finds values as capacity bench's gets do.
ref_set=$(rb "$n_set" set)
ref_get=$(rb "$n_get" get)

printf '\n%-34s %12s %12s %7s\n' "workload ($clients clients, ${seconds}s)" "capacity" "reference" "ratio"
printf '%-34s %12.0f %12.0f %7s\n' "postgres get via pgbouncer/pgbench" "$cap_pg" "$ref_pg" "$(ratio "$cap_pg" "$ref_pg")"
printf '%-34s %12.0f %12.0f %7s\n' "redis GET / redis-benchmark" "$cap_get" "$ref_get" "$(ratio "$cap_get" "$ref_get")"
printf '%-34s %12.0f %12.0f %7s\n' "redis SET / redis-benchmark" "$cap_set" "$ref_set" "$(ratio "$cap_set" "$ref_set")"
echo
echo "capacity bench p99 (ms): postgres $(json "$work/pg.json" 'j["latency_ms"]["p99"]'), redis get $(json "$work/redis_get.json" 'j["latency_ms"]["p99"]'), redis set $(json "$work/redis_set.json" 'j["latency_ms"]["p99"]')"

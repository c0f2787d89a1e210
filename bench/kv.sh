#!/usr/bin/env bash
# Benchmarks of the state commands against the reference tools, measured in the same run on the
# current stack (not a test; prints ratios, statectl time / reference time, lower is better):
#   - 100k keys: put --batch vs redis-cli --pipe with the same SETs, and vs psql \copy into a plain
#     two-column table (through the same PgBouncer);
#   - one get: whole-process wall time, median of repeated runs, vs redis-cli GET and psql -c SELECT;
#   - uncontended lock NAME -- true vs flock FILE true.
# Usage: bench/kv.sh [-c statectl.toml] [--keys N] [--runs N]   (STATECTL=path/to/statectl)
# Passwords, when the stack has them, come from the secret store into PGPASSWORD / REDISCLI_AUTH.
set -euo pipefail

STATECTL=${STATECTL:-$(command -v statectl || true)}
[[ -x $STATECTL ]] || { echo "bench/kv.sh: set STATECTL to the statectl binary" >&2; exit 2; }
KEYS=100000
RUNS=21
while (($#)); do
  case $1 in
    -c) export STATECTL_CONFIG=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "bench/kv.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d /tmp/statectl-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"

cfg=$("$STATECTL" config show -o json)
get_cfg() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j[sys.argv[2]][sys.argv[3]])' "$cfg" "$1" "$2"; }
PGPORT=$(get_cfg local pgbouncer_port)
PGUSER=$(get_cfg postgres superuser)
PGDATABASE=$(get_cfg postgres database)
PREFIX=$(get_cfg state key_prefix)
TABLE=$(get_cfg state table)
export PGHOST=127.0.0.1 PGPORT PGUSER PGDATABASE
if pw=$("$STATECTL" secrets get postgres 2>/dev/null) && [[ -n $pw ]]; then export PGPASSWORD=$pw; fi
if pw=$("$STATECTL" secrets get redis 2>/dev/null) && [[ -n $pw ]]; then export REDISCLI_AUTH=$pw; fi
# The Redis master as Sentinel reports it, else the configured port.
REDIS_HOST=127.0.0.1
REDIS_PORT=$(get_cfg local redis_port)
if [[ $(get_cfg redis mode) == sentinel ]]; then
  if addr=$(redis-cli -p "$(get_cfg local sentinel_port)" sentinel get-master-addr-by-name "$(get_cfg redis master_name)" 2>/dev/null) &&
    [[ $(wc -l <<<"$addr") == 2 ]]; then
    REDIS_HOST=$(sed -n 1p <<<"$addr") REDIS_PORT=$(sed -n 2p <<<"$addr")
  fi
fi

python3 - "$WORK" "$KEYS" "$PREFIX" <<'PY'
import sys
work, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{work}/batch.tsv", "w") as tsv, open(f"{work}/batch.resp", "wb") as resp:
    for i in range(n):
        k, v = f"bench/{i:07d}", f"value-{i:07d}-" + "x" * 32
        tsv.write(f"{k}\t{v}\n")
        parts = [b"SET", (prefix + k).encode(), v.encode()]
        resp.write(b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
PY
psql -qX -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS statectl_bench_plain" -c "CREATE TABLE statectl_bench_plain (key text, value text)" >/dev/null

export WORK RUNS STATECTL REDIS_HOST REDIS_PORT PREFIX TABLE
python3 - <<'PY'
import os, statistics, subprocess, time
W, RUNS, S = os.environ["WORK"], int(os.environ["RUNS"]), os.environ["STATECTL"]
RH, RP, PREFIX, TABLE = os.environ["REDIS_HOST"], os.environ["REDIS_PORT"], os.environ["PREFIX"], os.environ["TABLE"]
DEVNULL = subprocess.DEVNULL

def timed(argv, stdin=None, runs=1, before=None):
    times = []
    for _ in range(runs):
        if before: before()
        f = open(stdin, "rb") if stdin else DEVNULL
        t = time.perf_counter()
        r = subprocess.run(argv, stdin=f, stdout=DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise SystemExit(f"bench: {' '.join(argv)} failed: {r.stderr.decode(errors='replace')}")
    return statistics.median(times)

def line(label, ours, ref, ref_name, target=None):
    ratio = ours / ref
    verdict = "" if target is None else ("  (target <= %.2f: %s)" % (target, "met" if ratio <= target else "NOT met"))
    print(f"{label:<34} statectl {ours*1000:9.1f} ms   {ref_name:<22} {ref*1000:9.1f} ms   ratio {ratio:5.2f}{verdict}")

def psql(sql):
    subprocess.run(["psql", "-qX", "-c", sql], check=True, stdout=DEVNULL)

batch, resp = f"{W}/batch.tsv", f"{W}/batch.resp"
n = sum(1 for _ in open(batch))
print(f"keys per batch: {n}; single-call timings are medians of {RUNS} runs")
# Batches: best of 3 each (the first run also warms caches).
ours = min(timed([S, "put", "--backend", "redis", "--batch", batch]) for _ in range(3))
ref = min(timed(["redis-cli", "-h", RH, "-p", RP, "--pipe"], stdin=resp) for _ in range(3))
line("redis: put --batch", ours, ref, "redis-cli --pipe", 1.0)
ours = min(timed([S, "put", "--backend", "postgres", "--batch", batch]) for _ in range(3))
ref = min(timed(["psql", "-qX", "-c", f"\\copy statectl_bench_plain (key, value) from '{batch}'"],
                before=lambda: psql("TRUNCATE statectl_bench_plain")) for _ in range(3))
line("postgres: put --batch", ours, ref, "psql \\copy", 2.0)

key = "bench/0000001"
ours = timed([S, "get", "--backend", "redis", key], runs=RUNS)
ref = timed(["redis-cli", "-h", RH, "-p", RP, "GET", PREFIX + key], runs=RUNS)
line("redis: get", ours, ref, "redis-cli GET", 1.5)
ours = timed([S, "get", "--backend", "postgres", key], runs=RUNS)
ref = timed(["psql", "-qXtA", "-c", f"SELECT value FROM {TABLE} WHERE key = convert_to('{key}', 'UTF8')"], runs=RUNS)
line("postgres: get", ours, ref, "psql -c SELECT")

ref = timed(["flock", f"{W}/flock", "true"], runs=RUNS)
for b in ("postgres", "redis"):
    ours = timed([S, "lock", "--backend", b, "bench-lock", "--", "true"], runs=RUNS)
    line(f"{b}: lock -- true", ours, ref, "flock FILE true")
PY
"$STATECTL" keys --backend redis --prefix bench/ | xargs -r -n 20000 "$STATECTL" del --backend redis >/dev/null 2>&1 || true
psql -qX -c "DROP TABLE IF EXISTS statectl_bench_plain" -c "DELETE FROM $TABLE WHERE key >= 'bench/'::bytea AND key < 'bench0'::bytea" -c "VACUUM $TABLE" >/dev/null

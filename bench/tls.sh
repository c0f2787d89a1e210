#!/usr/bin/env bash
# Benchmark (not a test) of what TLS costs statectl's state commands: two local stacks side by
# side, one with [tls] enabled and one without, and the same statectl command alternating between
# them (bench/ab.py: A = TLS on, B = TLS off; each line the median ratio with its spread). A ratio
# of 1.10 means TLS made the command 10 % slower. Cases: one `get` per backend (a fresh process:
# connect + TLS handshake + one round trip), `put --batch` of N keys per backend (one
# connection, many round trips) and `capacity bench` per backend (C clients, one connection each,
# for D; its ratio is ops/s TLS off / ops/s TLS on, so it reads the same way: 1.10 = TLS 10 %
# slower).
# Usage: bench/tls.sh [--keys N] [--rounds N] [--port-base P] [--clients C] [--duration D]
#        (STATECTL=path/to/statectl)
# The two stacks take ports P..P+59 (default 23000) and are destroyed (--purge) at the end.
set -euo pipefail

STATECTL=${STATECTL:-$(command -v statectl || true)}
[[ -x $STATECTL ]] || { echo "bench/tls.sh: set STATECTL to the statectl binary" >&2; exit 2; }
STATECTL=$(readlink -f "$STATECTL")
KEYS=10000
ROUNDS=7
BASE=23000
CLIENTS=4
DURATION=5s
while (($#)); do
  case $1 in
    --keys) KEYS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --port-base) BASE=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    *) echo "bench/tls.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d /tmp/statectl-bench-tls.XXXXXX)
chmod 755 "$WORK"
stack_config() { # NAME TLS PORT-OFFSET
  local b=$((BASE + $3))
  cat >"$WORK/$1.toml" <<TOML
[tls]
enabled = $2
[postgres]
replicas = 1
[redis]
replicas = 1
[local]
dir = "$WORK/$1"
postgres_port = $b
pgbouncer_port = $((b + 5))
redis_port = $((b + 10))
sentinel_port = $((b + 15))
TOML
}
stack_config on true 0
stack_config off false 30
cleanup() {
  for s in on off; do "$STATECTL" -c "$WORK/$s.toml" -q destroy --purge >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
for s in on off; do "$STATECTL" -c "$WORK/$s.toml" -q deploy >/dev/null; done

python3 - "$WORK" "$KEYS" >"$WORK/batch.tsv" <<'PY'
import sys
for i in range(int(sys.argv[2])):
    print(f"bench/{i:08d}\tvalue-{i:08d}-" + "x" * 64)
PY
for s in on off; do
  for b in postgres redis; do "$STATECTL" -c "$WORK/$s.toml" put --backend "$b" bench/get-key some-value >/dev/null; done
done

echo "# TLS on (A) vs TLS off (B): the same statectl command against each stack; $ROUNDS rounds, $KEYS keys per batch"
PYTHONPATH="$(dirname "$0")" python3 - "$STATECTL" "$WORK" "$ROUNDS" <<'PY'
import sys
from ab import Case, run_case
S, work, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
on, off = ["-c", f"{work}/on.toml"], ["-c", f"{work}/off.toml"]
batch = f"{work}/batch.tsv"
for b in ("postgres", "redis"):
    run_case(Case(f"{b}: get", [S, *on, "get", "--backend", b, "bench/get-key"], [S, *off, "get", "--backend", b, "bench/get-key"],
                  "TLS off", repeat=10), rounds)
    run_case(Case(f"{b}: put --batch", [S, *on, "put", "--backend", b, "--batch", batch],
                  [S, *off, "put", "--backend", b, "--batch", batch], "TLS off"), rounds)
PY

# capacity bench: the same load against each stack, alternating; the ratio of the ops/s.
echo "# capacity bench, TLS off / TLS on in ops/s (1.10 = TLS costs 10 %); $CLIENTS clients, $DURATION per run"
python3 - "$STATECTL" "$WORK" "$ROUNDS" "$CLIENTS" "$DURATION" <<'PY'
import json, statistics, subprocess, sys
S, work, rounds, clients, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def ops(stack, backend):
    out = subprocess.run([S, "-c", f"{work}/{stack}.toml", "capacity", "bench", "--backend", backend, "--clients", clients,
                          "--duration", duration, "-o", "json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["ops_per_second"]
for backend in ("postgres", "redis"):
    ratios, on_ops, off_ops = [], [], []
    for r in range(rounds):
        got = {}
        for stack in (("on", "off") if r % 2 == 0 else ("off", "on")):
            got[stack] = ops(stack, backend)
        on_ops.append(got["on"]); off_ops.append(got["off"])
        ratios.append(got["off"] / got["on"])
    print(f"{backend + ': capacity bench':<30} ratio {statistics.median(ratios):5.2f} [{min(ratios):.2f}-{max(ratios):.2f}]  "
          f"TLS on {statistics.median(on_ops):8.0f} ops/s  TLS off {statistics.median(off_ops):8.0f} ops/s", flush=True)
PY

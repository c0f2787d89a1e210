#!/usr/bin/env bash
# Benchmark (not a test) of the state commands against the reference tools on the current stack.
# statectl (A) and the reference (B) alternate over --rounds rounds in one run (A B, B A, ...);
# each line is the median ratio A/B (lower is better) with its spread [lowest-highest round],
# both medians and statectl's peak memory. Every round starts from a clean table / key space.
#   - put --batch of N keys vs `redis-cli --pipe` of the same SETs (and of the SETs of the values
#     and of their metadata keys, which statectl writes too), and vs the real `psql` binary
#     running \copy into a table of the same schema and indexes (through the same PgBouncer);
#   - keys on those N keys vs `psql` selecting the same columns, and vs `redis-cli --scan`;
#   - one get vs `redis-cli GET` / `psql -c SELECT`; lock NAME -- true vs `flock FILE true`, and on
#     PostgreSQL vs `psql` running the lock's grant and release statements (the server's share);
#     `statectl --version` vs `redis-cli --version` (process start-up).
# The reference psql is PostgreSQL's own binary ([postgres] bin_dir), not Debian's Perl wrapper
# in /usr/bin, whose start-up alone is ~35 ms.
#   - with --cluster-config FILE (a second deployed stack with [redis] mode = "cluster"): put --batch
#     of the N keys on that cluster vs the same command on this stack's single Sentinel master.
# Usage: bench/kv.sh [-c statectl.toml] [--keys N] [--rounds N] [--cluster-config cluster.toml]
#        [--only REGEX] (STATECTL=path/to/statectl; --only: just the lines whose label matches,
#        e.g. --only 'lock|start-up')
# Passwords, when the stack has them, come from the secret store into PGPASSWORD / REDISCLI_AUTH.
set -euo pipefail

STATECTL=${STATECTL:-$(command -v statectl || true)}
[[ -x $STATECTL ]] || { echo "bench/kv.sh: set STATECTL to the statectl binary" >&2; exit 2; }
STATECTL=$(readlink -f "$STATECTL")
KEYS=100000
ROUNDS=7
CLUSTER_CONFIG=
ONLY=
while (($#)); do
  case $1 in
    -c) export STATECTL_CONFIG=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --cluster-config) CLUSTER_CONFIG=$(readlink -f "$2"); shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
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
# With Redis ACL users (the default) the 'redis' secret is the password of statectl-admin, and
# the default user cannot log in.
REDIS_USER=
if [[ $(get_cfg redis acl) == True && $(get_cfg redis mode) != cluster ]]; then REDIS_USER=statectl-admin; fi
# With [tls] enabled (the default) redis-cli verifies the servers against the stack's CA, as
# statectl does (psql negotiates TLS by itself: sslmode prefer).
REDIS_TLS=
if [[ $(get_cfg tls enabled) == True ]] && "$STATECTL" secrets get ca.crt >"$WORK/ca.crt" 2>/dev/null && [[ -s $WORK/ca.crt ]]; then
  REDIS_TLS="--tls --cacert $WORK/ca.crt"
fi
# The Redis master as Sentinel reports it, else the configured port.
REDIS_HOST=127.0.0.1
REDIS_PORT=$(get_cfg local redis_port)
if [[ $(get_cfg redis mode) == sentinel ]]; then
  # shellcheck disable=SC2086 # REDIS_TLS is two options or nothing
  if addr=$(redis-cli $REDIS_TLS -p "$(get_cfg local sentinel_port)" sentinel get-master-addr-by-name "$(get_cfg redis master_name)" 2>/dev/null) &&
    [[ $(wc -l <<<"$addr") == 2 ]]; then
    REDIS_HOST=$(sed -n 1p <<<"$addr") REDIS_PORT=$(sed -n 2p <<<"$addr")
  fi
fi

python3 - "$WORK" "$KEYS" "$PREFIX" <<'PY'
import sys
work, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import time
def cmd(*parts):
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
blob = b"%d\n" % int(time.time() * 1000)  # the metadata blob statectl writes: write time, no metadata
with open(f"{work}/batch.tsv", "w") as tsv, open(f"{work}/batch.resp", "wb") as resp, \
        open(f"{work}/batch_meta.resp", "wb") as resp_meta, open(f"{work}/unlink.resp", "wb") as unlink:
    for i in range(n):
        k, v = f"bench/{i:07d}", f"value-{i:07d}-" + "x" * 32
        tsv.write(f"{k}\t{v}\n")
        key, meta = (prefix + k).encode(), ("statectl#" + prefix + "meta:" + k).encode()
        resp.write(cmd(b"SET", key, v.encode()))
        # Like for like: the value and its metadata key, as statectl's batch writes them.
        resp_meta.write(cmd(b"SET", key, v.encode()) + cmd(b"SET", meta, blob))
        unlink.write(cmd(b"UNLINK", key) + cmd(b"UNLINK", meta))
PY
# statectl creates its schema on first use; the clean-up between rounds needs the table.
"$STATECTL" del --backend postgres bench/warm-up >/dev/null
PSQL="$(get_cfg postgres bin_dir)/psql"
[[ -x $PSQL ]] || PSQL=/usr/lib/postgresql/15/bin/psql
"$PSQL" -qX -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS statectl_bench_plain" -c "CREATE TABLE statectl_bench_plain (LIKE $TABLE INCLUDING DEFAULTS INCLUDING INDEXES)" >/dev/null

export WORK ROUNDS STATECTL REDIS_HOST REDIS_PORT REDIS_USER REDIS_TLS PREFIX TABLE PSQL CLUSTER_CONFIG ONLY
export PYTHONPATH="$(dirname "$(readlink -f "$0")")${PYTHONPATH:+:$PYTHONPATH}"
python3 - <<'PY'
import json, os, re, subprocess
import ab
W, ROUNDS, S, PSQL = os.environ["WORK"], int(os.environ["ROUNDS"]), os.environ["STATECTL"], os.environ["PSQL"]
RH, RP, PREFIX, TABLE = os.environ["REDIS_HOST"], os.environ["REDIS_PORT"], os.environ["PREFIX"], os.environ["TABLE"]
DEVNULL = subprocess.DEVNULL
REDIS = (["redis-cli"] + os.environ["REDIS_TLS"].split() + ["-h", RH, "-p", RP] +
         (["--user", os.environ["REDIS_USER"]] if os.environ["REDIS_USER"] else []))

def sql(text):
    subprocess.run([PSQL, "-qX", "-c", text], check=True, stdout=DEVNULL)

def clean_pg():
    sql(f"DELETE FROM {TABLE} WHERE key >= 'bench/'::bytea AND key < 'bench0'::bytea")
    sql(f"VACUUM {TABLE}")

def clean_redis():
    with open(f"{W}/unlink.resp", "rb") as f:
        subprocess.run(REDIS + ["--pipe"], stdin=f, check=True, stdout=DEVNULL)

def want(label):
    return re.search(os.environ["ONLY"], label) is not None

def run_case(case, rounds, goal=None):
    if want(case.label):
        ab.run_case(case, rounds, goal)

Case = ab.Case
batch, resp = f"{W}/batch.tsv", f"{W}/batch.resp"
n = sum(1 for _ in open(batch))
print(f"{n} keys per batch; {ROUNDS} rounds, statectl and the reference alternating; "
      "ratio = statectl / reference, median [lowest-highest round]")
run_case(Case("redis: put --batch", [S, "put", "--backend", "redis", "--batch", batch], REDIS + ["--pipe"],
              "redis-cli --pipe", stdin_b=resp, prep_a=clean_redis, prep_b=clean_redis), ROUNDS, 1.0)
run_case(Case("redis: put --batch (+metadata)", [S, "put", "--backend", "redis", "--batch", batch], REDIS + ["--pipe"],
              "redis-cli --pipe, value+meta", stdin_b=f"{W}/batch_meta.resp", prep_a=clean_redis, prep_b=clean_redis),
         ROUNDS, 1.0)
CC = os.environ["CLUSTER_CONFIG"]
if CC:
    cluster_env = dict(os.environ)
    pw = subprocess.run([S, "-c", CC, "secrets", "get", "redis"], capture_output=True, text=True).stdout.strip()
    if pw:
        cluster_env["REDISCLI_AUTH"] = pw

    def clean_cluster():
        # Every master's bench keys (values and their hash-tagged metadata), one UNLINK each.
        st = json.loads(subprocess.run([S, "-c", CC, "status", "-o", "json"], capture_output=True, check=False).stdout)
        for c in st["components"]:
            if c["kind"] != "redis" or c["role"] != "master":
                continue
            port = c["address"].rsplit(":", 1)[1]
            names = []
            for pattern in (PREFIX + "bench/*", "statectl#" + PREFIX + "meta:*bench/*"):
                names += subprocess.run(["redis-cli", "-p", port, "--scan", "--pattern", pattern], capture_output=True,
                                        check=True, env=cluster_env).stdout.split(b"\n")
            resp = b"".join(b"*2\r\n$6\r\nUNLINK\r\n$%d\r\n%s\r\n" % (len(k), k) for k in names if k)
            subprocess.run(["redis-cli", "-p", port, "--pipe"], input=resp, check=True, stdout=DEVNULL, env=cluster_env)
    run_case(Case("redis cluster (3 masters) vs one master: put --batch",
                  [S, "-c", CC, "put", "--backend", "redis", "--batch", batch], [S, "put", "--backend", "redis", "--batch", batch],
                  "the same batch on the Sentinel master", prep_a=clean_cluster, prep_b=clean_redis), ROUNDS, 1.2)
run_case(Case("postgres: put --batch", [S, "put", "--backend", "postgres", "--batch", batch],
              [PSQL, "-qX", "-c", f"\\copy statectl_bench_plain (key, value) from '{batch}'"], "psql \\copy",
              prep_a=clean_pg, prep_b=lambda: sql("TRUNCATE statectl_bench_plain")), ROUNDS, 1.1)

# keys and get: the batch stays loaded on both backends from here on.
if want("keys") or want("get"):
    subprocess.run([S, "put", "--backend", "postgres", "--batch", batch], check=True, stdout=DEVNULL)
    subprocess.run([S, "put", "--backend", "redis", "--batch", batch], check=True, stdout=DEVNULL)
run_case(Case("postgres: keys", [S, "keys", "--backend", "postgres", "--prefix", "bench/"],
              [PSQL, "-qXtA", "-c", f"SELECT convert_from(key, 'UTF8'), octet_length(value), expires_at - now(), updated_at "
               f"FROM {TABLE} WHERE key >= 'bench/'::bytea AND key < 'bench0'::bytea "
               "AND (expires_at IS NULL OR expires_at > now()) ORDER BY key"], "psql SELECT"), ROUNDS, 1.2)
run_case(Case("redis: keys", [S, "keys", "--backend", "redis", "--prefix", "bench/"],
              REDIS + ["--scan", "--pattern", PREFIX + "bench/*"], "redis-cli --scan"), ROUNDS, 1.2)

key = "bench/0000001"
run_case(Case("redis: get", [S, "get", "--backend", "redis", key], REDIS + ["GET", PREFIX + key], "redis-cli GET",
              repeat=10), ROUNDS, 1.3)
run_case(Case("postgres: get", [S, "get", "--backend", "postgres", key],
              [PSQL, "-qXtA", "-c", f"SELECT value FROM {TABLE} WHERE key = convert_to('{key}', 'UTF8')"], "psql -c SELECT",
              repeat=10), ROUNDS)
for b, goal in (("postgres", 4.0), ("redis", 3.0)):
    run_case(Case(f"{b}: lock -- true", [S, "lock", "--backend", b, "bench-lock", "--", "true"],
                  ["flock", f"{W}/flock", "true"], "flock FILE true", repeat=5), ROUNDS, goal)
# The server's share of a PostgreSQL lock: psql logging in through the same PgBouncer and running
# the same grant (synchronous commit) and release (asynchronous) statements, one after the other.
LOCKS, SEQ = TABLE + "_locks", TABLE + "_lock_token_seq"
grant = (f"INSERT INTO \"{LOCKS}\" AS l (name, owner, token, expires_at) VALUES ('bench-lock', 'psql', "
         f"nextval('{SEQ}'), clock_timestamp() + interval '30 seconds') ON CONFLICT (name) DO UPDATE "
         f"SET owner = EXCLUDED.owner, token = nextval('{SEQ}'), expires_at = EXCLUDED.expires_at "
         "WHERE l.expires_at <= clock_timestamp() RETURNING token")
release = (f"UPDATE \"{LOCKS}\" SET expires_at = '-infinity', owner = '' WHERE name = 'bench-lock' AND owner = 'psql' "
           "AND set_config('synchronous_commit', 'off', true) IS NOT NULL")
run_case(Case("postgres: lock -- true (same SQL)", [S, "lock", "--backend", "postgres", "bench-lock", "--", "true"],
              [PSQL, "-qXtA", "-c", grant, "-c", release], "psql: grant + release", repeat=5), ROUNDS)
run_case(Case("start-up: --version", [S, "--version"], ["redis-cli", "--version"], "redis-cli --version", repeat=10),
         ROUNDS, 1.3)
clean_pg()
clean_redis()
PY
"$PSQL" -qX -c "DROP TABLE IF EXISTS statectl_bench_plain" -c "VACUUM $TABLE" >/dev/null

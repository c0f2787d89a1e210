#!/usr/bin/env bash
# Benchmark (not a test): statectl's backups against pgBackRest (Debian's 2.45, installed here
# when missing) on the same pgbench database, same zstd level (3) and 2 processes/threads. The
# two tools alternate over ROUNDS rounds (bench/ab.py) and each line prints the median ratio
# statectl / pgBackRest with its spread:
#   verify        backup verify            vs pgbackrest verify
#   restore       restore (durable: syncfs) vs pgbackrest restore (durable: fsync per file)
#   restore --no-sync                       vs pgbackrest restore
#   restore --delta                         vs pgbackrest restore --delta, into a restored copy of
#                 the backup whose first files under base/ (1% of its bytes) were deleted and a
#                 stray file added before each run
#   create full   backup create            vs pgbackrest backup --type=full
#   create diff   backup create --type diff vs pgbackrest backup --type=diff, after adding a
#                 table of 1% of the database (file-level diffs store whole changed files)
#   diff vs full  statectl's own diff (a 1% table made anew before each) vs its own full backup
#                 (issue 18's goal: a diff takes <= 30% of a full's time and stores <= 10%)
# and the stored sizes of a full and a diff of each.
#   STATECTL=build/statectl bench/backup.sh [SCALE] [PORT]     (ROUNDS=5 by default)
#   BENCH_ONLY=verify,restore,delta,create,diff runs only those lines (default: all)
set -euo pipefail
STATECTL=${STATECTL:-$(dirname "$0")/../build/statectl}
STATECTL=$(readlink -f "$STATECTL")
BENCH=$(cd "$(dirname "$0")" && pwd)
SCALE=${1:-70}
PORT=${2:-34500}
ROUNDS=${ROUNDS:-5}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
command -v pgbackrest >/dev/null || apt-get install -y pgbackrest >/dev/null
DIR=$(mktemp -d /tmp/statectl-bench-backup.XXXXXX)
chmod 0755 "$DIR"
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
mkdir -p "$DIR/repo" "$DIR/pgbr" "$DIR/pgbr-log" "$DIR/pgbr-lock" "$DIR/state"
if [[ $(id -u) == 0 ]]; then chown postgres: "$DIR" "$DIR/repo" "$DIR/pgbr" "$DIR/pgbr-log" "$DIR/pgbr-lock"; fi
cat >"$DIR/statectl.toml" <<TOML
# This hand-started server speaks plain text.
[tls]
enabled = false
[local]
postgres_port = $PORT
dir = "$DIR/state"
[backup]
repo = "$DIR/repo"
compress_level = 3
threads = 2
TOML
cat >"$DIR/pgbackrest.conf" <<CONF
[global]
repo1-path=$DIR/pgbr
repo1-retention-full=2
compress-type=zst
compress-level=3
process-max=2
start-fast=y
log-level-console=warn
log-level-file=off
log-path=$DIR/pgbr-log
lock-path=$DIR/pgbr-lock

[bench]
pg1-path=$DIR/pg
pg1-port=$PORT
pg1-socket-path=$DIR
CONF
chmod 0644 "$DIR/statectl.toml" "$DIR/pgbackrest.conf"
PGBR=(runuser -u postgres -- pgbackrest "--config=$DIR/pgbackrest.conf" --stanza=bench)
[[ $(id -u) == 0 ]] || PGBR=("${PGBR[@]:3}")
as_pg "$PG_BIN/initdb" -D "$DIR/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$DIR/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
wal_level = replica
archive_mode = on
archive_command = '$STATECTL -c $DIR/statectl.toml wal push %p && pgbackrest --config=$DIR/pgbackrest.conf --stanza=bench archive-push %p'
max_wal_size = 4GB
CONF
as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w start >/dev/null
# The stanza first: archive_command fails (and WAL piles up) until pgBackRest has one.
"${PGBR[@]}" stanza-create >/dev/null
echo "initializing pgbench scale $SCALE ..." >&2
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
psql() { command psql -XAtq -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }
DB_SIZE=$(psql -c "SELECT sum(pg_database_size(oid)) FROM pg_database")
psql -c "CHECKPOINT" >/dev/null
# The first backup waits at most 60 s for its WAL: let the archiver catch up with pgbench's first
# (two archivers per segment on a loaded machine can lag minutes behind).
for _ in $(seq 600); do
  [[ $(psql -c "SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready'") == 0 ]] && break
  sleep 1
done
"$STATECTL" -c "$DIR/statectl.toml" -q backup create
"${PGBR[@]}" backup --type=full >/dev/null
ST_ID=$("$STATECTL" -c "$DIR/statectl.toml" -o json backup list | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][-1]["id"])')
BR_FULL=$(du -sb "$DIR"/pgbr/backup/bench/*F | tail -1 | cut -f1)
ST_FULL=$(du -sb "$DIR/repo/backups/$ST_ID" | cut -f1)
printf 'database size: %s bytes (pgbench scale %s), %s rounds, pgBackRest %s, load average %s\n' "$DB_SIZE" "$SCALE" "$ROUNDS" \
  "$(pgbackrest version | cut -d' ' -f2)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'stored full backup: statectl %s bytes, pgbackrest %s bytes (%.3f)\n' "$ST_FULL" "$BR_FULL" "$(echo "$ST_FULL / $BR_FULL" | bc -l)"

export STATECTL DIR ROUNDS ST_ID PORT
BENCH_DIR=$BENCH python3 - "${PGBR[@]}" <<'PY'
import os, shutil, subprocess, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from ab import Case, run_case
S, D, rounds, sid = os.environ["STATECTL"], os.environ["DIR"], int(os.environ["ROUNDS"]), os.environ["ST_ID"]
br = sys.argv[1:]
st = [S, "-c", f"{D}/statectl.toml", "-q"]
def fresh(path, owner=None):
    shutil.rmtree(path, ignore_errors=True)
    if owner:
        os.makedirs(path, mode=0o700)
        shutil.chown(path, owner, owner)
only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
want = lambda name: not only or name in only
if want("verify"):
    run_case(Case("backup verify", a=st + ["backup", "verify"], b=br + ["verify"], ref_name="pgbackrest verify"), rounds, goal=1.5)
    run_case(Case("backup verify --deep", a=st + ["backup", "verify", "--deep"], b=br + ["verify"], ref_name="pgbackrest verify"), rounds, goal=1.5)
if want("restore"):
  run_case(Case("restore (durable)", a=st + ["restore", "--to", f"{D}/rs", "--backup", sid, "--target-immediate"],
              b=br + [f"--pg1-path={D}/rb", "restore", "--type=immediate"], ref_name="pgbackrest restore",
              prep_a=lambda: fresh(f"{D}/rs"), prep_b=lambda: fresh(f"{D}/rb", "postgres")), rounds, goal=1.0)
  run_case(Case("restore --no-sync", a=st + ["restore", "--to", f"{D}/rs", "--backup", sid, "--target-immediate", "--no-sync"],
              b=br + [f"--pg1-path={D}/rb", "restore", "--type=immediate"], ref_name="pgbackrest restore",
              prep_a=lambda: fresh(f"{D}/rs"), prep_b=lambda: fresh(f"{D}/rb", "postgres")), rounds)
  fresh(f"{D}/rs"); fresh(f"{D}/rb")
if want("delta"):
    # The same small change to each tool's restored copy before each run: the first files under
    # base/ (sorted by path) that make up 1% of the directory's bytes are deleted, a stray added.
    def small_change(path, first_restore):
        if not os.path.exists(f"{path}/PG_VERSION"):
            fresh(path, "postgres")
            subprocess.run(first_restore, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        files = sorted(os.path.join(d, n) for d, _, ns in os.walk(f"{path}/base") for n in ns)
        total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(path) for n in ns if not os.path.islink(os.path.join(d, n)))
        gone = 0
        for f in files:
            if gone >= total // 100:
                break
            gone += os.path.getsize(f)
            os.remove(f)
        with open(f"{path}/base/stray.junk", "wb") as out:
            out.write(b"x" * (1 << 20))
    st_restore = st + ["restore", "--to", f"{D}/rs", "--backup", sid, "--target-immediate"]
    br_restore = br + [f"--pg1-path={D}/rb", "restore", "--type=immediate"]
    run_case(Case("restore --delta (durable)", a=st_restore + ["--delta"], b=br_restore + ["--delta"], ref_name="pgbackrest restore --delta",
                  prep_a=lambda: small_change(f"{D}/rs", st_restore), prep_b=lambda: small_change(f"{D}/rb", br_restore)), rounds, goal=1.0)
    fresh(f"{D}/rs"); fresh(f"{D}/rb")
if want("create"):
    run_case(Case("backup create (full)", a=st + ["backup", "create"], b=br + ["backup", "--type=full"],
                  ref_name="pgbackrest backup full"), rounds, goal=1.0)
PY
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
[[ -z ${BENCH_ONLY:-} || ,$BENCH_ONLY, == *,diff,* ]] || exit 0
# 1% of the database in a new table, then diffs of each against its last full.
psql -c "CREATE TABLE extra AS SELECT * FROM pgbench_accounts WHERE aid % 100 = 0" >/dev/null
psql -c "CHECKPOINT" >/dev/null
BENCH_DIR=$BENCH python3 - "${PGBR[@]}" <<'PY'
import os, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from ab import Case, run_case
S, D, rounds = os.environ["STATECTL"], os.environ["DIR"], int(os.environ["ROUNDS"])
run_case(Case("backup create --type diff", a=[S, "-c", f"{D}/statectl.toml", "-q", "backup", "create", "--type", "diff"],
              b=sys.argv[1:] + ["backup", "--type=diff"], ref_name="pgbackrest backup diff"), rounds, goal=1.0)
PY
ST_DIFF=$(du -sb "$(ls -d "$DIR"/repo/backups/*D | tail -1)" | cut -f1)
BR_DIFF=$(du -sb "$(ls -d "$DIR"/pgbr/backup/bench/*D | tail -1)" | cut -f1)
# statectl's diff against its own full: the 1% table is made anew (new files) before each diff,
# so every diff, whichever full it follows, stores that 1%.
BENCH_DIR=$BENCH python3 - <<'PY'
import os, subprocess, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from ab import Case, run_case
S, D, rounds, port = os.environ["STATECTL"], os.environ["DIR"], int(os.environ["ROUNDS"]), os.environ["PORT"]
st = [S, "-c", f"{D}/statectl.toml", "-q", "backup", "create"]
def one_percent():
    for q in ("DROP TABLE IF EXISTS extra", "CREATE TABLE extra AS SELECT * FROM pgbench_accounts WHERE aid % 100 = 0", "CHECKPOINT"):
        subprocess.run(["psql", "-XAtq", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "-c", q], check=True, stdout=subprocess.DEVNULL)
run_case(Case("statectl diff vs its own full", a=st + ["--type", "diff"], b=st + ["--type", "full"], ref_name="statectl backup full",
              prep_a=one_percent), rounds, goal=0.30)
PY
ST_OWN_FULL=$(du -sb "$(ls -d "$DIR"/repo/backups/*F | tail -1)" | cut -f1)
ST_OWN_DIFF=$(du -sb "$(ls -d "$DIR"/repo/backups/*D | tail -1)" | cut -f1)
printf '%-26s %14s %14s %8s\n' stored statectl pgbackrest ratio
printf '%-26s %14s %14s %8.2f\n' "full backup (bytes)" "$ST_FULL" "$BR_FULL" "$(echo "$ST_FULL / $BR_FULL" | bc -l)"
printf '%-26s %14s %14s %8.2f\n' "diff after +1% (bytes)" "$ST_DIFF" "$BR_DIFF" "$(echo "$ST_DIFF / $BR_DIFF" | bc -l)"
printf 'statectl diff stores %.1f%% of its full (goal <= 10%%); last diff vs own full: %.1f%%\n' "$(echo "100 * $ST_DIFF / $ST_FULL" | bc -l)" \
  "$(echo "100 * $ST_OWN_DIFF / $ST_OWN_FULL" | bc -l)"

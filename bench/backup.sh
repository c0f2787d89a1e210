#!/usr/bin/env bash
# Benchmark (not a test): `statectl backup create` against `pg_basebackup -Ft -z` (gzip) and
# `pg_basebackup -Ft | zstd -T2` on a pgbench database of about 1 GB (scale 70). Prints wall
# time and stored size of each, and the ratios against pg_basebackup -z.
# Target: statectl at least 2x faster than pg_basebackup -z at no more than 1.2x its size.
#   STATECTL=build/statectl bench/backup.sh [SCALE] [PORT]
set -euo pipefail
STATECTL=${STATECTL:-$(dirname "$0")/../build/statectl}
STATECTL=$(readlink -f "$STATECTL")
SCALE=${1:-70}
PORT=${2:-34500}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DIR=$(mktemp -d /tmp/statectl-bench-backup.XXXXXX)
chmod 0755 "$DIR"
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
mkdir -p "$DIR/repo" "$DIR/out"
# As root the server runs as postgres, which needs the folder for its data, log and socket.
if [[ $(id -u) == 0 ]]; then chown postgres: "$DIR" "$DIR/repo" "$DIR/out"; fi
cat >"$DIR/statectl.toml" <<TOML
[local]
postgres_port = $PORT
dir = "$DIR/state"
[backup]
repo = "$DIR/repo"
TOML
chmod 0644 "$DIR/statectl.toml"
as_pg "$PG_BIN/initdb" -D "$DIR/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$DIR/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
wal_level = replica
archive_mode = on
archive_command = '$STATECTL -c $DIR/statectl.toml wal push %p'
max_wal_size = 4GB
CONF
as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w start >/dev/null
echo "initializing pgbench scale $SCALE ..." >&2
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
DB_SIZE=$(psql -XAtq -h 127.0.0.1 -p "$PORT" -U postgres -c "SELECT sum(pg_database_size(oid)) FROM pg_database")
psql -XAtq -h 127.0.0.1 -p "$PORT" -U postgres -c "CHECKPOINT" >/dev/null

now() { date +%s.%N; }
t0=$(now); "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U postgres -D "$DIR/out/gz" -Ft -z -X none -c fast 2>/dev/null; t1=$(now)
GZ_T=$(echo "$t1 - $t0" | bc); GZ_S=$(du -sb "$DIR/out/gz" | cut -f1); rm -rf "$DIR/out/gz"
t0=$(now); "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U postgres -D - -Ft -X none -c fast 2>/dev/null | zstd -q -T2 >"$DIR/out/base.tar.zst"; t1=$(now)
ZS_T=$(echo "$t1 - $t0" | bc); ZS_S=$(stat -c %s "$DIR/out/base.tar.zst"); rm -f "$DIR/out/base.tar.zst"
t0=$(now); "$STATECTL" -c "$DIR/statectl.toml" -q backup create; t1=$(now)
ST_T=$(echo "$t1 - $t0" | bc); ST_S=$(du -sb "$DIR/repo/backups" | cut -f1)

printf 'database size: %s bytes (pgbench scale %s)\n' "$DB_SIZE" "$SCALE"
printf '%-34s %10s %14s\n' method seconds stored_bytes
printf '%-34s %10.2f %14s\n' "pg_basebackup -Ft -z (gzip)" "$GZ_T" "$GZ_S"
printf '%-34s %10.2f %14s\n' "pg_basebackup -Ft | zstd -T2" "$ZS_T" "$ZS_S"
printf '%-34s %10.2f %14s\n' "statectl backup create" "$ST_T" "$ST_S"
printf 'speed-up vs pg_basebackup -z: %.2fx (target >= 2x)\n' "$(echo "$GZ_T / $ST_T" | bc -l)"
printf 'size vs pg_basebackup -z:     %.2fx (target <= 1.2x)\n' "$(echo "$ST_S / $GZ_S" | bc -l)"

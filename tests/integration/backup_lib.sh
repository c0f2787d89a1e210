# Helpers for the backup tests (sourced after lib.sh): one PostgreSQL primary, run as the
# unprivileged user when root, archiving into the test's repository through `statectl wal push`.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
[[ -x $PG_BIN/initdb ]] || skip "PostgreSQL 15 binaries not found in $PG_BIN"

# as_pg CMD...: runs CMD as the server user when root.
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# start_backup_pg PORT: initdb + start in $TEST_DIR/pg with archiving into $TEST_DIR/repo, and
# write $TEST_DIR/statectl.toml pointing statectl at it. Registers the stop with on_exit.
start_backup_pg() {
  PGPORT=$1
  export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=postgres
  mkdir -p "$TEST_DIR/repo" "$TEST_DIR/state" "$TEST_DIR/pg" "$TEST_DIR/pgrun"
  chmod 0700 "$TEST_DIR/pg"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$TEST_DIR/repo" "$TEST_DIR/pg" "$TEST_DIR/pgrun"; fi
  cat >"$TEST_DIR/statectl.toml" <<TOML
# These hand-started servers speak plain text.
[tls]
enabled = false
[local]
postgres_port = $PGPORT
redis_port = $(port 10)
dir = "$TEST_DIR/state"
[redis]
mode = "standalone"
[backup]
repo = "$TEST_DIR/repo"
TOML
  chmod 0644 "$TEST_DIR/statectl.toml"
  export STATECTL_CONFIG="$TEST_DIR/statectl.toml"
  as_pg "$PG_BIN/initdb" -D "$TEST_DIR/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$TEST_DIR/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$TEST_DIR/pgrun'
wal_level = replica
max_wal_senders = 10
archive_mode = on
archive_command = '$STATECTL -c $TEST_DIR/statectl.toml wal push %p'
fsync = off
CONF
  as_pg "$PG_BIN/pg_ctl" -D "$TEST_DIR/pg" -l "$TEST_DIR/pgrun/pg.log" -w start >/dev/null
  on_exit "as_pg $PG_BIN/pg_ctl -D $TEST_DIR/pg -m immediate stop"
}

# sql QUERY: one value from the primary.
sql() { psql -XAtq -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c "$1"; }
# sql_at PORT QUERY: one value from another server.
sql_at() { psql -XAtq -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"; }

# stop_restored DIR: stops a server started by `restore --start`.
stop_restored() { as_pg "$PG_BIN/pg_ctl" -D "$1" -m immediate stop >/dev/null 2>&1 || true; }

# archived SEGMENT: true once the repository holds that WAL segment.
archived() { ls "$TEST_DIR/repo/wal/${1:0:8}/" 2>/dev/null | grep -q "^$1-"; }

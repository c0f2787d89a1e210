# Servers for the state tests (sourced after lib.sh). Uses start_stack (the local stack that
# `statectl deploy` builds) when lib.sh provides it; otherwise starts PostgreSQL + PgBouncer
# (transaction pooling) + Redis + one Sentinel by hand on this test's ports, as the postgres user
# when running as root. Either way it exports STATECTL_CONFIG pointing at them.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

_as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_state_servers() {
  if declare -F start_stack >/dev/null && [[ -z ${STATECTL_STATE_OWN_SERVERS:-} ]]; then
    start_stack "$@"
    return
  fi
  for p in "$PG_BIN/initdb" "$(command -v pgbouncer)" "$(command -v redis-server)" "$(command -v redis-sentinel)"; do
    [[ -x $p ]] || skip "state tests need PostgreSQL, pgbouncer, redis-server and redis-sentinel"
  done
  local pg_port pgb_port redis_port sentinel_port s="$TEST_DIR/servers"
  pg_port=$(port 1) pgb_port=$(port 2) redis_port=$(port 3) sentinel_port=$(port 4)
  mkdir -p "$s/pg" "$s/run"
  [[ $(id -u) == 0 ]] && chown -R postgres: "$s"
  _as_pg "$PG_BIN/initdb" -D "$s/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$s/pg/postgresql.conf" <<CONF
listen_addresses='127.0.0.1'
port=$pg_port
unix_socket_directories='$s/run'
max_connections=100
CONF
  _as_pg "$PG_BIN/pg_ctl" -D "$s/pg" -l "$s/run/pg.log" -w start >/dev/null
  on_exit "_as_pg $PG_BIN/pg_ctl -D $s/pg -m immediate stop"
  cat >"$s/run/pgbouncer.ini" <<CONF
[databases]
postgres = host=127.0.0.1 port=$pg_port dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = trust
auth_file = $s/run/users.txt
pool_mode = transaction
max_client_conn = 200
default_pool_size = 20
admin_users = postgres
logfile = $s/run/pgbouncer.log
pidfile = $s/run/pgbouncer.pid
CONF
  echo '"postgres" ""' >"$s/run/users.txt"
  [[ $(id -u) == 0 ]] && chown -R postgres: "$s/run"
  _as_pg pgbouncer -d "$s/run/pgbouncer.ini"
  on_exit "kill_wait \$(cat $s/run/pgbouncer.pid)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$s" --daemonize yes --pidfile "$s/redis.pid" \
    --logfile "$s/redis.log" --save '' --appendonly no
  on_exit "kill_wait \$(cat $s/redis.pid)"
  printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %s 1\nsentinel down-after-milliseconds mymaster 1000\n' \
    "$sentinel_port" "$s" "$redis_port" >"$s/sentinel.conf"
  redis-sentinel "$s/sentinel.conf" --daemonize yes --pidfile "$s/sentinel.pid" --logfile "$s/sentinel.log"
  on_exit "kill_wait \$(cat $s/sentinel.pid)"
  cat >"$TEST_DIR/statectl.toml" <<CONF
# These hand-started servers speak plain text.
[tls]
enabled = false
[local]
dir = "$TEST_DIR/state"
postgres_port = $pg_port
pgbouncer_port = $pgb_port
redis_port = $redis_port
sentinel_port = $sentinel_port
[postgres]
replicas = 0
[redis]
sentinels = 1
[state]
retry_initial = "50ms"
CONF
  export STATECTL_CONFIG="$TEST_DIR/statectl.toml"
  wait_until 10 psql -h 127.0.0.1 -p "$pgb_port" -U postgres -tAc 'SELECT 1' || fail "pgbouncer did not come up"
  wait_until 10 redis-cli -p "$sentinel_port" sentinel get-master-addr-by-name mymaster || fail "sentinel did not come up"
}

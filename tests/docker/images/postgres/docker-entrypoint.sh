#!/usr/bin/env bash
# Stand-in for the official postgres image's entrypoint: the documented contract only.
#   POSTGRES_PASSWORD / POSTGRES_PASSWORD_FILE (required unless POSTGRES_HOST_AUTH_METHOD=trust),
#   POSTGRES_USER (default postgres), POSTGRES_DB (default $POSTGRES_USER), PGDATA,
#   POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256);
#   on an empty PGDATA: initdb as uid 999, then a temporary server started with the same
#   arguments (plus listen_addresses='') runs /docker-entrypoint-initdb.d/* (*.sh executed or
#   sourced, *.sql through psql) as uid 999, then stops; then `postgres "$@"` runs as uid 999.
set -Eeo pipefail

file_env() {
  local var=$1 file_var="${1}_FILE" def=${2:-}
  if [ "${!var:-}" ] && [ "${!file_var:-}" ]; then
    echo >&2 "error: both $var and $file_var are set (but are exclusive)"
    exit 1
  fi
  local val=$def
  if [ "${!var:-}" ]; then val=${!var}; elif [ "${!file_var:-}" ]; then val=$(<"${!file_var}"); fi
  export "$var"="$val"
  unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chmod 00700 "$PGDATA" || :
    chown -R postgres "$PGDATA" /var/run/postgresql 2>/dev/null || :
    exec gosu postgres "$BASH_SOURCE" "$@"
  fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
      echo >&2 "error: database is uninitialized and superuser password is not specified (POSTGRES_PASSWORD)"
      exit 1
    fi
    ls /docker-entrypoint-initdb.d/ >/dev/null
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
    export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
    # The temporary server reads the same configuration as the real one (the arguments too).
    shift
    pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@" -c listen_addresses='' -p 5432)" -w start
    psql_base=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    if [ "$POSTGRES_DB" != postgres ]; then
      "${psql_base[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
      *.sh)
        if [ -x "$f" ]; then echo "running $f"; "$f"; else echo "sourcing $f"; . "$f"; fi ;;
      *.sql) echo "running $f"; "${psql_base[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *) [ -e "$f" ] && echo "ignoring $f" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    echo "PostgreSQL init process complete; ready for start up."
    set -- postgres "$@"
  fi
fi
exec "$@"

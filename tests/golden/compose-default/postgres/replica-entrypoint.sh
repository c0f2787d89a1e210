#!/bin/bash
# Rendered by statectl: clones the primary on first start, then runs as a streaming standby.
set -euo pipefail
mkdir -p "$PGDATA"
chown -R postgres:postgres "$(dirname "$PGDATA")"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  install -o postgres -m 0600 /run/secrets/replication /tmp/replication.pw
  until gosu postgres env PGPASSWORD="$(cat /tmp/replication.pw)" pg_basebackup -h "$PRIMARY_HOST" -U replicator \
      -D "$PGDATA" -R -X stream -c fast; do
    echo "waiting for $PRIMARY_HOST" >&2
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
  rm -f /tmp/replication.pw
fi
exec gosu postgres postgres -c config_file=/etc/postgresql/postgresql.conf

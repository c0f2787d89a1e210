#!/bin/bash
# Rendered by statectl: clones the primary on first start, then runs as a streaming standby.
# The replication password reaches pg_basebackup and the WAL receiver through a private
# password file next to the data directory, rewritten from the secret at every start (so a
# rotated password takes effect with a restart); primary_conninfo names the file, not the value.
set -euo pipefail
install -d -o postgres -g postgres -m 0700 "$PGDATA"
chown postgres:postgres "$(dirname "$PGDATA")"
pass="$(dirname "$PGDATA")/replication.pgpass"
(umask 077 && printf '*:*:*:replicator:%s\n' "$(sed 's/[\\:]/\\&/g' /run/secrets/replication)" >"$pass")
chown postgres "$pass"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # -R writes this conninfo into primary_conninfo: the WAL receiver verifies the primary's
  # certificate and name too (verify-full).
  until gosu postgres pg_basebackup -d "host=$PRIMARY_HOST user=replicator passfile=$pass sslmode=verify-full sslrootcert=/run/secrets/ca.crt" -w \
      -D "$PGDATA" -R -X stream -c fast; do
    echo "waiting for $PRIMARY_HOST" >&2
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
  chmod 0700 "$PGDATA"
fi
exec gosu postgres postgres -c config_file=/etc/postgresql/postgresql.conf

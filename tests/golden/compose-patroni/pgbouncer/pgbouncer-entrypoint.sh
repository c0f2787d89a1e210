#!/bin/sh
# Rendered by statectl: writes PgBouncer's auth file from the secret files into a private
# folder (never into argv or the environment), then runs PgBouncer in the foreground from a
# private copy of its configuration (`failover test` repoints that copy and RELOADs).
set -eu
umask 077
mkdir -p /tmp/pgbouncer
line() { printf '"%s" "%s"\n' "$1" "$(sed 's/"/""/g' "/run/secrets/$2")"; }
{
  line 'postgres' postgres
  line pgbouncer pgbouncer
  line 'app' app
} >/tmp/pgbouncer/userlist.txt
cp /opt/statectl/pgbouncer.ini /tmp/pgbouncer/pgbouncer.ini
exec pgbouncer /tmp/pgbouncer/pgbouncer.ini

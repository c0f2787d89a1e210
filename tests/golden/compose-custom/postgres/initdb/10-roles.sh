#!/bin/bash
# Rendered by statectl: creates the replication and application roles on first start of the
# primary. Passwords come from the Compose secrets, never from the environment.
set -euo pipefail
repl_pw=$(cat /run/secrets/replication)
app_pw=$(cat /run/secrets/app)
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v repl_pw="$repl_pw" -v app_pw="$app_pw" -v app_user="$STATECTL_APP_USER" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'repl_pw';
CREATE ROLE :"app_user" WITH LOGIN PASSWORD :'app_pw';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"

#!/bin/sh
{{#pg_patroni}}
# Rendered by statectl for project "{{name}}": starts one Patroni member. The passwords go from
# the secret files into Patroni's own environment (never argv, never the compose file); the
# member's name and addresses come from docker-compose.yml.
set -eu
PATRONI_SUPERUSER_PASSWORD="$(cat /run/secrets/postgres)"
PATRONI_REWIND_PASSWORD="$PATRONI_SUPERUSER_PASSWORD"
PATRONI_REPLICATION_PASSWORD="$(cat /run/secrets/replication)"
export PATRONI_SUPERUSER_PASSWORD PATRONI_REWIND_PASSWORD PATRONI_REPLICATION_PASSWORD
exec patroni /opt/statectl/patroni.yml
{{/pg_patroni}}

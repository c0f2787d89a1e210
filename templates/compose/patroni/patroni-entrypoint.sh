#!/bin/sh
{{#pg_patroni}}
# Rendered by statectl for project "{{name}}": starts one Patroni member. Patroni reads a
# configuration directory: the shared patroni.yml and a credentials file (0600, inside the
# container only) that this script writes from the secret files, so the passwords are in no argv,
# environment or compose file. `statectl secrets rotate --apply` rewrites that file in the running
# container and reloads Patroni (SIGHUP). The member's name and addresses come from
# docker-compose.yml.
set -eu
conf=/tmp/statectl-patroni
rm -rf "$conf"
mkdir -m 0700 "$conf"
ln -s /opt/statectl/patroni.yml "$conf/10-patroni.yml"
umask 077
python3 - "$conf/20-credentials.yml" <<'EOF'
import sys
import yaml

def secret(name):
    with open("/run/secrets/" + name) as f:
        return f.read().rstrip("\n")

superuser = secret("postgres")
auth = {"superuser": {"password": superuser}, "rewind": {"password": superuser},
        "replication": {"password": secret("replication")}}
with open(sys.argv[1], "w") as f:
    yaml.safe_dump({"postgresql": {"authentication": auth}}, f)
EOF
exec patroni "$conf"
{{/pg_patroni}}

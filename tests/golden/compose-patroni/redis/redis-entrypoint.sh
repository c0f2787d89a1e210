#!/bin/sh
# Rendered by statectl: starts a Redis master, replica, cluster node or Sentinel with the password read from
# the secret file into a private config copy (never into argv or the environment).
set -eu
role=$1
umask 077
pw=$(cat /run/secrets/redis)
case "$role" in
master | replica)
  cp /opt/statectl/redis.conf /tmp/redis.conf
  # The health check's password: `secrets rotate --apply` replaces it with the server's.
  printf '%s' "$pw" >/tmp/redis.pass
  printf 'requirepass "%s"\nmasterauth "%s"\n' "$pw" "$pw" >>/tmp/redis.conf
  if [ "$role" = replica ]; then
    printf 'replicaof redis-master 6379\nreplica-announce-ip %s\n' "$(hostname -i | cut -d' ' -f1)" >>/tmp/redis.conf
  fi
  exec redis-server /tmp/redis.conf
  ;;
cluster)
  # A Redis Cluster node ([redis] mode = "cluster"); $2 is its service name, which it announces to
  # clients (MOVED redirects name redis-node-N:6379). nodes.conf on the volume keeps its identity.
  cp /opt/statectl/redis.conf /tmp/redis.conf
  printf '%s' "$pw" >/tmp/redis.pass
  printf 'requirepass "%s"\nmasterauth "%s"\n' "$pw" "$pw" >>/tmp/redis.conf
  printf 'cluster-enabled yes\ncluster-config-file /data/nodes.conf\ncluster-node-timeout 5000\n' >>/tmp/redis.conf
  printf 'cluster-announce-hostname %s\ncluster-preferred-endpoint-type hostname\n' "$2" >>/tmp/redis.conf
  exec redis-server /tmp/redis.conf
  ;;
sentinel)
  cp /opt/statectl/sentinel.conf /tmp/sentinel.conf
  printf 'sentinel auth-pass mymaster "%s"\n' "$pw" >>/tmp/sentinel.conf
  exec redis-sentinel /tmp/sentinel.conf
  ;;
esac
echo "unknown role $role" >&2
exit 2

#!/bin/sh
# Rendered by statectl: starts a Redis master, replica, cluster node or Sentinel with the password read from
# the secret file into a private config copy (never into argv or the environment).
#
# Everything is addressed by IP, resolved here at start: Sentinel and a replica resolve a host
# name on every reconnect, blocking their event loop, and the name of a stopped container is
# asked of the host's resolvers (seconds each): the Sentinels would all enter TILT mode just when
# the master is gone, and none would fail over.
set -eu
role=$1
umask 077
pw=$(cat /run/secrets/redis)
me=$(hostname -i | cut -d' ' -f1)
# redis-cli{{#tls_only}}, verifying the servers against statectl's CA (they speak TLS only){{/tls_only}}.
cli="{{redis_cli}}"

# The master the Sentinels name now, "IP PORT", when one of them answers and it is not this
# container (a former master started again follows the master Sentinel promoted meanwhile).
sentinels_master() {
  a=$(timeout 3 $cli -h redis-sentinel -p 26379 --raw SENTINEL get-master-addr-by-name {{redis.master_name}} 2>/dev/null | tr -d '\r' | tr '\n' ' ') || return 0
  set -- $a
  [ $# -eq 2 ] && [ "$1" != "$me" ] && echo "$1 $2"
  return 0
}

# The address of redis-master now, "IP 6379".
deployed_master() {
  ip=$(getent hosts redis-master | awk '{print $1; exit}')
  [ -n "$ip" ] && echo "$ip 6379"
  return 0
}

case "$role" in
master | replica)
  cp /opt/statectl/redis.conf /tmp/redis.conf
  # The health check's password: `secrets rotate --apply` replaces it with the server's.
  printf '%s' "$pw" >/tmp/redis.pass
{{#no_acl_users}}
  printf 'requirepass "%s"\nmasterauth "%s"\nreplica-announce-ip %s\n' "$pw" "$pw" "$me" >>/tmp/redis.conf
{{/no_acl_users}}
{{#acl_users}}
  # [redis] acl: statectl's ACL users (password hashes only; the default user is off), and the
  # replication user's login for when this server follows a master.
  cat /run/secrets/redis-acl >>/tmp/redis.conf
  printf 'masteruser statectl-replication\nmasterauth "%s"\nreplica-announce-ip %s\n' "$(cat /run/secrets/redis-replication)" "$me" >>/tmp/redis.conf
{{/acl_users}}
  upstream={{#redis_sentinel}}$(sentinels_master){{/redis_sentinel}}
  if [ -n "$upstream" ]; then
    # Only a master that answers as one: a stale answer must not make this server a replica of
    # nothing.
    set -- $upstream
    REDISCLI_AUTH="$pw" timeout 3 $cli --no-auth-warning -h "$1" -p "$2" ROLE 2>/dev/null | head -1 | grep -qx master || upstream=
  fi
  if [ -z "$upstream" ] && [ "$role" = replica ]; then upstream=$(deployed_master); fi
  if [ -n "$upstream" ]; then printf 'replicaof %s\n' "$upstream" >>/tmp/redis.conf; fi
  exec redis-server /tmp/redis.conf
  ;;
cluster)
  # A Redis Cluster node ([redis] mode = "cluster"); $2 is its service name, which it announces to
  # clients (MOVED redirects name redis-node-N:6379). nodes.conf on the volume keeps its identity.
  cp /opt/statectl/redis.conf /tmp/redis.conf
  printf '%s' "$pw" >/tmp/redis.pass
  printf 'requirepass "%s"\nmasterauth "%s"\n' "$pw" "$pw" >>/tmp/redis.conf
  printf 'cluster-enabled yes\ncluster-config-file /data/nodes.conf\ncluster-node-timeout {{redis_cluster_node_timeout_ms}}\n' >>/tmp/redis.conf
  printf 'cluster-announce-hostname %s\ncluster-preferred-endpoint-type hostname\n' "$2" >>/tmp/redis.conf
  exec redis-server /tmp/redis.conf
  ;;
sentinel)
  cp /opt/statectl/sentinel.conf /tmp/sentinel.conf
  master=$(sentinels_master)
  [ -n "$master" ] || master=$(deployed_master)
  if [ -z "$master" ]; then
    echo "no Sentinel names a master and redis-master does not resolve" >&2
    exit 1
  fi
  sed -i "s/^sentinel monitor {{redis.master_name}} redis-master 6379 /sentinel monitor {{redis.master_name}} $master /" /tmp/sentinel.conf
{{#no_acl_users}}
  printf 'sentinel auth-pass {{redis.master_name}} "%s"\n' "$pw" >>/tmp/sentinel.conf
{{/no_acl_users}}
{{#acl_users}}
  printf 'sentinel auth-user {{redis.master_name}} statectl-sentinel\nsentinel auth-pass {{redis.master_name}} "%s"\n' \
    "$(cat /run/secrets/redis-sentinel)" >>/tmp/sentinel.conf
{{/acl_users}}
  exec redis-sentinel /tmp/sentinel.conf
  ;;
esac
echo "unknown role $role" >&2
exit 2

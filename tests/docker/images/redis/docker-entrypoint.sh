#!/bin/sh
# Stand-in for the official redis image's entrypoint: `redis-server ARGS` or a first argument
# that is a flag or a *.conf file runs redis-server; as root it first takes /data and drops to
# uid 999 (redis); any other command runs as given, as the container's user.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi
exec "$@"

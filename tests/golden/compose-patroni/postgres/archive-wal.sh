#!/bin/sh
# Rendered by statectl for project "orders": the archive_command of the compose stack
# (`archive-wal.sh %p %f`). statectl is not inside the container, so the WAL file goes to the
# spool that `docker-compose.yml` bind-mounts from the state directory (/var/lib/statectl/wal-spool); every
# `statectl backup` command moves the spooled files into the repository (checksummed,
# compressed) and removes them here. A file is complete under its name only: it is copied to a
# temporary name, flushed to disk and renamed.
set -eu
spool=/var/lib/postgresql/wal-spool
src=$1
name=$2
if [ -f "$spool/$name" ]; then
  # PostgreSQL asks again after a crash: success only for the same content.
  exec cmp -s "$src" "$spool/$name"
fi
cp "$src" "$spool/.$name.tmp"
sync "$spool/.$name.tmp"
mv "$spool/.$name.tmp" "$spool/$name"
sync "$spool"

#!/usr/bin/env bash
# Builds the stand-in images the `docker` tests run (see tests/docker/README.md) into the engine
# that DOCKER_HOST names, under the tags that statectl's default compose render (and its render
# with [postgres] ha = "patroni") uses. No registry is reachable, so everything comes from
# Debian's packages:
#   - a root filesystem made by mmdebstrap (PostgreSQL 15, Redis, gosu, ...) -> postgres, redis
#   - a minimal one -> debian:bookworm-slim, from which the rendered pgbouncer/Dockerfile builds,
#     and the etcd and haproxy stand-ins
#   - the rendered patroni/Dockerfile, built FROM the postgres stand-in
# Cached by a hash of every input: the tarballs and a `docker save` of the images live in
# $STATECTL_TEST_CACHE (default /var/cache/statectl-test, else the build tree); the images are
# labelled with the hash, so a second run builds nothing and a fresh data root only loads.
set -euo pipefail

: "${STATECTL_BUILD_DIR:?}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE=${STATECTL_TEST_CACHE:-/var/cache/statectl-test}
mkdir -p "$CACHE" 2>/dev/null && [[ -w $CACHE ]] || CACHE="$STATECTL_BUILD_DIR/docker-cache"
mkdir -p "$CACHE"
SUITE=bookworm
PACKAGES=postgresql-15,postgresql-client-15,redis-server,redis-sentinel,redis-tools,gosu,hostname,procps,iproute2,ca-certificates
SOURCES=/etc/apt/sources.list.d/debian.sources
[[ -f $SOURCES ]] || SOURCES=http://deb.debian.org/debian

log() { echo "images: $*" >&2; }

work=$(mktemp -d "$STATECTL_BUILD_DIR/docker-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

rootfs_key=$(printf '%s\n' "$SUITE" "$PACKAGES" "$(cat "$SOURCES" 2>/dev/null || echo "$SOURCES")" "$(sed -n '/^# rootfs hooks/,/^# end rootfs hooks/p' "$0")" | sha256sum | cut -c1-16)
slim_key=$(printf '%s\n' "$SUITE" minbase "$(cat "$SOURCES" 2>/dev/null || echo "$SOURCES")" | sha256sum | cut -c1-16)

# mmdebstrap writes to a temporary name first: a half-written tarball is never taken as cached.
make_rootfs() {
  local out=$1
  shift
  [[ -s $out ]] && return 0
  command -v mmdebstrap >/dev/null || { log "mmdebstrap is not installed (packaging/install-deps.sh --test)"; return 1; }
  log "building $out with mmdebstrap (about a minute)"
  local part="${out%.tar}.part.tar" # mmdebstrap picks the format from the extension
  rm -f "$part"
  mmdebstrap --quiet "$@" "$SUITE" "$part" "$SOURCES" >&2
  mv "$part" "$out"
}

# rootfs hooks: the official images' users (postgres and redis, uid/gid 999) exist before the
# packages create theirs; Debian must not create a "main" cluster.
rootfs() {
  make_rootfs "$CACHE/rootfs-$rootfs_key.tar" --variant=apt --include="$PACKAGES" \
  --essential-hook='chroot "$1" sh -c "groupadd -r -g 999 postgres && useradd -r -g postgres -u 999 -d /var/lib/postgresql -s /bin/bash postgres && groupadd -r -g 998 redis && useradd -r -g redis -u 998 -d /var/lib/redis -s /usr/sbin/nologin redis && mkdir -p /etc/postgresql-common/createcluster.d && echo create_main_cluster = false > /etc/postgresql-common/createcluster.d/statectl.conf"' \
  --customize-hook='chroot "$1" sh -c "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin"'
# end rootfs hooks
  make_rootfs "$CACHE/slim-$slim_key.tar" --variant=minbase
}
# `images.sh rootfs` only fills the tarball cache (no engine, no binary needed).
if [[ ${1:-} == rootfs ]]; then
  rootfs
  exit 0
fi

: "${STATECTL:?the statectl binary renders the tags and the PgBouncer Dockerfile}"
# The tags the default render uses, and the rendered PgBouncer Dockerfile.
: >"$work/statectl.toml"
printf '[postgres]\nha = "patroni"\n' >"$work/patroni.toml"
(cd "$work" && "$STATECTL" -c statectl.toml render --target compose --out render >/dev/null)
(cd "$work" && "$STATECTL" -c patroni.toml render --target compose --out render-patroni >/dev/null)
image_of() { awk -v s="  $1:" '$0 == s {f = 1; next} f && /^    image:/ {print $2; exit}' "$work/${2:-render}/docker-compose.yml"; }
PG_TAG=$(image_of postgres-primary)
REDIS_TAG=$(image_of redis-master)
PGB_TAG=$(image_of pgbouncer)
PATRONI_TAG=$(image_of patroni-1 render-patroni)
ETCD_TAG=$(image_of etcd-1 render-patroni)
HAPROXY_TAG=$(image_of haproxy-1 render-patroni)
[[ -n $PG_TAG && -n $REDIS_TAG && -n $PGB_TAG && -n $PATRONI_TAG && -n $ETCD_TAG && -n $HAPROXY_TAG ]] ||
  { log "cannot find the image tags in the default and Patroni renders"; exit 1; }
ALL_TAGS=("$PG_TAG" "$REDIS_TAG" "$PGB_TAG" "$PATRONI_TAG" "$ETCD_TAG" "$HAPROXY_TAG")
SLIM_TAG=$(awk '/^FROM /{print $2; exit}' "$work/render/pgbouncer/Dockerfile")

images_key=$( (
  echo "$rootfs_key $slim_key ${ALL_TAGS[*]} $SLIM_TAG"
  cat "$0" "$HERE"/images/*/* "$work/render/pgbouncer/"* "$work/render-patroni/patroni/Dockerfile"
) | sha256sum | cut -c1-16)

have_images() {
  local t
  for t in "${ALL_TAGS[@]}"; do
    [[ $(docker image inspect --format '{{index .Config.Labels "statectl.test.inputs"}}' "$t" 2>/dev/null) == "$images_key" ]] || return 1
  done
}

if have_images; then
  log "cached: ${ALL_TAGS[*]} (inputs $images_key)"
  exit 0
fi
if [[ -f $CACHE/images-$images_key.tar ]]; then
  log "loading $CACHE/images-$images_key.tar"
  docker load -q -i "$CACHE/images-$images_key.tar" >/dev/null
  have_images && exit 0
fi


rootfs
base="statectl-test/rootfs:$rootfs_key"
docker image inspect "$base" >/dev/null 2>&1 || docker import "$CACHE/rootfs-$rootfs_key.tar" "$base" >/dev/null
docker image inspect "$SLIM_TAG" >/dev/null 2>&1 || docker import -c 'CMD ["bash"]' "$CACHE/slim-$slim_key.tar" "$SLIM_TAG" >/dev/null

build() {
  local tag=$1 dir=$2
  shift 2
  log "building $tag"
  # The legacy builder's deprecation notice is noise here (buildx is not packaged).
  docker build -q --label "statectl.test.inputs=$images_key" -t "$tag" "$@" "$dir" 2> >(grep -v -e DEPRECATED -e 'legacy builder' -e buildx -e '^ *$' >&2 || true) >/dev/null
}
build "$PG_TAG" "$HERE/images/postgres" --build-arg "BASE=$base"
build "$REDIS_TAG" "$HERE/images/redis" --build-arg "BASE=$base"
# The Dockerfile statectl renders, as `compose build` would run it (apt needs the host's network).
build "$PGB_TAG" "$work/render/pgbouncer" --network host
build "$ETCD_TAG" "$HERE/images/etcd" --build-arg "BASE=$SLIM_TAG" --network host
build "$HAPROXY_TAG" "$HERE/images/haproxy" --build-arg "BASE=$SLIM_TAG" --network host
# FROM the postgres stand-in under its tag, as compose builds it from the render.
build "$PATRONI_TAG" "$work/render-patroni/patroni" --network host
have_images || { log "the built images do not carry the inputs label"; exit 1; }

rm -f "$CACHE"/images-*.tar
docker save -o "$CACHE/images-$images_key.tar.part" "${ALL_TAGS[@]}"
mv "$CACHE/images-$images_key.tar.part" "$CACHE/images-$images_key.tar"
log "built and saved ${ALL_TAGS[*]} (inputs $images_key)"

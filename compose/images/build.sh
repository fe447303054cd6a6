#!/usr/bin/env bash
# Builds the compose lab's images from local sources, with no container registry:
#
#   chaos-harness/toxiproxy:2.12.0   static Go binaries (go install, CGO off) FROM scratch
#   chaos-harness/versitygw:v1.7.0   a static Go binary on busybox-static
#   chaos-harness/debian:bookworm    debootstrap (minbase + redis-server, python3,
#                                    python3-redis) turned into an image by docker import
#   chaos-harness/redis:7            Redis from Debian's packages on that base
#   chaos-harness/httpapp:local      the reference HTTP app on that base
#
# An image already present is kept (FORCE=1 rebuilds them all); a second run with all
# of them present takes well under a second. Needs root (debootstrap), Go, and a
# running docker engine. Prints the HARNESS_*_IMAGE settings that select these images.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=scripts/versions.sh
. "$root/scripts/versions.sh"
DEBIAN_SUITE="bookworm"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-}"
CACHE="${HARNESS_IMAGE_CACHE:-$root/.bin/images}"

say() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }
# have TAG FILES...: the image exists and was built from these very files (a label
# holds their hash), so an edited Dockerfile or app is rebuilt.
have() {
    local tag="$1"; shift
    [ -z "${FORCE:-}" ] || return 1
    [ "$(docker image inspect -f '{{ index .Config.Labels "io.chaos-harness.source" }}' "$tag" 2>/dev/null)" = "$(source_hash "$@")" ]
}
source_hash() { cat "$@" | sha256sum | cut -c1-16; }

docker info >/dev/null 2>&1 || die "no docker engine answers (docker info): start dockerd, or run scripts/docker.sh"

# The mirror apt already uses, so debootstrap reaches what the machine reaches.
mirror() {
    if [ -n "$DEBIAN_MIRROR" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local found
    found="$(grep -hs -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | head -1 | awk '{print ($1 == "deb") ? $2 : $2}')"
    echo "${found:-http://deb.debian.org/debian}"
}

# static_go DIR MODULE@VERSION...: CGO-free builds into DIR, so they run FROM scratch.
static_go() {
    local dir="$1"; shift
    command -v go >/dev/null 2>&1 || die "Go is needed to build the lab's images"
    mkdir -p "$dir"
    CGO_ENABLED=0 GOBIN="$dir" go install -trimpath -ldflags="-s -w" "$@"
}

build() {  # build TAG CONTEXT SOURCE_FILES [-- docker build args...]
    local tag="$1" context="$2"; shift 2
    local files=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    say "building $tag"
    DOCKER_BUILDKIT=0 docker build -q -t "$tag" \
        --label "io.chaos-harness.source=$(source_hash "${files[@]}")" "$@" "$context" \
        >"$ctx/build.log" 2>&1 || { cat "$ctx/build.log" >&2; die "building $tag failed"; }
}

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT

# binary NAME MODULE VERSION: the static build scripts/setup.sh made in .bin/ (it stamps
# it "-static"), else one built here into the cache.
binary() {
    local name="$1" module="$2" version="$3"
    if [ -x "$root/.bin/$name" ] && [ -e "$root/.bin/.$name-$version-static" ]; then
        echo "$root/.bin/$name"
    else
        static_go "$CACHE/$name-$version" "$module@$version" >&2
        echo "$CACHE/$name-$version/$(basename "$module")"
    fi
}

tag="chaos-harness/toxiproxy:${TOXIPROXY_VERSION#v}"
if ! have "$tag" "$here/toxiproxy/Dockerfile"; then
    mkdir -p "$ctx/toxiproxy"
    cp "$(binary server "$TOXIPROXY_MODULE" "$TOXIPROXY_VERSION")" "$ctx/toxiproxy/server"
    cp "$(binary cli github.com/Shopify/toxiproxy/v2/cmd/cli "$TOXIPROXY_VERSION")" "$ctx/toxiproxy/cli"
    cp "$here/toxiproxy/Dockerfile" "$ctx/toxiproxy/"
    build "$tag" "$ctx/toxiproxy" "$here/toxiproxy/Dockerfile"
fi

tag="chaos-harness/versitygw:$VERSITYGW_VERSION"
if ! have "$tag" "$here/versitygw/Dockerfile"; then
    if ! dpkg -s busybox-static >/dev/null 2>&1; then
        say "installing busybox-static (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null \
            || die "a static busybox is needed: apt-get install busybox-static"
    fi
    busybox=/bin/busybox
    mkdir -p "$ctx/versitygw"
    cp "$(binary versitygw "$VERSITYGW_MODULE" "$VERSITYGW_VERSION")" "$ctx/versitygw/versitygw"
    cp "$here/versitygw/Dockerfile" "$ctx/versitygw/"
    cp "$busybox" "$ctx/versitygw/busybox"
    build "$tag" "$ctx/versitygw" "$here/versitygw/Dockerfile"
fi

base="chaos-harness/debian:$DEBIAN_SUITE"
if [ -n "${FORCE:-}" ] || ! docker image inspect "$base" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || {
        say "installing debootstrap (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
            || die "debootstrap is needed: apt-get install debootstrap"
    }
    rootfs="$ctx/rootfs"
    say "debootstrap $DEBIAN_SUITE from $(mirror) (a minute or so)"
    debootstrap --variant=minbase --include=redis-server,python3,python3-redis \
        "$DEBIAN_SUITE" "$rootfs" "$(mirror)" >"$ctx/debootstrap.log" 2>&1 \
        || { tail -20 "$ctx/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    say "importing $base"
    tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
fi

tag="chaos-harness/redis:7"
have "$tag" "$here/redis/Dockerfile" \
    || build "$tag" "$here/redis" "$here/redis/Dockerfile" -- --build-arg "BASE=$base"

tag="chaos-harness/httpapp:local"
app_files=("$here/httpapp/Dockerfile" "$root/harness/lab/httpapp.py")
if ! have "$tag" "${app_files[@]}"; then
    mkdir -p "$ctx/httpapp"
    cp "${app_files[@]}" "$ctx/httpapp/"
    build "$tag" "$ctx/httpapp" "${app_files[@]}" -- --build-arg "BASE=$base"
fi

cat <<VARS
HARNESS_TOXIPROXY_IMAGE=chaos-harness/toxiproxy:${TOXIPROXY_VERSION#v}
HARNESS_REDIS_IMAGE=chaos-harness/redis:7
HARNESS_VERSITYGW_IMAGE=chaos-harness/versitygw:$VERSITYGW_VERSION
HARNESS_HTTPAPP_IMAGE=chaos-harness/httpapp:local
VARS

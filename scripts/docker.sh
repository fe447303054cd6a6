#!/usr/bin/env bash
# What the compose lab needs, idempotently: a docker engine that answers (Debian's
# docker.io installed and dockerd started when none does), compose v2 as a docker CLI
# plugin (built with `go install` when `docker compose` is missing), and the lab's
# images built from local sources (compose/images/build.sh). Users with Docker >= 20.10
# and compose v2 of their own need none of it: the compose file defaults to the public
# images.
#
# Prints the HARNESS_*_IMAGE settings of the local images on stdout.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
COMPOSE_VERSION="v2.35.0"
COMPOSE_MODULE="github.com/docker/compose/v2/cmd"
PLUGINS="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
DOCKERD_LOG="${HARNESS_DOCKERD_LOG:-/var/log/chaos-harness-dockerd.log}"

say() { printf 'docker: %s\n' "$*" >&2; }
die() { printf 'docker: error: %s\n' "$*" >&2; exit 1; }

engine_up() { docker info >/dev/null 2>&1; }

if ! engine_up; then
    if ! command -v dockerd >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || die "no docker engine: install Docker >= 20.10 with compose v2"
        [ "$(id -u)" = 0 ] || die "no docker engine, and installing one needs root (apt-get install docker.io)"
        say "installing docker.io (apt-get)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
        fi
    fi
    command -v docker >/dev/null 2>&1 || die "the docker client is missing (apt-get install docker.io)"
    [ "$(id -u)" = 0 ] || die "the docker engine is not running and starting it needs root"
    say "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: the engine outlives this script and the make that ran it. At the normal
    # CPU priority even when this script runs at a low one (scripts/test.sh): the
    # containers of the compose tests inherit the engine's.
    setsid nice -n "$((-$(nice)))" dockerd >"$DOCKERD_LOG" 2>&1 < /dev/null &
    for _ in $(seq 1 60); do engine_up && break; sleep 0.5; done
    engine_up || { tail -20 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 30 s"; }
fi

if ! docker compose version >/dev/null 2>&1; then
    command -v go >/dev/null 2>&1 || die "compose v2 is missing and Go is needed to build it: install the docker compose plugin"
    say "building compose $COMPOSE_VERSION (go install; a few minutes the first time)"
    gobin="$root/.bin/compose-$COMPOSE_VERSION"
    mkdir -p "$gobin" "$PLUGINS"
    GOBIN="$gobin" go install -trimpath -ldflags="-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
        "$COMPOSE_MODULE@$COMPOSE_VERSION"
    install -m 0755 "$gobin/cmd" "$PLUGINS/docker-compose"
    docker compose version >/dev/null 2>&1 || die "docker compose still does not answer after installing $PLUGINS/docker-compose"
fi

bash "$root/compose/images/build.sh"

#!/usr/bin/env bash
# Installs everything `make demo` and `make test` need, idempotently.
# A second run with everything present only checks stamps and exits in well under a second.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

TOXIPROXY_VERSION="v2.12.0"
TOXIPROXY_MODULE="github.com/Shopify/toxiproxy/v2/cmd/server"
VENV="$root/.venv"
BIN="$root/.bin"
PYTHON="${PYTHON:-python3}"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    # A fresh machine has empty package lists: update once, then install.
    if [ ! -e /var/lib/apt/lists/lock ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)" ]; then
        as_root apt-get update -qq || return 1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || {
        as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    }
}

# 1. Python virtualenv with the package (editable) and its test tools.
command -v "$PYTHON" >/dev/null 2>&1 || die "python3 >= 3.11 is needed: install it (Debian: apt-get install python3 python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "python3 >= 3.11 is needed, found $("$PYTHON" --version 2>&1)"
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating virtualenv in .venv"
        "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv: install python3-venv (Debian: apt-get install python3-venv)"
    fi
    say "installing chaos-harness and its dependencies into .venv"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".[test]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi

# 2. The Toxiproxy server, pinned, built from source into .bin/ (the binary is named `server`),
#    unless HARNESS_TOXIPROXY_BIN names one already.
if [ -n "${HARNESS_TOXIPROXY_BIN:-}" ] && [ "$HARNESS_TOXIPROXY_BIN" != "$BIN/server" ]; then
    [ -x "$HARNESS_TOXIPROXY_BIN" ] || die "HARNESS_TOXIPROXY_BIN=$HARNESS_TOXIPROXY_BIN is not an executable file"
elif [ ! -x "$BIN/server" ] || [ ! -e "$BIN/.toxiproxy-$TOXIPROXY_VERSION" ]; then
    command -v go >/dev/null 2>&1 || die "Go >= 1.23 is needed to build the Toxiproxy server $TOXIPROXY_VERSION: install it from https://go.dev/doc/install, or set HARNESS_TOXIPROXY_BIN to an existing toxiproxy-server binary"
    say "building Toxiproxy server $TOXIPROXY_VERSION into .bin/ (go install)"
    mkdir -p "$BIN"
    GOBIN="$BIN" go install "$TOXIPROXY_MODULE@$TOXIPROXY_VERSION"
    rm -f "$BIN"/.toxiproxy-*
    touch "$BIN/.toxiproxy-$TOXIPROXY_VERSION"
fi

# 3. redis-server from the system's packages when it is missing (or HARNESS_REDIS_SERVER_BIN).
if [ -n "${HARNESS_REDIS_SERVER_BIN:-}" ]; then
    [ -x "$HARNESS_REDIS_SERVER_BIN" ] || die "HARNESS_REDIS_SERVER_BIN=$HARNESS_REDIS_SERVER_BIN is not an executable file"
elif ! command -v redis-server >/dev/null 2>&1; then
    say "installing redis-server (apt-get)"
    apt_install redis-server || die "redis-server is needed: install Redis 7 (Debian: apt-get install redis-server; macOS: brew install redis)"
    # The Debian package starts a system Redis on port 6379; the lab never uses it, so stop it.
    if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
fi

# 4. Disk faults: libfiu's fiu-run / fiu-ctrl (disk.io_error) and mkfs.ext4 (lab filesystems),
#    from the system's packages when missing.
if ! command -v fiu-run >/dev/null 2>&1 || ! command -v fiu-ctrl >/dev/null 2>&1; then
    say "installing fiu-utils (apt-get)"
    apt_install fiu-utils || die "libfiu's fiu-run and fiu-ctrl are needed for disk.io_error: install them (Debian: apt-get install fiu-utils)"
fi
if ! PATH="$PATH:/usr/sbin:/sbin" command -v mkfs.ext4 >/dev/null 2>&1; then
    say "installing e2fsprogs (apt-get)"
    apt_install e2fsprogs || die "mkfs.ext4 is needed for ext4 lab filesystems: install it (Debian: apt-get install e2fsprogs)"
fi

#!/usr/bin/env bash
# Installs everything `make demo` and `make test` need, idempotently.
# A second run with everything present only checks stamps and exits in well under a second.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/versions.sh
. "$root/scripts/versions.sh"
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

# go_tool WHAT BINARY MODULE VERSION OVERRIDE_VAR: build a pinned Go program into .bin/
# with `go install` (a stamp file records the version), unless the variable named
# OVERRIDE_VAR points at a binary of the user's own. Built without cgo: a static binary
# also runs in the compose lab's images, FROM scratch.
go_tool() {
    local what="$1" binary="$2" module="$3" version="$4" override_var="$5"
    local override="${!override_var:-}"
    if [ -n "$override" ] && [ "$override" != "$BIN/$binary" ]; then
        [ -x "$override" ] || die "$override_var=$override is not an executable file"
    elif [ ! -x "$BIN/$binary" ] || [ ! -e "$BIN/.$binary-$version-static" ]; then
        command -v go >/dev/null 2>&1 || die "Go >= 1.23 is needed to build $what $version: install it from https://go.dev/doc/install, or set $override_var to an existing binary"
        say "building $what $version into .bin/ (go install)"
        mkdir -p "$BIN"
        # Once more on failure: a module download cut short fails the first attempt.
        CGO_ENABLED=0 GOBIN="$BIN" go install -trimpath "$module@$version" \
            || CGO_ENABLED=0 GOBIN="$BIN" go install -trimpath "$module@$version" \
            || die "building $what $version failed (go install $module@$version)"
        rm -f "$BIN/.$binary"-*
        touch "$BIN/.$binary-$version-static"
    fi
}

# 2. The Toxiproxy server (its binary is named `server`) and the lab's S3 server, versitygw.
go_tool "the Toxiproxy server" server "$TOXIPROXY_MODULE" "$TOXIPROXY_VERSION" HARNESS_TOXIPROXY_BIN
go_tool "versitygw (the lab's S3 server)" versitygw "$VERSITYGW_MODULE" "$VERSITYGW_VERSION" HARNESS_VERSITYGW_BIN

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

# 5. Headless Chromium for the test that opens report.html in a browser, from the system's
#    packages when missing. Runs do not need it, so a machine without it only warns.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    say "installing chromium (apt-get)"
    apt_install chromium \
        || say "warning: chromium is not installed: the report's browser test needs it (Debian: apt-get install chromium)"
fi

#!/bin/sh
# deps.sh - install what mighost needs to build and test, if it is missing.
# Debian packages via apt-get when run as root (otherwise print the exact
# command and stop); npm packages for the tests from their lock files.
# With --dry-run (what `make -n` passes) it only says what it would install.
set -eu
cd "$(dirname "$0")/.."
dry_run=
[ "${1:-}" = --dry-run ] && dry_run=1

packages="gcc make pkg-config liblua5.4-dev libcurl4-openssl-dev libjson-c-dev libssl-dev
libexpat1-dev zlib1g-dev libcmocka-dev nodejs npm valgrind ca-certificates python3-yaml"

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
    for p in $packages; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$status" in
            *"install ok installed"*) ;;
            *)
                # npm ships inside some nodejs builds; a working one is enough.
                if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
                missing="$missing $p" ;;
        esac
    done
fi

if [ -n "$missing" ]; then
    if [ -n "$dry_run" ]; then
        echo "deps: would install Debian packages:$missing"
    elif [ "$(id -u)" = 0 ]; then
        echo "deps: installing Debian packages:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq $missing >/dev/null
    else
        echo "deps: missing Debian packages:$missing" >&2
        echo "deps: run this (as root, or with sudo), then the same make command again:" >&2
        echo "    sudo apt-get install -y$missing" >&2
        exit 1
    fi
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    for lib in lua5.4 libcurl json-c openssl expat zlib cmocka; do
        pkg-config --exists "$lib" || { echo "deps: the development files of $lib are missing"; exit 1; }
    done
fi

# Test servers, each pinned by its lock file: dynalite (DynamoDB), s3rver
# (S3) and cognito-local (Cognito user pools).
for server in dynalite s3rver cognito-local; do
    dir=tests/$server
    if [ ! -f "$dir/node_modules/$server/package.json" ] ||
       [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        if [ -n "$dry_run" ]; then
            echo "deps: would install $server from $dir/package-lock.json"
        else
            echo "deps: installing $server from $dir/package-lock.json"
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        fi
    fi
done

#!/usr/bin/env bash
# Parses Mermaid files with mermaid's own parser: check.sh FILE…
# Installs Node (Debian's) if missing and the pinned parser into a cache
# directory keyed by package-lock.json and check.mjs, so a change installs afresh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
key="$(cat "$here/package-lock.json" "$here/check.mjs" | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/buildspec-tests/mermaid-check-$key"
if [ ! -e "$cache/.done" ]; then
    rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
    cp "$here/package.json" "$here/package-lock.json" "$here/check.mjs" "$cache.tmp/"
    (cd "$cache.tmp" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$cache.tmp/.done"
    rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
exec node "$cache/check.mjs" "$@"

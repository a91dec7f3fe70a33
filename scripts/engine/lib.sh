# shellcheck shell=bash
# Shared helpers for scripts/engine/*.sh (sourced, not run).
#
# Everything the engine scripts keep on the machine lives under one cache folder,
# BUILDSPEC_ENGINE_CACHE (default /var/cache/buildspec-engine):
#   apt/      private apt configuration for Debian 13 (trixie): sources, lists, downloads
#   root/     the unpacked trixie docker.io, docker-cli, containerd, docker-buildx, tini
#   root.stamp  what root/ was made from (package versions + recipe hash)
#   images/   base image tarballs (docker save) and rootfs tarballs, keyed by recipe hash
#   work/     scratch space while building images

ENGINE_CACHE="${BUILDSPEC_ENGINE_CACHE:-/var/cache/buildspec-engine}"
# shellcheck disable=SC2034 # used by the scripts that source this file
ENGINE_ROOT="$ENGINE_CACHE/root"

log() { printf '[engine] %s\n' "$*" >&2; }
die() { printf '[engine] error: %s\n' "$*" >&2; exit 1; }

# The Debian mirror the machine's own apt uses (first bookworm source), so that nothing
# else has to be reachable. BUILDSPEC_DEBIAN_MIRROR overrides it.
debian_mirror() {
    if [[ -n "${BUILDSPEC_DEBIAN_MIRROR:-}" ]]; then
        printf '%s\n' "${BUILDSPEC_DEBIAN_MIRROR%/}"
        return
    fi
    local uri=""
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        # deb822: first stanza whose Suites has a plain "bookworm" (not -security etc.).
        uri="$(awk '
            BEGIN { RS = ""; FS = "\n" }
            {
                u = ""; s = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); u = a[2] }
                    if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) s = 1
                }
                if (s && u != "") { print u; exit }
            }' "$f")"
        [[ -n "$uri" ]] && break
    done
    if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
        uri="$(awk '$1 == "deb" {
                   i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                   if ($(i + 1) == "bookworm") { print $i; exit } }' /etc/apt/sources.list)"
    fi
    uri="${uri:-http://deb.debian.org/debian}"
    printf '%s\n' "${uri%/}"
}

# Installs the named Debian 12 packages on the machine when any is missing.
ensure_host_packages() {
    local missing=() p
    for p in "$@"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
            missing+=("$p")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]} (apt-get update first)"
    export DEBIAN_FRONTEND=noninteractive
    local out
    out="$(mktemp)"
    if ! { apt-get -o DPkg::Lock::Timeout=300 -q update &&
           apt-get -o DPkg::Lock::Timeout=300 -q install -y --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
        tail -n 30 "$out" >&2
        rm -f "$out"
        die "could not install ${missing[*]}"
    fi
    rm -f "$out"
}

# Short, stable folder for dockerd's --exec-root (unix socket paths are limited to 108
# bytes, and containerd puts its sockets and task bundles below it).
engine_exec_root() {
    local state="$1" base="/run"
    [[ -d "$base" && -w "$base" ]] || base="/tmp"
    printf '%s/bse-%s\n' "$base" "$(printf '%s' "$state" | sha256sum | cut -c1-12)"
}

# Unmounts every mount point at or below each given folder, deepest first.
unmount_below() {
    local dir mp
    for dir in "$@"; do
        [[ -n "$dir" ]] || continue
        dir="${dir%/}"
        # /proc/self/mountinfo field 5 is the mount point (spaces escaped as \040).
        while read -r mp; do
            umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "could not unmount $mp"
        done < <(awk -v d="$dir" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' \
                    /proc/self/mountinfo | sort -r)
    done
}

# clone_data_root SRC DST: a new dockerd --data-root DST holding what SRC (a stopped
# engine's data root) holds, in a second or two. Image layer contents (overlay2/*/diff)
# are hard links to SRC's files: overlayfs only ever reads them (a container's changes go
# to its own upper dir), and removing an image only unlinks. Everything else (bolt
# databases, which are written in place) is copied.
clone_data_root() {
    local src="$1" dst="$2" d e
    mkdir -p "$dst/overlay2"
    tar -C "$src" --exclude=./overlay2 --exclude=./engine-id --xattrs --xattrs-include='*' -cf - . |
        tar -C "$dst" --xattrs --xattrs-include='*' -xpf -
    for d in "$src/overlay2/"*; do
        if [[ -d "$d/diff" ]]; then
            mkdir -p "$dst/overlay2/${d##*/}"
            for e in "$d/"*; do
                if [[ "${e##*/}" == diff ]]; then
                    cp -al "$e" "$dst/overlay2/${d##*/}/diff"
                else
                    cp -a "$e" "$dst/overlay2/${d##*/}/"
                fi
            done
        else
            cp -a "$d" "$dst/overlay2/"
        fi
    done
}

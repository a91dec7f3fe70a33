#!/usr/bin/env bash
# Installs a private docker engine with BuildKit 0.13 for buildspec's tests and CI.
#
# Debian 12's docker.io (20.10) has no heredocs or COPY --link, so this takes Debian 13
# (trixie) docker.io 26 (dockerd), docker-cli (the client), containerd 1.7, docker-buildx
# 0.13 and tini (docker-init) from the machine's own Debian mirror through a private apt
# configuration (the machine's apt setup is left alone), unpacks them with `dpkg -x` into
# a cache folder and uses Debian 12's runc (trixie's needs glibc 2.38). It also makes sure
# Debian 12's runc, debootstrap and busybox-static are installed (base-images.sh uses them).
#
# Usage: scripts/engine/install.sh [--refresh]
#   Prints the path of the unpacked root on stdout (bin dirs: ROOT/usr/bin, ROOT/usr/sbin).
#   Idempotent: ROOT.stamp records the package versions and this script's hash; when they
#   match nothing is downloaded. The private package lists are refreshed when older than
#   BUILDSPEC_ENGINE_APT_TTL seconds (default 86400) or with --refresh; with a fresh
#   list, a second run uses no network at all.
# Environment: BUILDSPEC_ENGINE_CACHE (default /var/cache/buildspec-engine),
#   BUILDSPEC_DEBIAN_MIRROR (default: the machine's bookworm mirror).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

REFRESH=0
case "${1:-}" in
    --refresh) REFRESH=1 ;;
    "") ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (usage: install.sh [--refresh])" ;;
esac

[[ $EUID -eq 0 ]] || die "must run as root"

PACKAGES=(docker.io docker-cli containerd docker-buildx tini)
APT_DIR="$ENGINE_CACHE/apt"
STAMP="$ENGINE_CACHE/root.stamp"
TTL="${BUILDSPEC_ENGINE_APT_TTL:-86400}"

mkdir -p "$ENGINE_CACHE" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
exec 9>"$ENGINE_CACHE/.install.lock"
flock 9

# Debian 12 packages the engine (runc), base-images.sh (debootstrap, busybox-static) and the
# oci backend tests (runc, skopeo, umoci, docker-registry with htpasswd, buildah for the benchmark) use.
ensure_host_packages runc debootstrap busybox-static ca-certificates skopeo umoci docker-registry apache2-utils buildah

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SOURCES="deb [signed-by=$KEYRING] $(debian_mirror) trixie main"
if [[ "$(cat "$APT_DIR/sources.list" 2>/dev/null || true)" != "$SOURCES" ]]; then
    printf '%s\n' "$SOURCES" >"$APT_DIR/sources.list"
    rm -f "$APT_DIR/lists.updated"
fi

APT_OPTS=(
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::Cache=$APT_DIR/cache"
    -o Dir::Etc::Preferences=/dev/null
    -o Dir::Etc::PreferencesParts=/dev/null
    -o APT::Sandbox::User=root
    -o Acquire::Languages=none
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
)

root_ok() { [[ -x "$ENGINE_ROOT/usr/sbin/dockerd" && -x "$ENGINE_ROOT/usr/bin/docker" && -f "$STAMP" ]]; }

UPDATED="$APT_DIR/lists.updated"
if ((REFRESH)) || [[ ! -f "$UPDATED" ]] || ! compgen -G "$APT_DIR/lists/*trixie_InRelease" >/dev/null ||
    (($(date +%s) - $(stat -c %Y "$UPDATED") > TTL)); then
    log "updating private trixie package lists"
    if ! apt-get "${APT_OPTS[@]}" -qq update >&2; then
        root_ok || die "apt-get update for trixie failed (is the trixie key in $KEYRING?)"
        log "warning: trixie list update failed; keeping the existing engine root"
        printf '%s\n' "$ENGINE_ROOT"
        exit 0
    fi
    touch "$UPDATED"
fi

# The key: the exact .deb files (name with version, and checksum) plus this script.
recipe="recipe $(sha256sum <"$HERE/install.sh" | cut -c1-16)"
# Lists unchanged since the root was made: the versions cannot differ either.
if root_ok && [[ "$STAMP" -nt "$UPDATED" && "$(head -n1 "$STAMP")" == "$recipe" ]]; then
    log "engine root is up to date"
    printf '%s\n' "$ENGINE_ROOT"
    exit 0
fi
want="$recipe
$(apt-get "${APT_OPTS[@]}" --print-uris download "${PACKAGES[@]}" | awk '{ print $2, $4 }' | sort)"

if root_ok && [[ "$(cat "$STAMP")" == "$want" ]]; then
    touch "$STAMP"
    log "engine root is up to date"
    printf '%s\n' "$ENGINE_ROOT"
    exit 0
fi

log "downloading ${PACKAGES[*]} (trixie)"
rm -f "$APT_DIR/debs/"*.deb
(cd "$APT_DIR/debs" && apt-get "${APT_OPTS[@]}" -qq download "${PACKAGES[@]}" >&2)

new="$ENGINE_CACHE/root.new"
rm -rf "$new"
mkdir -p "$new"
for deb in "$APT_DIR/debs/"*.deb; do
    dpkg -x "$deb" "$new"
done
# trixie's runc needs glibc 2.38; Debian 12's /usr/sbin/runc is used instead (never
# downloaded, but a later packaging change must not slip one onto PATH).
rm -f "$new/usr/sbin/runc" "$new/usr/bin/runc"
"$new/usr/sbin/dockerd" --version >&2
"$new/usr/bin/docker" --version >&2
runc --version | head -n1 >&2

rm -rf "$ENGINE_CACHE/root.old"
[[ -d "$ENGINE_ROOT" ]] && mv "$ENGINE_ROOT" "$ENGINE_CACHE/root.old"
mv "$new" "$ENGINE_ROOT"
rm -rf "$ENGINE_CACHE/root.old" "$APT_DIR/debs/"*.deb "$APT_DIR/cache/archives/"*.deb
printf '%s\n' "$want" >"$STAMP"
log "engine root ready"
printf '%s\n' "$ENGINE_ROOT"

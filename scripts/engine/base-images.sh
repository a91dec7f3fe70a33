#!/usr/bin/env bash
# Makes local stand-ins for the public base images buildspec's tests use, and loads them
# into the docker engine at DOCKER_HOST (no container registry is reachable here).
#
# Usage: scripts/engine/base-images.sh [--list] [--seed] [IMAGE...]
#   IMAGE is a name from --list (e.g. python:3.12-slim, or python); default: all of them.
#   Needs DOCKER_HOST (and DOCKER_CONFIG/PATH) from start.sh; uses `docker` from PATH,
#   else the private client from install.sh.
#   --seed: needs no engine; prints the path of a stopped engine's data root holding just
#   these images (made once with a temporary engine, cached in $BUILDSPEC_ENGINE_CACHE/seeds),
#   which `start.sh --images` clones with hard links: a new engine has them at once.
#
# Each image is built once and kept as a `docker save` tarball in
# $BUILDSPEC_ENGINE_CACHE/images/ (default /var/cache/buildspec-engine/images), named
# after a key: the hash of its recipe (the functions below, comments aside), of the host
# Debian package versions it installs, of the machine's extra CA certificates and apt
# sources, and of its parent's key. An edited recipe or a new package version builds anew;
# otherwise the tarball is `docker load`ed, or nothing is done when the engine already has
# that exact image (same image id).
#
# How they are made: Debian bookworm minbase by debootstrap (cached as a rootfs tarball),
# then derived root filesystems with `chroot … apt-get install` (proc mounted, resolv.conf
# copied, .debs shared between builds), imported with `docker import --change` for
# ENV/WORKDIR/CMD. Debian-based images trust the machine's extra CAs
# (/usr/local/share/ca-certificates), since TLS to the package registries is intercepted.
# Versions are Debian 12's (python 3.11, node 18, php 8.2, rust-web 1.9x; go 1.22 from its
# backports, keyed by the recipe: the host has no backports candidate to key on): the names
# are the real ones so Dockerfiles need no change, the contents are stand-ins.
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

# id → image name, in build order.
ORDER=(busybox debian_slim python golang node php composer httpd rust distroless_cc)
declare -A NAME=(
    [busybox]=busybox:latest
    [debian_slim]=debian:bookworm-slim
    [python]=python:3.12-slim
    [golang]=golang:1.22-bookworm
    [node]=node:20-bookworm-slim
    [php]=php:8.3-cli
    [composer]=composer:2
    [httpd]=httpd:2.4-alpine
    [rust]=rust:1.82-bookworm
    [distroless_cc]=gcr.io/distroless/cc-debian12:latest
)
# Root filesystem an image starts from (a cached rootfs tarball; "" = empty).
declare -A PARENT=(
    [minbase]="" [busybox]="" [debian_slim]=minbase
    [python]=debian_slim [golang]=debian_slim [node]=debian_slim [php]=debian_slim
    [rust]=debian_slim [distroless_cc]=debian_slim [composer]=busybox [httpd]=busybox
)
# Debian packages installed on top of the parent (their host candidate versions are keyed).
declare -A PKGS=(
    [minbase]="base-files libc6 dpkg apt" [busybox]="" [debian_slim]="ca-certificates"
    [python]="python3 python3-pip python3-venv python-is-python3"
    [golang]="golang-1.22-go git gcc libc6-dev make pkg-config"
    [node]="nodejs npm"
    [php]="php-cli"
    [rust]="rustc-web cargo-web gcc libc6-dev pkg-config"
    [distroless_cc]="" [composer]="" [httpd]=""
)
# Root filesystems other images start from: kept as tarballs too.
ROOTFS_IDS=" minbase busybox debian_slim "

STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
IMAGES_DIR="$ENGINE_CACHE/images"
APT_SHARE="$ENGINE_CACHE/apt-bookworm"   # .debs and lists shared by the chroot builds
WORK="$ENGINE_CACHE/work/$$"

# ---------------------------------------------------------------------------------------
# Helpers (h_*: their text is part of every image's key).

h_run_logged() { # h_run_logged LOG CMD...: runs CMD with output to LOG; its tail on failure.
    local logf="$1"
    shift
    if ! "$@" >"$logf" 2>&1; then
        tail -n 40 "$logf" >&2
        die "failed: $* (log: $logf)"
    fi
}

h_chroot_begin() { # Prepares R for apt-get inside it.
    local R="$1"
    mkdir -p "$APT_SHARE/archives/partial" "$APT_SHARE/lists/partial" "$R/proc" \
        "$R/var/cache/apt/archives" "$R/var/lib/apt/lists" "$R/dev"
    mount -t proc proc "$R/proc"
    # A few device nodes (not a bind of the host's /dev: nothing to delete by mistake).
    rm -rf "${R:?}"/dev/*
    mknod -m 666 "$R/dev/null" c 1 3
    mknod -m 666 "$R/dev/zero" c 1 5
    mknod -m 666 "$R/dev/full" c 1 7
    mknod -m 666 "$R/dev/random" c 1 8
    mknod -m 666 "$R/dev/urandom" c 1 9
    mknod -m 666 "$R/dev/tty" c 5 0
    mount --bind "$APT_SHARE/archives" "$R/var/cache/apt/archives"
    mount --bind "$APT_SHARE/lists" "$R/var/lib/apt/lists"
    rm -f "$R/etc/resolv.conf"
    cp -L /etc/resolv.conf "$R/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
    chmod 755 "$R/usr/sbin/policy-rc.d"
}

h_chroot() { # h_chroot R CMD...: runs CMD in R with a clean environment.
    local R="$1"
    shift
    chroot "$R" /usr/bin/env -i PATH="$STD_PATH" HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

h_apt_install() { # h_apt_install R PKG...
    local R="$1"
    shift
    h_run_logged "$WORK/apt.log" h_chroot "$R" apt-get -q update
    h_run_logged "$WORK/apt.log" h_chroot "$R" apt-get -q install -y --no-install-recommends \
        -o Dpkg::Options::=--force-unsafe-io -o Dpkg::Options::=--force-confdef "$@"
}

h_chroot_end() { # Undoes h_chroot_begin and drops what a docker image should not carry.
    local R="$1"
    unmount_below "$R"
    h_mounts_below "$R" && die "still mounted below $R"
    rm -f "$R/usr/sbin/policy-rc.d"
    : >"$R/etc/resolv.conf"
    rm -rf "${R:?}"/var/lib/apt/lists/* "${R:?}"/var/cache/apt/*.bin "${R:?}"/var/cache/apt/archives/*.deb \
        "${R:?}"/var/log/apt/* "${R:?}"/var/cache/debconf/*-old "${R:?}"/var/lib/dpkg/*-old \
        "${R:?}"/tmp/* "${R:?}"/root/.cache "${R:?}"/dev/*
    : >"$R/var/log/dpkg.log"
}

h_mounts_below() { # True when something is mounted at or below $1.
    awk -v d="${1%/}" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) f = 1 }
        END { exit !f }' /proc/self/mountinfo
}

h_add_cas() { # The machine's extra CAs, trusted by the image (TLS is intercepted here).
    local R="$1" crt
    mkdir -p "$R/usr/local/share/ca-certificates"
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [[ -f "$crt" ]] && cp "$crt" "$R/usr/local/share/ca-certificates/"
    done
    return 0
}

h_busybox_root() { # A root filesystem of busybox-static with applet links.
    local R="$1" p
    mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var,home,proc,sys,dev}
    cp /bin/busybox "$R/bin/busybox"
    while read -r p; do
        [[ "$p" == bin/busybox || "$p" != */* ]] || ln -sf /bin/busybox "$R/$p"
    done < <(/bin/busybox --list-full)
    chmod 1777 "$R/tmp"
    chmod 700 "$R/root"
    cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
    cat >"$R/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
www-data:x:33:
nogroup:x:65534:
EOF
}

# ---------------------------------------------------------------------------------------
# Recipes: recipe_ID fills the root filesystem R (already holding its parent);
# changes_ID prints the `docker import --change` lines.

recipe_minbase() {
    local R="$1"
    h_run_logged "$WORK/debootstrap.log" debootstrap --variant=minbase bookworm "$R" "$(debian_mirror)"
    unmount_below "$R"
    # Slim like the official images: no docs, man pages or translations.
    mkdir -p "$R/etc/dpkg/dpkg.cfg.d"
    cat >"$R/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
    find "$R/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "${R:?}"/usr/share/{groff,info,linda,man}/* "${R:?}"/usr/share/lintian/overrides/*
    find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -f "$R/etc/hostname" "$R/etc/apt/sources.list"
    : >"$R/etc/resolv.conf"
    : >"$R/etc/machine-id" 2>/dev/null || true
    rm -rf "${R:?}"/var/cache/apt/archives/*.deb "${R:?}"/var/lib/apt/lists/* "${R:?}"/var/log/* "${R:?}"/dev/*
}

recipe_debian_slim() {
    local R="$1"
    # The machine's bookworm sources (same mirror), as the official image has its own.
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        cp /etc/apt/sources.list.d/debian.sources "$R/etc/apt/sources.list.d/debian.sources"
    else
        printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' \
            "$(debian_mirror)" "$(debian_mirror)" >"$R/etc/apt/sources.list"
    fi
    # The mirror here is a dated snapshot: its Release files may be past Valid-Until.
    printf 'Acquire::Check-Valid-Until "false";\n' >"$R/etc/apt/apt.conf.d/99no-check-valid-until"
    h_add_cas "$R"
    h_chroot_begin "$R"
    h_apt_install "$R" ca-certificates
    h_run_logged "$WORK/apt.log" h_chroot "$R" apt-get -q -y upgrade
    h_run_logged "$WORK/ca.log" h_chroot "$R" update-ca-certificates
    h_chroot_end "$R"
}
changes_debian_slim() { printf '%s\n' "ENV PATH=$STD_PATH" 'CMD ["bash"]'; }

recipe_python() {
    local R="$1"
    h_chroot_begin "$R"
    h_apt_install "$R" python3 python3-pip python3-venv python-is-python3
    h_chroot_end "$R"
    # The real images have no such marker; Debian's pip refuses plain installs with it.
    rm -f "$R"/usr/lib/python3.*/EXTERNALLY-MANAGED
}
changes_python() { printf '%s\n' "ENV PATH=$STD_PATH" 'ENV LANG=C.UTF-8' 'CMD ["python3"]'; }

recipe_golang() {
    local R="$1" sources="$R/etc/apt/sources.list.d/bookworm-backports.sources"
    # Go 1.22, the release golang:1.22 names, from Debian 12's backports (its golang-go is
    # 1.19, which ships the standard library precompiled, so -trimpath or CGO_ENABLED=0
    # would recompile it). The backports source is dropped again, as the real image has none.
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
        "$(debian_mirror)" /usr/share/keyrings/debian-archive-keyring.gpg >"$sources"
    h_chroot_begin "$R"
    h_apt_install "$R" golang-1.22-go git gcc libc6-dev make pkg-config
    # Where the official image keeps its toolchain.
    ln -s /usr/lib/go-1.22 "$R/usr/local/go"
    h_chroot "$R" /usr/local/go/bin/go version | grep -q ' go1\.22\.' || die "golang: not Go 1.22"
    h_chroot_end "$R"
    rm -f "$sources"
    mkdir -p "$R/go/src" "$R/go/bin"
    chmod -R 1777 "$R/go"
}
changes_golang() {
    printf '%s\n' "ENV PATH=/go/bin:/usr/local/go/bin:$STD_PATH" 'ENV GOPATH=/go' \
        'ENV GOTOOLCHAIN=local' 'WORKDIR /go' 'CMD ["bash"]'
}

recipe_node() {
    local R="$1"
    h_chroot_begin "$R"
    h_apt_install "$R" nodejs npm
    h_run_logged "$WORK/user.log" h_chroot "$R" sh -c \
        'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
    h_chroot_end "$R"
}
changes_node() { printf '%s\n' "ENV PATH=$STD_PATH" 'CMD ["node"]'; }

recipe_php() {
    local R="$1"
    h_chroot_begin "$R"
    h_apt_install "$R" php-cli
    h_chroot_end "$R"
}
changes_php() { printf '%s\n' "ENV PATH=$STD_PATH" 'CMD ["php", "-a"]'; }

recipe_composer() {
    # busybox plus a small shell stand-in for /usr/bin/composer: the real one is a PHP
    # archive, and no PHP package registry is reachable here anyway. It answers
    # --version, and install/update/dump-autoload make vendor/autoload.php.
    local R="$1"
    mkdir -p "$R/usr/bin" "$R/app"
    cat >"$R/usr/bin/composer" <<'EOF'
#!/bin/sh
# Composer 2 stand-in made by buildspec's scripts/engine/base-images.sh.
cmd=""
for a in "$@"; do
    case "$a" in
        -V|--version) echo "Composer version 2.7.9 (buildspec stand-in)"; exit 0 ;;
        -*) ;;
        *) [ -n "$cmd" ] || cmd="$a" ;;
    esac
done
case "$cmd" in
    install|update|dump-autoload|dumpautoload|require)
        mkdir -p vendor
        [ -f vendor/autoload.php ] ||
            printf '<?php\n// buildspec composer stand-in: no packages installed\n' >vendor/autoload.php
        echo "Generating autoload files (buildspec composer stand-in)" ;;
    ""|list|help) echo "Composer 2 stand-in: --version, install, update, require, dump-autoload" ;;
    about|diagnose|validate|check-platform-reqs) echo "Composer version 2.7.9 (buildspec stand-in): ok" ;;
    *) echo "composer stand-in: '$cmd' does nothing" >&2 ;;
esac
EOF
    chmod 755 "$R/usr/bin/composer"
}
changes_composer() { printf '%s\n' "ENV PATH=$STD_PATH" 'WORKDIR /app' 'CMD ["composer"]'; }

recipe_httpd() {
    local R="$1"
    mkdir -p "$R/usr/local/apache2/htdocs"
    printf '<html><body><h1>It works!</h1></body></html>\n' >"$R/usr/local/apache2/htdocs/index.html"
}
changes_httpd() {
    printf '%s\n' "ENV PATH=/usr/local/apache2/bin:$STD_PATH" 'WORKDIR /usr/local/apache2' \
        'EXPOSE 80' 'CMD ["httpd", "-f", "-v", "-p", "80", "-h", "/usr/local/apache2/htdocs"]'
}

recipe_rust() {
    local R="$1"
    h_chroot_begin "$R"
    # rustc-web/cargo-web (bookworm's updates, provide rustc and cargo): a modern cargo
    # reaches crates.io through the sparse index; bookworm's cargo 0.66 needs github.com.
    h_apt_install "$R" rustc-web cargo-web gcc libc6-dev pkg-config
    h_chroot_end "$R"
    mkdir -p "$R/usr/local/cargo/bin" "$R/usr/local/rustup"
    chmod -R a+w "$R/usr/local/cargo" "$R/usr/local/rustup"
}
changes_rust() {
    printf '%s\n' "ENV PATH=/usr/local/cargo/bin:$STD_PATH" 'ENV CARGO_HOME=/usr/local/cargo' \
        'ENV RUSTUP_HOME=/usr/local/rustup' 'CMD ["bash"]'
}

recipe_busybox() { h_busybox_root "$1"; }
changes_busybox() { printf '%s\n' "ENV PATH=$STD_PATH" 'CMD ["sh"]'; }

recipe_distroless_cc() {
    # Only the files of libc6, libgcc-s1, libstdc++6 and libssl3 (from the parent's dpkg
    # database), the CA bundle, os-release and the distroless users (nonroot = 65532).
    local R="$1" src="$1.src" top links=() rewrite=()
    mv "$R" "$src"
    mkdir -p "$R"
    # merged /usr: lib/x → usr/lib/x, and the top-level links go last, once their
    # targets exist (tar cannot make lib/x while lib is a dangling link).
    for top in bin sbin lib lib32 lib64 libx32; do
        if [[ -L "$src/$top" ]]; then
            links+=("$top")
            rewrite+=(-e "s|^$top/|$(readlink "$src/$top")/|" -e "/^$top\$/d")
        fi
    done
    dpkg --admindir="$src/var/lib/dpkg" -L libc6 libgcc-s1 libstdc++6 libssl3 |
        sed -e 's|^/||' "${rewrite[@]}" |
        grep -v -E '^(\.|)$|^usr/share/(doc|man|info|lintian|locale|gcc|gdb)(/|$)|/gconv(/|$)' |
        sort -u >"$WORK/distroless.files"
    printf '%s\n' etc/ssl/certs/ca-certificates.crt usr/lib/os-release etc/os-release \
        etc/nsswitch.conf "${links[@]}" >>"$WORK/distroless.files"
    tar -C "$src" --no-recursion --ignore-failed-read -c -T "$WORK/distroless.files" 2>/dev/null |
        tar -C "$R" -x
    rm -rf --one-file-system "$src"
    mkdir -p "$R/tmp" "$R/root" "$R/home/nonroot" "$R/proc" "$R/sys" "$R/dev"
    chmod 1777 "$R/tmp"
    chmod 700 "$R/root" "$R/home/nonroot"
    chown 65532:65532 "$R/home/nonroot"
    cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$R/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
}
changes_distroless_cc() {
    printf '%s\n' "ENV PATH=$STD_PATH" 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
}

# ---------------------------------------------------------------------------------------
# Keys, caches and the engine.

declare -A KEY=() CANDIDATE=()
load_candidates() { # CANDIDATE[pkg]: the host's candidate version of every recipe package.
    local p v
    # shellcheck disable=SC2046 # a word list
    while read -r p v; do
        CANDIDATE[$p]="$v"
    done < <(LC_ALL=C apt-cache policy $(printf '%s\n' "${PKGS[@]}" | tr ' ' '\n' | sort -u) 2>/dev/null |
        awk '/^[^ ]/ { sub(/:$/, "", $1); p = $1 } /Candidate:/ { print p, $2 }')
}
key_of() { # Sets KEY[$1] (memoized).
    local id="$1" parent="${PARENT[$1]}" inputs
    [[ -n "${KEY[$id]:-}" ]] && return
    [[ -n "$parent" ]] && key_of "$parent"
    local helpers
    mapfile -t helpers < <(compgen -A function h_)
    inputs="$(
        printf 'format 1\nparent %s\n' "${parent:+${KEY[$parent]}}"
        declare -f "${helpers[@]}" "recipe_$id"
        declare -F "changes_$id" >/dev/null && "changes_$id"
        local p
        for p in ${PKGS[$id]}; do
            [[ -n "${CANDIDATE[$p]:-}" ]] && printf '%s: %s\n' "$p" "${CANDIDATE[$p]}"
        done
        case "$id" in
            minbase) debian_mirror; dpkg-query -W debootstrap ;;
            busybox) sha256sum </bin/busybox ;;
            debian_slim) cat /etc/apt/sources.list.d/debian.sources /usr/local/share/ca-certificates/*.crt 2>/dev/null ;;
        esac
    )"
    KEY[$id]="$(printf '%s' "$inputs" | sha256sum | cut -c1-16)"
}

# Cached file for an id; removes stale ones of the same id.
cache_file() { printf '%s/%s-%s.%s\n' "$IMAGES_DIR" "$1" "${KEY[$1]}" "$2"; }
drop_stale() {
    local id="$1" ext="$2" f keep
    keep="$(cache_file "$id" "$ext")"
    for f in "$IMAGES_DIR/$id-"*".$ext"; do
        [[ -e "$f" && "$f" != "$keep" ]] && rm -f "$f"
    done
    return 0
}

# Fills folder $2 with the root filesystem of $1 (parent extracted, recipe applied).
build_rootfs() {
    local id="$1" R="$2" parent="${PARENT[$1]}" t0=$SECONDS
    mkdir -p "$R"
    if [[ -n "$parent" ]]; then
        ensure_rootfs "$parent"
        tar -C "$R" --numeric-owner -xpf "$ROOTFS_TAR"
    fi
    log "building $id${NAME[$id]:+ (${NAME[$id]})}"
    "recipe_$id" "$R"
    log "built $id in $((SECONDS - t0))s"
}

# Sets ROOTFS_TAR to the cached rootfs tarball of $1, making it when missing.
ensure_rootfs() {
    local id="$1" tarball R
    key_of "$id"
    tarball="$(cache_file "$id" rootfs.tar)"
    if [[ ! -f "$tarball" ]]; then
        R="$WORK/$id"
        build_rootfs "$id" "$R"
        tar -C "$R" --numeric-owner -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        unmount_below "$R"
        rm -rf --one-file-system "$R"
        drop_stale "$id" rootfs.tar
    fi
    ROOTFS_TAR="$tarball"
}

# Makes the `docker save` tarball of $1 (cache_file ID docker.tar) and its .id file.
make_image() {
    local id="$1" name="${NAME[$1]}" saved changes=() c R
    saved="$(cache_file "$id" docker.tar)"
    while read -r c; do changes+=(--change "$c"); done < <("changes_$id")
    if [[ " $ROOTFS_IDS " == *" $id "* ]]; then
        ensure_rootfs "$id"
        "$DOCKER" import "${changes[@]}" "$ROOTFS_TAR" "$name" >/dev/null
    else
        R="$WORK/$id"
        build_rootfs "$id" "$R"
        tar -C "$R" --numeric-owner -c . | "$DOCKER" import "${changes[@]}" - "$name" >/dev/null
        unmount_below "$R"
        rm -rf --one-file-system "$R"
    fi
    "$DOCKER" save -o "$saved.tmp" "$name"
    "$DOCKER" image inspect -f '{{.Id}}' "$name" >"$(cache_file "$id" id)"
    mv "$saved.tmp" "$saved"
    drop_stale "$id" docker.tar
    drop_stale "$id" id
}

SEED_STATE=""
cleanup() {
    if [[ -n "$SEED_STATE" ]]; then
        "$HERE/stop.sh" "$SEED_STATE" --purge >/dev/null 2>&1 || true
    fi
    unmount_below "$WORK"
    rm -rf --one-file-system "$WORK"
}

# Puts the images of the given ids into the engine at DOCKER_HOST (built, or loaded from
# the cache, or nothing when the engine already has that exact image).
sync_images() {
    local id t saved have
    for id in "$@"; do
        t=$SECONDS
        key_of "$id"
        saved="$(cache_file "$id" docker.tar)"
        have="$("$DOCKER" image inspect -f '{{.Id}}' "${NAME[$id]}" 2>/dev/null || true)"
        if [[ -f "$saved" && -n "$have" && "$have" == "$(cat "$(cache_file "$id" id)" 2>/dev/null)" ]]; then
            log "${NAME[$id]}: already in the engine"
            continue
        fi
        if [[ ! -f "$saved" ]]; then
            make_image "$id"
            log "${NAME[$id]}: built and cached in $((SECONDS - t))s"
        else
            "$DOCKER" load -q -i "$saved" >/dev/null
            log "${NAME[$id]}: loaded from cache in $((SECONDS - t))s"
        fi
        # The image this one replaced under the same name, if nothing else uses it.
        if [[ -n "$have" && "$have" != "$(cat "$(cache_file "$id" id)")" ]]; then
            "$DOCKER" rmi "$have" >/dev/null 2>&1 || true
        fi
    done
}

# Prints the path of a stopped engine's data root that holds exactly the images of the
# given ids (for start.sh --images to clone), making it with a temporary engine if needed.
# Keyed by the images' keys and the engine build (install.sh's stamp).
make_seed() {
    local id list keys seed old
    list="$(printf '%s\n' "$@" | sort | sha256sum | cut -c1-12)"
    keys="$(for id in "$@"; do key_of "$id"; printf '%s %s\n' "$id" "${KEY[$id]}"; done
        cat "$ENGINE_CACHE/root.stamp" 2>/dev/null || true)"
    seed="$ENGINE_CACHE/seeds/$list-$(printf '%s' "$keys" | sha256sum | cut -c1-16)"
    if [[ ! -d "$seed/data" ]]; then
        "$HERE/install.sh" >/dev/null
        mkdir -p "$ENGINE_CACHE/seeds"
        SEED_STATE="$ENGINE_CACHE/seeds/state.$$"
        rm -rf "$SEED_STATE"
        eval "$("$HERE/start.sh" "$SEED_STATE")"
        DOCKER="$SEED_STATE/bin/docker"
        sync_images "$@"
        "$HERE/stop.sh" "$SEED_STATE" >&2
        rm -rf "$seed.tmp"
        mkdir -p "$seed.tmp"
        mv "$SEED_STATE/data" "$seed.tmp/data"
        mv "$seed.tmp" "$seed"
        rm -rf "$SEED_STATE"
        SEED_STATE=""
        for old in "$ENGINE_CACHE/seeds/$list-"*; do
            [[ "$old" == "$seed" ]] || rm -rf --one-file-system "$old"
        done
        log "seed data root for ${*} ready"
    fi
    printf '%s\n' "$seed/data"
}

# ---------------------------------------------------------------------------------------

main() {
    local want=() a id found seed=0
    for a in "$@"; do
        case "$a" in
            -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
            --list) for id in "${ORDER[@]}"; do printf '%s\n' "${NAME[$id]}"; done; exit 0 ;;
            --seed) seed=1; continue ;;
            -*) die "unknown option $a" ;;
        esac
        found=""
        for id in "${ORDER[@]}"; do
            if [[ "$a" == "$id" || "$a" == "${NAME[$id]}" || "$a:latest" == "${NAME[$id]}" ||
                "$a" == "${NAME[$id]%%:*}" ]]; then
                found="$id"
                break
            fi
        done
        [[ -n "$found" ]] || die "unknown image $a (see --list)"
        [[ " ${want[*]} " == *" $found "* ]] || want+=("$found")
    done
    ((${#want[@]})) || want=("${ORDER[@]}")

    [[ $EUID -eq 0 ]] || die "must run as root"
    if ((!seed)); then
        [[ -n "${DOCKER_HOST:-}" ]] || die "DOCKER_HOST is not set: eval \"\$(scripts/engine/start.sh STATE_DIR)\" first"
        DOCKER="$(command -v docker || true)"
        [[ -n "$DOCKER" ]] || DOCKER="$ENGINE_ROOT/usr/bin/docker"
        "$DOCKER" version --format '{{.Server.Version}}' >/dev/null || die "no docker engine answers at $DOCKER_HOST"
    fi
    ensure_host_packages debootstrap busybox-static

    mkdir -p "$IMAGES_DIR" "$WORK"
    exec 8>"$IMAGES_DIR/.lock"
    flock 8
    trap cleanup EXIT
    local d
    for d in "$ENGINE_CACHE/work/"* "$ENGINE_CACHE/seeds/state."*; do # left by a killed run
        [[ -d "$d" && "$d" != "$WORK" && "$d" != "$APT_SHARE" ]] || continue
        kill -0 "${d##*[/.]}" 2>/dev/null && continue
        [[ "$d" == */seeds/state.* ]] && "$HERE/stop.sh" "$d" --purge >&2
        unmount_below "$d"
        h_mounts_below "$d" || rm -rf --one-file-system "$d"
    done
    load_candidates

    local t0=$SECONDS
    if ((seed)); then
        make_seed "${want[@]}"
    else
        sync_images "${want[@]}"
    fi
    log "base images ready in $((SECONDS - t0))s"
}

main "$@"

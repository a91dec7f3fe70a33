#!/usr/bin/env bash
# Starts a private docker engine (dockerd 26 + BuildKit 0.13, from install.sh's root) whose
# whole state lives in STATE_DIR, so tests and CI can run several side by side.
#
# Usage: eval "$(scripts/engine/start.sh STATE_DIR [--tcp PORT] [--images all|NAME,NAME…] [--containerd-store])"
#   Listens on unix://STATE_DIR/docker.sock, and also on tcp://127.0.0.1:PORT with --tcp
#   (plain HTTP, loopback only). Prints `export` lines on stdout: DOCKER_HOST (the TCP
#   address when --tcp is given), DOCKER_CONFIG (STATE_DIR/config, which holds the
#   docker-buildx plugin) and PATH (STATE_DIR/bin first, holding the matching 26.1 docker
#   client). Everything else goes to stderr. Stop it with scripts/engine/stop.sh STATE_DIR.
#   --images: the engine starts with these base images (names as in base-images.sh
#   --list). A new STATE_DIR gets them by a hard-link clone of a cached seed data root
#   (about 5 s for all ten, against about 50 s of `docker load`); base-images.sh then
#   checks them. The layer files are shared with the seed: never edit files under
#   STATE_DIR/data/overlay2 by hand (through containers and builds is fine).
#
#   --containerd-store: images live in containerd (dockerd's containerd-snapshotter
#   feature), the setup under which BuildKit exports a cache (--cache-to); starts empty.
#
#   STATE_DIR/data        --data-root (images, containers, BuildKit cache)
#   STATE_DIR/dockerd.log the daemon's log; STATE_DIR/dockerd.pid its pid
#   STATE_DIR/exec-root   link to the --exec-root, a short folder /run/bse-HASH (unix
#                         socket paths are limited to 108 bytes)
#   dockerd starts its own containerd (the trixie one on its PATH) below the exec-root.
#   Runs already started on STATE_DIR are reused (same exports printed).
# Environment: BUILDSPEC_ENGINE_START_TIMEOUT (seconds, default 30),
#   BUILDSPEC_ENGINE_STORAGE_DRIVER (default: dockerd's choice, overlay2 on ext4),
#   BUILDSPEC_ENGINE_CACHE (see install.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

usage() { die "usage: start.sh STATE_DIR [--tcp PORT] [--images all|NAME,NAME...] [--containerd-store]"; }
CONTAINERD_STORE=""
STATE=""
TCP_PORT=""
IMAGES=()
while (($#)); do
    case "$1" in
        --images) [[ $# -ge 2 ]] || usage
            IFS=, read -ra IMAGES <<<"$2"
            shift 2 ;;
        --tcp) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || usage; TCP_PORT="$2"; shift 2 ;;
        --tcp=*) TCP_PORT="${1#--tcp=}"; [[ "$TCP_PORT" =~ ^[0-9]+$ ]] || usage; shift ;;
        --containerd-store) CONTAINERD_STORE=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        -*) usage ;;
        *) [[ -z "$STATE" ]] || usage; STATE="$1"; shift ;;
    esac
done
[[ -n "$STATE" ]] || usage
# The seed data roots hold the classic image store, which a containerd-store engine
# does not read: such an engine gets its base images from a registry.
[[ -z "$CONTAINERD_STORE" || ${#IMAGES[@]} -eq 0 ]] || die "--containerd-store starts without --images: push base images to a registry instead"
[[ $EUID -eq 0 ]] || die "must run as root"

mkdir -p "$STATE"
STATE="$(realpath "$STATE")"
SOCK="$STATE/docker.sock"
# sun_path is 108 bytes including the NUL; leave room for dockerd's temporary names.
((${#SOCK} <= 100)) || die "state dir path too long for a unix socket: $SOCK (${#SOCK} > 100 bytes)"
EXEC_ROOT="$(engine_exec_root "$STATE")"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
TIMEOUT="${BUILDSPEC_ENGINE_START_TIMEOUT:-30}"

ROOT="$("$HERE/install.sh")"
DOCKER="$ROOT/usr/bin/docker"

# Base images: clone a seed data root into a new state dir before dockerd starts.
image_args=()
((${#IMAGES[@]} == 0)) || [[ "${IMAGES[0]}" == all ]] || image_args=("${IMAGES[@]}")
if ((${#IMAGES[@]})) && [[ ! -e "$STATE/data" ]]; then
    seed="$("$HERE/base-images.sh" --seed "${image_args[@]}")"
    rm -rf --one-file-system "$STATE/data.tmp"
    clone_data_root "$seed" "$STATE/data.tmp"
    mv "$STATE/data.tmp" "$STATE/data"
fi

mkdir -p "$STATE/data" "$STATE/config/cli-plugins" "$STATE/bin" "$EXEC_ROOT"
ln -sfn "$ROOT/usr/libexec/docker/cli-plugins/docker-buildx" "$STATE/config/cli-plugins/docker-buildx"
ln -sfn "$DOCKER" "$STATE/bin/docker"
ln -sfn "$EXEC_ROOT" "$STATE/exec-root"
[[ -f "$STATE/config/config.json" ]] || printf '{}\n' >"$STATE/config/config.json"
# An own daemon config, so a machine's /etc/docker/daemon.json is not read. With
# --containerd-store, images live in containerd (the "containerd-snapshotter" feature):
# only then does BuildKit inside dockerd 26 export a build cache (--cache-to
# type=registry|local); the classic store answers "Cache export is not supported".
if [[ ! -f "$STATE/daemon.json" ]]; then
    if [[ -n "$CONTAINERD_STORE" ]]; then
        printf '{"features": {"containerd-snapshotter": true}}\n' >"$STATE/daemon.json"
    else
        printf '{}\n' >"$STATE/daemon.json"
    fi
fi

host="unix://$SOCK"
[[ -n "$TCP_PORT" ]] && host="tcp://127.0.0.1:$TCP_PORT"

print_exports() {
    printf 'export DOCKER_HOST=%q\n' "$host"
    printf 'export DOCKER_CONFIG=%q\n' "$STATE/config"
    # shellcheck disable=SC2016 # $PATH is for the caller's eval
    printf 'export PATH=%q:"$PATH"\n' "$STATE/bin"
    printf 'unset DOCKER_CONTEXT\n'
}
# Not `docker info --format …`: that exits 0 when no daemon answers.
answers() {
    local v
    v="$(DOCKER_CONFIG="$STATE/config" "$DOCKER" --host "$1" version --format '{{.Server.Version}}' 2>/dev/null)" &&
        [[ -n "$v" ]]
}

pid_alive() { [[ -n "${1:-}" && -d "/proc/$1" && "$(cat "/proc/$1/comm" 2>/dev/null)" == dockerd ]]; }

if [[ -f "$PIDFILE" ]] && pid_alive "$(cat "$PIDFILE")"; then
    answers "unix://$SOCK" || die "dockerd $(cat "$PIDFILE") runs on $STATE but does not answer; run stop.sh first"
    if [[ -n "$TCP_PORT" ]] && ! answers "$host"; then
        die "the engine on $STATE runs, but not on $host; stop it first"
    fi
    log "engine already running on $STATE"
    if ((${#IMAGES[@]})); then
        DOCKER_HOST="$host" DOCKER_CONFIG="$STATE/config" PATH="$STATE/bin:$PATH" \
            "$HERE/base-images.sh" "${image_args[@]}" >&2
    fi
    print_exports
    exit 0
fi
rm -f "$PIDFILE" "$SOCK"

args=(
    --host "unix://$SOCK"
    --data-root "$STATE/data"
    --exec-root "$EXEC_ROOT"
    --pidfile "$PIDFILE"
    --config-file "$STATE/daemon.json"
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false
    --shutdown-timeout 5
)
[[ -n "$TCP_PORT" ]] && args+=(--host "tcp://127.0.0.1:$TCP_PORT")
[[ -n "${BUILDSPEC_ENGINE_STORAGE_DRIVER:-}" ]] && args+=(--storage-driver "$BUILDSPEC_ENGINE_STORAGE_DRIVER")

# dockerd finds containerd, containerd-shim-runc-v2, docker-init and docker-proxy in the
# private root, and Debian 12's runc in /usr/sbin. setsid: the engine outlives this
# script and is not hit by signals sent to the caller's process group.
PATH="$ROOT/usr/bin:$ROOT/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    setsid "$ROOT/usr/sbin/dockerd" "${args[@]}" >"$LOG" 2>&1 </dev/null &
pid=$!

deadline=$((SECONDS + TIMEOUT))
until answers "$host"; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
        if kill -0 "$pid" 2>/dev/null; then
            log "dockerd did not answer within ${TIMEOUT}s"
            kill -TERM "$pid" 2>/dev/null || true
        else
            log "dockerd exited"
        fi
        tail -n 40 "$LOG" >&2 || true
        "$HERE/stop.sh" "$STATE" >&2 || true
        die "could not start the engine on $STATE (log: $LOG)"
    fi
    sleep 0.1
done
log "engine ready on $host (dockerd pid $pid, $(
    DOCKER_CONFIG="$STATE/config" "$DOCKER" --host "$host" info --format '{{.ServerVersion}}, {{.Driver}}'))"
if ((${#IMAGES[@]})); then
    DOCKER_HOST="$host" DOCKER_CONFIG="$STATE/config" PATH="$STATE/bin:$PATH" \
        "$HERE/base-images.sh" "${image_args[@]}" >&2
fi
print_exports

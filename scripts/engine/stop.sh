#!/usr/bin/env bash
# Stops the private docker engine that start.sh started on STATE_DIR, and everything it
# left behind: its containerd, container shims and runc containers, and mounts below the
# state dir and the exec-root. Keeps STATE_DIR/data (images, build cache) for a later start.
#
# Usage: scripts/engine/stop.sh STATE_DIR [--purge]
#   Running containers are killed, then dockerd gets SIGTERM (it stops its containerd),
#   SIGKILL after BUILDSPEC_ENGINE_STOP_TIMEOUT seconds (default 20); then any process
#   left whose command line names this engine's exec-root (containerd, shims) is ended
#   the same way.
#   --purge also deletes STATE_DIR. Exits 0 when nothing of the engine is left running.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

STATE=""
PURGE=0
for a in "$@"; do
    case "$a" in
        --purge) PURGE=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        -*) die "usage: stop.sh STATE_DIR [--purge]" ;;
        *) [[ -z "$STATE" ]] || die "usage: stop.sh STATE_DIR [--purge]"; STATE="$a" ;;
    esac
done
[[ -n "$STATE" ]] || die "usage: stop.sh STATE_DIR [--purge]"
[[ -d "$STATE" ]] || { log "no state dir $STATE: nothing to stop"; exit 0; }
STATE="$(realpath "$STATE")"
EXEC_ROOT="$(engine_exec_root "$STATE")"
TIMEOUT="${BUILDSPEC_ENGINE_STOP_TIMEOUT:-20}"

# Running and not a zombie.
alive() { local s; s="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" && [[ -n "$s" && "$s" != Z && "$s" != X ]]; }

# Pids of this engine's processes: their command line names the exec-root (dockerd's
# --exec-root, containerd's --config, the shims' -address), which no caller knows.
engine_pids() {
    local d pid
    for d in /proc/[0-9]*; do
        pid="${d#/proc/}"
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        if tr '\0' '\n' 2>/dev/null <"$d/cmdline" |
            R="$EXEC_ROOT" awk '$0 == ENVIRON["R"] || index($0, ENVIRON["R"] "/") { f = 1 } END { exit !f }'; then
            alive "$pid" && printf '%s\n' "$pid"
        fi
    done
    return 0
}

# end_pids WAIT PID...: sends TERM, waits up to WAIT seconds, then KILL.
end_pids() {
    local wait_s="$1" p left i
    shift
    local pids=("$@")
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        left=0
        for p in "${pids[@]}"; do alive "$p" && left=1; done
        ((left)) || return 0
        sleep 0.1
    done
    log "sending SIGKILL to ${pids[*]}"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.2
}

dpid="$(cat "$STATE/dockerd.pid" 2>/dev/null || true)"
if [[ -n "$dpid" ]] && alive "$dpid" && [[ "$(cat "/proc/$dpid/comm")" == dockerd ]]; then
    log "stopping dockerd $dpid"
    # Test containers are disposable: kill them rather than wait out their stop timeout.
    if [[ -S "$STATE/docker.sock" && -x "$ENGINE_ROOT/usr/bin/docker" ]]; then
        dk=(timeout 10 "$ENGINE_ROOT/usr/bin/docker" --host "unix://$STATE/docker.sock")
        mapfile -t running < <("${dk[@]}" ps -q 2>/dev/null || true)
        ((${#running[@]} == 0)) || "${dk[@]}" kill "${running[@]}" >/dev/null 2>&1 || true
    fi
    end_pids "$TIMEOUT" "$dpid"
fi
# Whatever is left: containerd, shims, or a dockerd whose pidfile was never written.
mapfile -t rest < <(engine_pids)
end_pids 5 "${rest[@]}"

# Containers runc still knows of (possible after a SIGKILL).
for r in "$EXEC_ROOT/runtime-runc/moby" "$STATE/data/buildkit/executor"; do
    [[ -d "$r" ]] || continue
    for id in $(runc --root "$r" list -q 2>/dev/null); do
        runc --root "$r" delete --force "$id" >/dev/null 2>&1 || true
    done
done

unmount_below "$STATE" "$EXEC_ROOT"
rm -rf --one-file-system "$EXEC_ROOT"
rm -f "$STATE/dockerd.pid" "$STATE/docker.sock" "$STATE/exec-root"

left="$(engine_pids)"
[[ -z "$left" ]] || die "engine processes still running: $(echo "$left" | tr '\n' ' ')"
if ((PURGE)); then
    rm -rf --one-file-system "$STATE"
fi
log "engine on $STATE stopped"

#!/usr/bin/env bash
# Two CI runners, one registry cache (issue 17): runner A builds an example spec with
# --cache-to a loopback registry; then, after a one-line source edit (unique per run), a
# fresh runner B (an empty engine) builds it with --cache-from, and another fresh runner
# builds it without. The two forms alternate in order run by run; the report gives each
# form's median and the per-run ratio (with / without), so machine drift falls on both.
# Both backends: docker (fresh engines with the containerd image store, BuildKit's
# type=registry cache) and oci (empty --cache-dir per runner, registry:HOST/REPO cache).
#
# Usage: bench/registry_cache.sh    (root; scripts/engine/install.sh installs the engine
#                                    and docker-registry)
# Environment:
#   BENCH_RUNS=3                    pairs per spec
#   BENCH_SPECS="python-app go-static"
#   BENCH_BACKENDS="docker oci"
#   BUILDSPEC=PATH                  the binary (default target/release/buildspec)
#   BENCH_OUT=PATH                  the report (default bench/results/registry-cache.md)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${BENCH_RUNS:-3}"
read -ra SPECS <<<"${BENCH_SPECS:-python-app go-static}"
read -ra BACKENDS <<<"${BENCH_BACKENDS:-docker oci}"
BUILDSPEC="${BUILDSPEC:-$REPO/target/release/buildspec}"
OUT="${BENCH_OUT:-$REPO/bench/results/registry-cache.md}"
[[ $# -eq 0 ]] || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 2; }
[[ -x "$BUILDSPEC" ]] || { echo "no $BUILDSPEC: cargo build --release" >&2; exit 2; }
declare -A EDIT_FILE=([go-static]=main.go [python-app]=hello/__init__.py [static-site]=pages/index.php)
declare -A EDIT_LINE=([go-static]='// edit' [python-app]='# edit' [static-site]='<!-- edit -->')
declare -A BASES=([go-static]=golang:1.22-bookworm [python-app]=python:3.12-slim [static-site]=php:8.3-cli)

START=$SECONDS
say() { printf '[cache-bench %s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - START))" "$*" >&2; }
WORK="$(mktemp -d /tmp/bscachebench.XXXXXX)"
ENGINES=()
REGISTRY_PID=""
cleanup() {
    for s in "${ENGINES[@]}"; do "$REPO/scripts/engine/stop.sh" "$s" --purge >/dev/null 2>&1 || true; done
    [[ -n "$REGISTRY_PID" ]] && kill "$REGISTRY_PID" 2>/dev/null
    rm -rf --one-file-system "$WORK" 2>/dev/null || true
}
trap cleanup EXIT

# start_engine STATE ARGS...: starts an engine and sets its DOCKER_* in this shell.
start_engine() {
    local state="$1"; shift
    ENGINES+=("$state")
    eval "$("$REPO/scripts/engine/start.sh" "$state" "$@" 2>"$state.log")"
}
stop_engine() { "$REPO/scripts/engine/stop.sh" "$1" --purge >/dev/null 2>&1; }

# A loopback registry without auth.
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
HOST="127.0.0.1:$PORT"
printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$WORK/registry" "$HOST" >"$WORK/registry.yml"
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

# The bases, pushed from an engine that has them.
bases=()
for spec in "${SPECS[@]}"; do bases+=("${BASES[$spec]}"); done
say "pushing ${bases[*]} to $HOST"
start_engine "$WORK/seed" --images "$(IFS=,; echo "${bases[*]}")"
for b in "${bases[@]}"; do
    docker tag "$b" "$HOST/$b" && docker push -q "$HOST/$b" >/dev/null
done
stop_engine "$WORK/seed"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

{
    echo "# Two runners, one registry cache"
    echo
    echo "\`bench/registry_cache.sh\`, BENCH_RUNS=$RUNS, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores."
    echo "Runner B builds after a one-line source edit, starting empty: a fresh engine (containerd"
    echo "image store) for docker, an empty --cache-dir for oci. Bases come from the loopback"
    echo "registry in both forms."
    echo
    echo "| backend | spec | runner B with --cache-from (median s) | without (median s) | ratio with/without, per run | median ratio |"
    echo "|---|---|---|---|---|---|"
} >"$OUT.tmp"

# build BACKEND SPEC RUNNER FLAGS...: one runner's build of $dir, from an empty state.
build() {
    local backend="$1" spec="$2" runner="$3"; shift 3
    case "$backend" in
        docker)
            start_engine "$WORK/$runner" --containerd-store
            (cd "$dir" && "$BUILDSPEC" build --network host --progress quiet "$@" -t app >/dev/null)
            stop_engine "$WORK/$runner"
            ;;
        oci)
            (cd "$dir" && "$BUILDSPEC" build --backend oci --network host --progress quiet --cache-dir "$WORK/$runner" \
                --output "oci:$WORK/$runner-out:app" "$@" >/dev/null)
            rm -rf --one-file-system "$WORK/$runner" "$WORK/$runner-out"
            ;;
    esac
}

for backend in "${BACKENDS[@]}"; do
for spec in "${SPECS[@]}"; do
    dir="$WORK/$backend-$spec"
    cp -r "$REPO/specs/$spec" "$dir"
    sed -i "s|from=\"${BASES[$spec]}\"|from=\"$HOST/${BASES[$spec]}\"|g" "$dir/buildspec.kdl"
    case "$backend" in
        docker) cache_to="type=registry,ref=$HOST/cache/$spec:buildcache,mode=max" cache_from="type=registry,ref=$HOST/cache/$spec:buildcache" ;;
        oci) cache_to="registry:$HOST/ocicache/$spec" cache_from="$cache_to" ;;
    esac
    say "$backend $spec: runner A seeds the cache"
    build "$backend" "$spec" "a-$backend-$spec" --cache-to "$cache_to"
    with=() without=() ratios=()
    for run in $(seq "$RUNS"); do
        echo "${EDIT_LINE[$spec]} $run $RANDOM" >>"$dir/${EDIT_FILE[$spec]}"
        order=(with without)
        ((run % 2)) || order=(without with)
        declare -A took=()
        for form in "${order[@]}"; do
            flags=()
            [[ "$form" == with ]] && flags=(--cache-from "$cache_from")
            t0=$(date +%s.%N)
            build "$backend" "$spec" "b-$backend-$spec-$run-$form" "${flags[@]}"
            took[$form]=$(echo "$(date +%s.%N) - $t0" | bc)
        done
        with+=("${took[with]}") without+=("${took[without]}")
        ratios+=("$(echo "scale=3; ${took[with]} / ${took[without]}" | bc)")
        say "$backend $spec run $run: with ${took[with]}s, without ${took[without]}s"
        unset took
    done
    mw=$(printf '%s\n' "${with[@]}" | median)
    mo=$(printf '%s\n' "${without[@]}" | median)
    mr=$(printf '%s\n' "${ratios[@]}" | median)
    printf '| %s | %s | %.1f | %.1f | %s | %s |\n' "$backend" "$spec" "$mw" "$mo" "$(IFS=' '; echo "${ratios[*]}")" "$mr" >>"$OUT.tmp"
done
done
mv "$OUT.tmp" "$OUT"
say "wrote $OUT"
cat "$OUT"

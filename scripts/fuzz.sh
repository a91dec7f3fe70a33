#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/, cargo-fuzz on the nightly toolchain) for a bounded time
# each and reports the executions and crashes per target. The working corpus grows in
# fuzz/corpus/TARGET (not committed); the committed seeds are fuzz/seeds/TARGET; a crash
# is saved in fuzz/artifacts/TARGET and fails the run.
#
# Usage: scripts/fuzz.sh [TARGET...]     (default: every target)
# Environment:
#   FUZZ_SECONDS=60        time per target
#   FUZZ_RUNS=N            stop each target after N executions instead (a soak);
#                          FUZZ_SECONDS then only bounds it (default 6 hours)
#   FUZZ_MAX_LEN=N         the longest input libFuzzer makes (default: libFuzzer's own,
#                          growing to 4096); the spec soak uses 512, where the kdl crate's
#                          parser (most of each execution) runs 3 times as often
#   FUZZ_SANITIZER=none    or address (slower; our code has no unsafe of its own)
#   FUZZ_OUT=PATH          the report (default fuzz/results.md, not committed)
#   FUZZ_TMPDIR=DIR        where targets make their temporary files (default
#                          /dev/shm when writable with 1 GiB free: fsyncs cost nothing there)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
RUNS="${FUZZ_RUNS:-}"
if [[ -n "$RUNS" ]]; then SECONDS_EACH="${FUZZ_SECONDS:-21600}"; else SECONDS_EACH="${FUZZ_SECONDS:-60}"; fi
SANITIZER="${FUZZ_SANITIZER:-none}"
OUT="${FUZZ_OUT:-$REPO/fuzz/results.md}"
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 0; }
# The targets' temporary files (not the build's): /dev/shm when it is
# writable and has room, where the store's fsyncs cost nothing.
TMP_DEFAULT=/tmp
if [[ -d /dev/shm && -w /dev/shm ]] && (( $(df -Pk /dev/shm | awk 'NR == 2 {print $4}') > 1048576 )); then TMP_DEFAULT=/dev/shm; fi
RUN_TMPDIR="${FUZZ_TMPDIR:-$TMP_DEFAULT}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || mapfile -t TARGETS < <(cargo +nightly fuzz list)
cargo +nightly fuzz build -s "$SANITIZER"
{
    echo "Command: \`${RUNS:+FUZZ_RUNS=$RUNS }${FUZZ_MAX_LEN:+FUZZ_MAX_LEN=$FUZZ_MAX_LEN }FUZZ_SECONDS=$SECONDS_EACH FUZZ_SANITIZER=$SANITIZER scripts/fuzz.sh ${*}\` ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
    echo
    echo "| target | seconds | executions | exec/s | crashes |"
    echo "|---|---|---|---|---|"
} > "$OUT"
failed=0
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="$(mktemp)"
    started=$SECONDS
    set +e
    TMPDIR="$RUN_TMPDIR" cargo +nightly fuzz run -s "$SANITIZER" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$SECONDS_EACH" ${RUNS:+-runs="$RUNS"} ${FUZZ_MAX_LEN:+-max_len="$FUZZ_MAX_LEN"} -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    took=$((SECONDS - started)); [[ $took -gt 0 ]] || took=1
    runs="$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)"
    runs="${runs:-0}"
    crashes="$(find "fuzz/artifacts/$t" -type f | wc -l)"
    echo "| $t | $took | $runs | $((runs / took)) | $crashes |" >> "$OUT"
    echo "[fuzz] $t: $runs executions in ${took}s, $crashes crashes (rc $rc)" >&2
    if [[ $rc -ne 0 || $crashes -gt 0 ]]; then
        failed=1
        tail -40 "$log" >&2
    fi
    rm -f "$log"
done
cat "$OUT"
exit "$failed"

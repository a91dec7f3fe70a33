#!/usr/bin/env bash
# Where does a rebuild's time go? Builds one reference app (bench/apps/APP) in several forms,
# interleaved run by run (the form order rotates each run), so that the machine's drift from
# minute to minute falls on every form alike, and reports per form the median wall time,
# the median time of every step the engine executed, and the last run's timeline (start and
# end of each executed step, seconds from the first vertex). bench/run.sh gives the table;
# this gives the reasons behind a cell.
#
# Usage: bench/interleave.sh APP KIND RUNS FORM...
#   APP    rust, go, node or python
#   KIND   cold  `docker buildx prune -af` before every build
#          src   a one-line source edit before every build, unique each time
#          dep   APP/dep-edit/* copied over the app, plus a unique comment (requirements.txt,
#                Cargo.toml, go.mod) or "description" (package.json) in the manifest, so each
#                build is a dependency edit; after the first, toolchain caches (cargo's
#                target/, npm's cache) already hold the added dependency: bench/run.sh
#                measures the first-time edit
#   RUNS   builds per form (after one warm-up build per form for src and dep)
#   FORM   naive, expert, literal, optimized
# Needs an engine at DOCKER_HOST (scripts/engine/start.sh; it gets pruned), jq, and the
# buildspec binary (BUILDSPEC, default target/debug/buildspec) for literal and optimized.
# Example: bench/interleave.sh python dep 5 naive optimized
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; }
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { usage; exit 0; }
(($# >= 4)) || { usage >&2; exit 2; }
APP="$1" KIND="$2" RUNS="$3"
shift 3
FORMS=("$@")
# shellcheck source-path=SCRIPTDIR source=apps.sh
. "$REPO/bench/apps.sh"
[[ -n "${SRC_FILE[$APP]:-}" && -d "$REPO/bench/apps/$APP" ]] || { echo "unknown app $APP" >&2; exit 2; }
[[ "$KIND" =~ ^(cold|src|dep)$ ]] || { echo "KIND must be cold, src or dep" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive integer" >&2; exit 2; }
for form in "${FORMS[@]}"; do
    [[ "$form" =~ ^(naive|expert|literal|optimized)$ ]] || { echo "unknown form $form" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }
docker buildx version >/dev/null 2>&1 || { echo "docker buildx does not work (DOCKER_HOST=${DOCKER_HOST:-unset})" >&2; exit 2; }

WORK="$(mktemp -d /tmp/bsinterleave.XXXXXX)"
trap 'rm -rf --one-file-system "$WORK"' EXIT
CTX="$WORK/ctx"
cp -a "$REPO/bench/apps/$APP" "$CTX"
rm -rf "$CTX/dep-edit"
BS="${BUILDSPEC:-$REPO/target/debug/buildspec}"
dockerfile_of() {
    case "$1" in
        naive|expert) printf '%s\n' "$CTX/$1.Dockerfile" ;;
        literal) printf '%s\n' "$WORK/literal/Dockerfile" ;;
        optimized) printf '%s\n' "$WORK/optimized/Dockerfile" ;;
    esac
}
"$BS" compile --no-optimize -o "$WORK/literal" "$CTX/buildspec.kdl"
"$BS" compile -o "$WORK/optimized" "$CTX/buildspec.kdl"
# The compiled .dockerignore applies only beside the Dockerfile's own name.
for form in literal optimized; do cp "$WORK/$form/.dockerignore" "$WORK/$form/Dockerfile.dockerignore"; done

# Edits are unique across invocations too: the engine's cache outlives this script.
NONCE="$(date +%s)-$$"
EDITS=0
edit() {
    EDITS=$((EDITS + 1))
    local mark="$NONCE-$EDITS"
    case "$KIND" in
        src)
            local f="$CTX/${SRC_FILE[$APP]}"
            cp "$REPO/bench/apps/$APP/${SRC_FILE[$APP]}" "$f"
            sed -i "s/hello from the/hello $mark from the/" "$f"
            ;;
        dep)
            cp -a "$REPO/bench/apps/$APP/dep-edit/." "$CTX/"
            case "$APP" in
                python) echo "# edit $mark" >>"$CTX/requirements.txt" ;;
                rust) echo "# edit $mark" >>"$CTX/Cargo.toml" ;;
                go) echo "// edit $mark" >>"$CTX/go.mod" ;;
                node) jq --arg d "edit $mark" '.description = $d' "$CTX/package.json" >"$WORK/p.json" &&
                    mv "$WORK/p.json" "$CTX/package.json" ;;
            esac
            ;;
        cold)
            docker buildx prune -af >/dev/null 2>&1
            ;;
    esac
}

# build FORM RUN: one build; appends "FORM<TAB>WALL" to walls.tsv and the executed steps
# ("FORM<TAB>RUN<TAB>START<TAB>END<TAB>NAME", seconds of the day) to steps.tsv.
build() {
    local form="$1" run="$2" log="$WORK/build.log" t0 t1
    t0="$(date +%s.%N)"
    if ! docker buildx build --progress=rawjson --network=host -f "$(dockerfile_of "$form")" \
        -t "bsinterleave/$APP-$form" "$CTX" 2>"$log"; then
        tail -n 40 "$log" >&2
        echo "$APP/$form: build failed" >&2
        exit 1
    fi
    t1="$(date +%s.%N)"
    awk -v f="$form" -v a="$t0" -v b="$t1" 'BEGIN { printf "%s\t%.2f\n", f, b - a }' >>"$WORK/walls.tsv"
    jq -r '.vertexes[]? | [.digest, (.name // ""), (.started // ""), (.completed // ""), ((.cached // false) | tostring)] | @tsv' "$log" |
        awk -F'\t' -v f="$form" -v r="$run" '
            function secs(t) { split(substr(t, 12), p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
            !($1 in seen) { seen[$1] = 1; order[++n] = $1 }
            $2 != "" { name[$1] = $2 }
            $3 != "" { start[$1] = secs($3) }
            $4 != "" { end[$1] = secs($4) }
            $5 == "true" { cached[$1] = 1 }
            END {
                for (i = 1; i <= n; i++) {
                    d = order[i]
                    if (cached[d] || !(d in start) || !(d in end) || name[d] ~ /^\[internal\]/) continue
                    printf "%s\t%s\t%.3f\t%.3f\t%s\n", f, r, start[d], end[d], substr(name[d], 1, 100)
                }
            }' >>"$WORK/steps.tsv"
}

: >"$WORK/walls.tsv"
: >"$WORK/steps.tsv"
if [[ $KIND != cold ]]; then
    for form in "${FORMS[@]}"; do build "$form" 0; done
    : >"$WORK/walls.tsv"
    : >"$WORK/steps.tsv"
fi
n=${#FORMS[@]}
for ((run = 1; run <= RUNS; run++)); do
    for ((k = 0; k < n; k++)); do
        form="${FORMS[$(((run + k) % n))]}"
        edit
        build "$form" "$run"
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%s %s edit, %s run(s) per form, forms interleaved (%s; %s)\n' "$APP" "$KIND" "$RUNS" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(docker version --format 'dockerd {{.Server.Version}}')"
[[ $KIND == cold ]] && printf '(cold: a prune before every build)\n'
first=""
for form in "${FORMS[@]}"; do
    med="$(awk -F'\t' -v f="$form" '$1 == f { print $2 }' "$WORK/walls.tsv" | median)"
    all="$(awk -F'\t' -v f="$form" '$1 == f { printf "%s ", $2 }' "$WORK/walls.tsv")"
    [[ -z $first ]] && first="$med"
    printf '\n== %s: median %s s (÷ %s: %s); all: %s\n' "$form" "$med" "${FORMS[0]}" \
        "$(awk -v a="$med" -v b="$first" 'BEGIN { printf "%.2f", a / b }')" "$all"
    printf '   median step times (s), executed steps:\n'
    awk -F'\t' -v f="$form" '$1 == f { print $5 }' "$WORK/steps.tsv" | awk '!s[$0]++' | while IFS= read -r name; do
        printf '   %6s  %s\n' "$(awk -F'\t' -v f="$form" -v nm="$name" '$1 == f && $5 == nm { print $4 - $3 }' "$WORK/steps.tsv" | median)" "$name"
    done
    printf '   timeline of run %s (start end, s from the first step):\n' "$RUNS"
    awk -F'\t' -v f="$form" -v r="$RUNS" '$1 == f && $2 == r' "$WORK/steps.tsv" | sort -t$'\t' -k3,3g |
        awk -F'\t' 'NR == 1 { t0 = $3 } { printf "   %5.2f %5.2f  %s\n", $3 - t0, $4 - t0, $5 }'
done

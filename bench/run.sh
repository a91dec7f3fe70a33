#!/usr/bin/env bash
# How much does a change rebuild? Builds 4 reference apps (bench/apps/{rust,go,node,python})
# in 4 forms each against a real BuildKit engine, and writes bench/results/latest.md.
#
# Usage: bench/run.sh            (from anywhere; needs root, like scripts/engine/start.sh)
#
# Forms, per app:
#   naive      APP/naive.Dockerfile: one stage, COPY . . first (a newcomer's file)
#   expert     APP/expert.Dockerfile: hand-written multi-stage, manifests first, cache mounts
#   literal    `buildspec compile --no-optimize` of APP/buildspec.kdl (plain compile while
#              the binary has no --no-optimize; the report says so)
#   optimized  `buildspec compile` of APP/buildspec.kdl
#   generated  `buildspec compile` of the spec `buildspec init` writes for the app (its
#              hand-written buildspec.kdl removed first), judged against the same targets
# Measurements, per app x form, each repeated BENCH_RUNS times (medians reported; the forms
# of an app take turns going first, run by run):
#   cold       `docker buildx prune -af`, bench images removed, then a build: wall time and
#              the image size (`docker image inspect -f {{.Size}}`)
#   src edit   a one-line edit of the main source (a string), rebuild: wall time, and the
#              RUN/COPY/ADD/WORKDIR steps the engine re-executed (no `#N CACHED` line in the
#              --progress=plain log)
#   dep edit   APP/dep-edit/* (a manifest + lockfile adding or bumping one dependency,
#              prepared ahead) copied over the app, rebuild: wall time and steps re-executed
#   Each edit is reverted afterwards and a no-change rebuild checks that everything is
#   cached again (a warning in the report otherwise).
#   For the optimized form (and the literal one, with --no-optimize), `buildspec plan SPEC
#   --changed PATH... --format json` runs before each edited rebuild; its `rebuild: true`
#   steps are compared with the steps the engine re-executed (stage name + first line of the
#   instruction, whitespace-normalized). Skipped, with a note, while the binary has no `plan`.
# The report ends its tables with the targets of issues 4 and 19, judged on paired ratios
# (bench/paired.sh): per run, the judged form's figure ÷ the other form's from the same run;
# the median of those and its 95% sign-test interval. Cold ≤ 1.2× the better of naive and
# expert and size ≤ the expert's: on the median. Source edit ÷ expert and dependency edit ÷
# naive: a parity cell (BENCH_PARITY: the optimized form executes the same steps) is met
# when the interval's upper end ≤ 1.03; any other (the optimizer removes work) when the
# median and the upper end are both below 1. Plan exact: every run.
# Apps are copied to a temp dir; the repo's files are never edited.
#
# Environment:
#   BENCH_RUNS=6              repeats per measurement (6 is the fewest a 95% interval needs)
#   BENCH_PARITY="rust:src python:src python:dep go:src"
#                             the APP:EDIT cells where the optimized form re-executes the
#                             steps of the form it is judged against (see docs/benchmarks.md)
#   BENCH_APPS="rust go node python", BENCH_FORMS="naive expert literal optimized generated"
#   BUILDSPEC=PATH            the buildspec binary (default: target/debug/buildspec); it is
#                             copied to the temp dir first, so a rebuild meanwhile is harmless
#   BENCH_ENGINE=private      start a private engine (scripts/engine/start.sh --images all)
#                             in a temp state dir and purge it at the end; `existing`: use
#                             the engine DOCKER_HOST/DOCKER_CONFIG point at (it gets pruned!)
#   BENCH_OUT=PATH            the report (default bench/results/latest.md; a .tsv of every
#                             raw measurement is written beside it)
#   BENCH_KEEP=1              keep the temp dir (logs, compiled Dockerfiles) after the run
# Needs: bash, awk, jq, sort, and what scripts/engine/ needs. About 8 to 10 minutes a repeat
# on 2 cores (see docs/benchmarks.md).
# The report is markdown: backticks in single-quoted printf formats are meant literally.
# shellcheck disable=SC2016
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$REPO/bench"
RUNS="${BENCH_RUNS:-6}"
read -ra PARITY <<<"${BENCH_PARITY:-rust:src python:src python:dep go:src}"
read -ra APPS <<<"${BENCH_APPS:-rust go node python}"
read -ra FORMS <<<"${BENCH_FORMS:-naive expert literal optimized generated}"
OUT="${BENCH_OUT:-$BENCH/results/latest.md}"
ENGINE_MODE="${BENCH_ENGINE:-private}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_RUNS must be a positive integer" >&2; exit 2; }
case "${1:-}" in
    -h|--help) sed -n '2,/^# The report is markdown/{/^# The report/d;/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    "") ;;
    *) echo "usage: bench/run.sh (settings through BENCH_* variables; see --help)" >&2; exit 2 ;;
esac

# The exact command line, with the settings that were given.
CMDLINE=""
for v in BENCH_RUNS BENCH_PARITY BENCH_APPS BENCH_FORMS BUILDSPEC BENCH_ENGINE BENCH_OUT BENCH_KEEP; do
    [[ -n "${!v:-}" ]] && CMDLINE+="$v=$(printf '%q' "${!v}") "
done
CMDLINE+="bench/run.sh"

START=$SECONDS
say() { printf '[bench %s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - START))" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Source edit per app (SRC_FILE): that file gets "hello from the" → "hello again from the".
# shellcheck source-path=SCRIPTDIR source=apps.sh
. "$BENCH/apps.sh"
# shellcheck source-path=SCRIPTDIR source=paired.sh
. "$BENCH/paired.sh"
declare -A DEP_NOTE=(
    [rust]="Cargo.toml + Cargo.lock: add fastrand 2"
    [go]="go.mod: go 1.18 → 1.19 (stdlib only: no module proxy reachable, so no real dependency can be added)"
    [node]="package.json + package-lock.json: add dayjs 1.11.13"
    [python]="requirements.txt: add humanize==4.10.0"
)
for app in "${APPS[@]}"; do
    [[ -d "$BENCH/apps/$app" && -n "${SRC_FILE[$app]:-}" ]] || die "unknown app $app"
done
for form in "${FORMS[@]}"; do
    case "$form" in naive|expert|literal|optimized|generated) ;; *) die "unknown form $form" ;; esac
done
command -v jq >/dev/null || die "needs jq"

WORK="$(mktemp -d /tmp/bsbench.XXXXXX)"
ENGINE_STATE=""
cleanup() {
    local rc=$?
    if [[ -n "$ENGINE_STATE" ]]; then
        "$REPO/scripts/engine/stop.sh" "$ENGINE_STATE" --purge >/dev/null 2>&1 ||
            say "warning: could not stop the engine on $ENGINE_STATE"
    fi
    if ((rc == 0)) && [[ -z "${BENCH_KEEP:-}" ]]; then
        rm -rf --one-file-system "$WORK"
    else
        say "temp dir kept: $WORK (logs in $WORK/logs)"
    fi
}
trap cleanup EXIT
mkdir -p "$WORK/bin" "$WORK/logs" "$WORK/steps" "$WORK/plan"
TSV="$WORK/results.tsv"
: >"$TSV"

# --- buildspec -----------------------------------------------------------------------------
BS_SRC="${BUILDSPEC:-$REPO/target/debug/buildspec}"
[[ -x "$BS_SRC" ]] || die "no buildspec binary at $BS_SRC (cargo build, or set BUILDSPEC)"
cp "$BS_SRC" "$WORK/bin/buildspec"
BS="$WORK/bin/buildspec"
BS_VERSION="$("$BS" --version)"
BS_SHA="$(sha256sum "$BS" | cut -c1-12)"
BS_MTIME="$(date -r "$BS_SRC" '+%Y-%m-%d %H:%M')"
HAVE_NO_OPT=0
"$BS" compile --help 2>/dev/null | grep -q -- '--no-optimize' && HAVE_NO_OPT=1
HAVE_PLAN=0
"$BS" plan --help >/dev/null 2>&1 && HAVE_PLAN=1
say "buildspec: $BS_VERSION (sha256 $BS_SHA…, built $BS_MTIME); --no-optimize: $HAVE_NO_OPT; plan: $HAVE_PLAN"

# --- engine --------------------------------------------------------------------------------
if [[ "$ENGINE_MODE" == private ]]; then
    ENGINE_STATE="$(mktemp -d /tmp/bsbench-engine.XXXXXX)"
    rmdir "$ENGINE_STATE"
    say "starting a private engine on $ENGINE_STATE"
    eval "$("$REPO/scripts/engine/start.sh" "$ENGINE_STATE" --images all 2>"$WORK/logs/engine-start.log")" ||
        { tail -n 20 "$WORK/logs/engine-start.log" >&2; die "engine did not start"; }
elif [[ "$ENGINE_MODE" != existing ]]; then
    die "BENCH_ENGINE must be private or existing"
fi
docker buildx version >/dev/null 2>&1 || die "docker buildx does not work (DOCKER_HOST=${DOCKER_HOST:-unset})"
ENGINE_VERSION="dockerd $(docker version --format '{{.Server.Version}}'), $(docker buildx version | awk '{ print $1, $2 }'), $(nproc) cores"
say "engine: $ENGINE_VERSION"

# --- per-app work copies -------------------------------------------------------------------
# WORK/APP/ctx is the build context (edited and reverted); WORK/APP/orig a pristine copy;
# WORK/APP/out/{literal,optimized} the compiled Dockerfiles (outside the context).
prepare_app() {
    local app="$1" d="$WORK/$1"
    mkdir -p "$d"
    cp -a "$BENCH/apps/$app" "$d/ctx"
    rm -rf "$d/ctx/dep-edit"
    cp -a "$d/ctx" "$d/orig"
    if ((HAVE_NO_OPT)); then
        "$BS" compile --no-optimize -o "$d/out/literal" "$d/ctx/buildspec.kdl" 2>"$WORK/logs/$app-compile-literal.err" ||
            { cat "$WORK/logs/$app-compile-literal.err" >&2; die "$app: compile --no-optimize failed"; }
    else
        "$BS" compile -o "$d/out/literal" "$d/ctx/buildspec.kdl" 2>"$WORK/logs/$app-compile-literal.err" ||
            { cat "$WORK/logs/$app-compile-literal.err" >&2; die "$app: compile failed"; }
    fi
    "$BS" compile -o "$d/out/optimized" "$d/ctx/buildspec.kdl" 2>"$WORK/logs/$app-compile-optimized.err" ||
        { cat "$WORK/logs/$app-compile-optimized.err" >&2; die "$app: compile failed"; }
    # The generated form: what `init` writes for the app, kept beside the hand-written spec
    # (same directory, so the same context).
    cp -a "$d/orig" "$d/init" && rm -f "$d/init/buildspec.kdl"
    "$BS" init "$d/init" >"$WORK/logs/$app-init.log" 2>&1 || { cat "$WORK/logs/$app-init.log" >&2; die "$app: init failed"; }
    cp "$d/init/buildspec.kdl" "$d/ctx/buildspec.generated.kdl"
    cp "$d/init/buildspec.kdl" "$d/orig/buildspec.generated.kdl"
    "$BS" compile -o "$d/out/generated" "$d/ctx/buildspec.generated.kdl" 2>"$WORK/logs/$app-compile-generated.err" ||
        { cat "$WORK/logs/$app-compile-generated.err" >&2; die "$app: compile of the generated spec failed"; }
}

dockerfile_of() { # APP FORM
    case "$2" in
        naive|expert) printf '%s\n' "$WORK/$1/ctx/$2.Dockerfile" ;;
        *) printf '%s\n' "$WORK/$1/out/$2/Dockerfile" ;;
    esac
}

# Steps the engine executed (not CACHED) in a --progress=plain log: "STAGE<TAB>INSTRUCTION"
# per RUN/COPY/ADD/WORKDIR vertex, in log order. A heredoc's " (first body line...)" summary
# is cut, so the instruction is its first Dockerfile line; white space is normalized.
executed_steps() {
    awk '
        /^#[0-9]+ \[/ {
            id = $1
            rest = substr($0, length($1) + 2)
            close_at = index(rest, "] ")
            if (!close_at) next
            label = substr(rest, 2, close_at - 2)
            instr = substr(rest, close_at + 2)
            if (instr !~ /^(RUN|COPY|ADD|WORKDIR)([ \t]|$)/) next
            if (id in name) next
            stage = label
            sub(/ *[0-9]+\/[0-9]+$/, "", stage)
            if (stage == "") stage = "-"
            if (match(instr, /<<-?["\047]?[A-Za-z0-9_]+["\047]? \(/)) instr = substr(instr, 1, RSTART + RLENGTH - 3)
            gsub(/[ \t]+/, " ", instr)
            sub(/ $/, "", instr)
            name[id] = stage "\t" instr
            order[++n] = id
        }
        /^#[0-9]+ CACHED$/ { cached[$1] = 1 }
        END { for (i = 1; i <= n; i++) if (!(order[i] in cached)) print name[order[i]] }
    ' "$1"
}

# build APP FORM LABEL RUN: one build; sets SECS and STEPS (count), writes the step list to
# WORK/steps/APP-FORM-LABEL-rRUN.txt.
build() {
    local app="$1" form="$2" label="$3" run="$4"
    local log="$WORK/logs/$app-$form-$label-r$run.log" df t0 t1
    df="$(dockerfile_of "$app" "$form")"
    t0="$(date +%s.%N)"
    if ! docker buildx build --progress=plain --network=host -f "$df" -t "bsbench/$app-$form:latest" \
        "$WORK/$app/ctx" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "$app/$form: $label build failed (log: $log)"
    fi
    t1="$(date +%s.%N)"
    SECS="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
    executed_steps "$log" >"$WORK/steps/$app-$form-$label-r$run.txt"
    STEPS="$(wc -l <"$WORK/steps/$app-$form-$label-r$run.txt")"
}

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$TSV"; }

# Edits. The source edit changes one string; the dependency edit copies APP/dep-edit/*.
apply_src_edit() {
    local f="$WORK/$1/ctx/${SRC_FILE[$1]}"
    sed -i 's/hello from the/hello again from the/' "$f"
    ! cmp -s "$f" "$WORK/$1/orig/${SRC_FILE[$1]}" || die "$1: the source edit changed nothing in ${SRC_FILE[$1]}"
    CHANGED=("${SRC_FILE[$1]}")
}
apply_dep_edit() {
    local f
    CHANGED=()
    while IFS= read -r f; do
        cp "$BENCH/apps/$1/dep-edit/$f" "$WORK/$1/ctx/$f"
        CHANGED+=("$f")
    done < <(cd "$BENCH/apps/$1/dep-edit" && find . -type f -printf '%P\n' | sort)
    ((${#CHANGED[@]})) || die "$1: bench/apps/$1/dep-edit is empty"
}
# Reverts by copying the original content back with a new mtime (as an editor would), so
# that tools keyed on mtimes inside cache mounts (cargo, go) see a change.
revert() {
    local f
    for f in "${CHANGED[@]}"; do cp "$WORK/$1/orig/$f" "$WORK/$1/ctx/$f"; done
}

# plan_run APP FORM LABEL RUN: `buildspec plan` for the current edit (CHANGED), before the
# build; compare_plan then sets PLAN to "yes", "no", "error" or "n/a".
plan_enabled() { # FORM: whether the plan is checked for this form
    ((HAVE_PLAN)) || return 1
    [[ $1 == optimized || $1 == generated ]] || { [[ $1 == literal ]] && ((HAVE_NO_OPT)); }
}
plan_run() {
    local app="$1" form="$2" label="$3" run="$4" base="$WORK/plan/$1-$2-$3-r$4" extra=() spec=buildspec.kdl
    plan_enabled "$form" || return 0
    [[ $form == literal ]] && extra=(--no-optimize)
    [[ $form == generated ]] && spec=buildspec.generated.kdl
    if ! (cd "$WORK/$app/ctx" &&
        "$BS" plan "$WORK/$app/ctx/$spec" "${extra[@]}" --changed "${CHANGED[@]}" --format json) \
        >"$base.json" 2>"$base.err"; then
        : >"$base.failed"
        return 0
    fi
    if ! jq -r '.steps[] | select(.rebuild == true) | [.stage, (.instruction | split("\n")[0])] | @tsv' \
        "$base.json" >"$base.planned" 2>>"$base.err"; then
        : >"$base.failed"
    fi
}
compare_plan() {
    local app="$1" form="$2" label="$3" run="$4" base="$WORK/plan/$1-$2-$3-r$4"
    if ! plan_enabled "$form"; then PLAN="n/a"; return; fi
    if [[ -e "$base.failed" ]]; then PLAN="error"; return; fi
    # Plan lines: whitespace-normalized; a first line ending in "\" matches an engine step
    # that starts with it (the engine names a step by its whole joined instruction).
    awk -F'\t' -v out="$base.diff" '
        # The heredoc summary BuildKit appends to a vertex name (" (set -e...)") is cut on
        # both sides, so either spelling of a heredoc RUN compares equal.
        function norm(s) {
            gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s)
            if (match(s, /<<-?["\047]?[A-Za-z0-9_]+["\047]? \(/)) s = substr(s, 1, RSTART + RLENGTH - 3)
            return s
        }
        FILENAME == ARGV[1] {
            s = norm($2); pre = 0
            if (s ~ /\\$/) { sub(/ ?\\$/, "", s); pre = 1 }
            np++; pstage[np] = $1; pinstr[np] = s; ppre[np] = pre; next
        }
        { ne++; estage[ne] = $1; einstr[ne] = norm($2) }
        END {
            for (i = 1; i <= np; i++) for (j = 1; j <= ne; j++) {
                if (used[j] || pstage[i] != estage[j]) continue
                if (pinstr[i] == einstr[j] || (ppre[i] && index(einstr[j], pinstr[i] " ") == 1)) {
                    used[j] = 1; hit[i] = 1; break
                }
            }
            d = 0
            for (i = 1; i <= np; i++) if (!hit[i]) { print "plan only: " pstage[i] ": " pinstr[i] > out; d++ }
            for (j = 1; j <= ne; j++) if (!used[j]) { print "engine only: " estage[j] ": " einstr[j] > out; d++ }
            if (!d) printf "" > out
            exit d ? 1 : 0
        }' "$base.planned" "$WORK/steps/$app-$form-$label-r$run.txt" && PLAN=yes || PLAN=no
}

clean_engine() {
    local imgs
    mapfile -t imgs < <(docker image ls -q 'bsbench/*' | sort -u)
    ((${#imgs[@]} == 0)) || docker image rm -f "${imgs[@]}" >/dev/null
    docker buildx prune -af >/dev/null 2>&1
}

# --- the run -------------------------------------------------------------------------------
for app in "${APPS[@]}"; do prepare_app "$app"; done
total=$((RUNS * ${#APPS[@]} * ${#FORMS[@]}))
done_n=0
for ((run = 1; run <= RUNS; run++)); do
    # The forms take turns going first, run by run, so that the machine's drift over an app's
    # minutes falls on every form alike.
    shift_by=$(((run - 1) % ${#FORMS[@]}))
    RUN_FORMS=("${FORMS[@]:shift_by}" "${FORMS[@]:0:shift_by}")
    for app in "${APPS[@]}"; do
        for form in "${RUN_FORMS[@]}"; do
            done_n=$((done_n + 1))
            tag="bsbench/$app-$form:latest"
            clean_engine
            build "$app" "$form" cold "$run"
            size="$(docker image inspect -f '{{.Size}}' "$tag")"
            record "$app" "$form" "$run" cold_s "$SECS"
            record "$app" "$form" "$run" size_b "$size"
            msg="cold ${SECS}s $((size / 1000000))MB"

            for kind in src dep; do
                if [[ $kind == src ]]; then apply_src_edit "$app"; else apply_dep_edit "$app"; fi
                plan_run "$app" "$form" "$kind" "$run"
                build "$app" "$form" "$kind" "$run"
                record "$app" "$form" "$run" "${kind}_s" "$SECS"
                record "$app" "$form" "$run" "${kind}_steps" "$STEPS"
                msg+=", $kind edit ${SECS}s/${STEPS} steps"
                if plan_enabled "$form"; then
                    compare_plan "$app" "$form" "$kind" "$run"
                    record "$app" "$form" "$run" "${kind}_plan" "$PLAN"
                    msg+=" (plan exact: $PLAN)"
                fi
                revert "$app"
                build "$app" "$form" "$kind-revert" "$run"
                record "$app" "$form" "$run" "${kind}_revert_steps" "$STEPS"
                ((STEPS == 0)) || say "warning: $app/$form: $STEPS steps re-ran after reverting the $kind edit"
            done
            say "($done_n/$total) run $run/$RUNS $app/$form: $msg"
        done
    done
done
clean_engine

# --- the report ----------------------------------------------------------------------------
# values APP FORM METRIC: the values of all runs, one a line.
values() { awk -F'\t' -v a="$1" -v f="$2" -v m="$3" '$1 == a && $2 == f && $4 == m { print $5 }' "$TSV"; }
med() { values "$1" "$2" "$3" | paired_median; }
fmt1() { [[ -n "$1" ]] && awk -v x="$1" 'BEGIN { printf "%.1f", x }' || printf '–'; }
fmt2() { [[ -n "$1" ]] && awk -v x="$1" 'BEGIN { printf "%.2f", x }' || printf '–'; }
mb() { [[ -n "$1" ]] && awk -v x="$1" 'BEGIN { printf "%.1f", x / 1e6 }' || printf '–'; }
plan_cell() { # APP FORM: "src yes, dep no" style, over all runs
    local app="$1" form="$2" k vals out=""
    for k in src dep; do
        vals="$(values "$app" "$form" "${k}_plan" | sort -u | paste -sd/ -)"
        out+="${out:+, }$k ${vals:-–}"
    done
    printf '%s' "$out"
}
steps_block() { # APP FORM KIND: the step list of the last run, and whether runs agreed
    local app="$1" form="$2" kind="$3" r first="" same=1
    for ((r = 1; r <= RUNS; r++)); do
        local f="$WORK/steps/$app-$form-$kind-r$r.txt"
        [[ -f "$f" ]] || continue
        # As sets: parallel stages finish in any order.
        if [[ -z "$first" ]]; then first="$f"; elif ! cmp -s <(sort "$first") <(sort "$f"); then same=0; fi
    done
    local last="$WORK/steps/$app-$form-$kind-r$RUNS.txt"
    if [[ ! -s "$last" ]]; then
        printf '  - %s edit: nothing re-executed\n' "$kind"
    else
        printf '  - %s edit:' "$kind"
        awk -F'\t' '{ printf "%s `%s`", (NR > 1 ? ";" : ""), ($1 == "-" ? "" : $1 ": ") $2 }' "$last"
        printf '\n'
    fi
    ((same)) || printf '    (the set differed between runs; this is the last run)\n'
}
# ratios APP A B METRIC: A's value ÷ B's, run by run (runs where both have one).
ratios() {
    awk -F'\t' -v a="$1" -v x="$2" -v y="$3" -v m="$4" '
        $1 == a && $4 == m && ($2 == x || $2 == y) { print $3, ($2 == x ? "A" : "B"), $5 }' "$TSV" | paired_divide
}
# best_cold_ratios APP FORM: FORM's cold time ÷ the better of naive's and expert's, run by run.
best_cold_ratios() {
    awk -F'\t' -v a="$1" -v x="$2" '
        $1 == a && $4 == "cold_s" && ($2 == x || $2 == "naive" || $2 == "expert") {
            if ($2 == x) print $3, "A", $5; else print $3, "B", $5 }' "$TSV" | paired_divide 2
}
edit_rule() { # APP EDIT: parity or fewer
    local c
    for c in "${PARITY[@]}"; do [[ $c == "$1:$2" ]] && { echo parity; return; }; done
    echo fewer
}
label_of() {
    if [[ $1 == literal ]] && ((!HAVE_NO_OPT)); then printf 'literal\\*'; else printf '%s' "$1"; fi
}

mkdir -p "$(dirname "$OUT")"
{
    printf '# buildspec rebuild benchmark\n\n'
    printf 'Command: `%s`\n\n' "$CMDLINE"
    printf -- '- Date: %s; total time %dm%02ds; %s run(s) per measurement, medians shown; ratios are paired (below).\n' \
        "$(date -u '+%Y-%m-%d %H:%M UTC')" $(((SECONDS - START) / 60)) $(((SECONDS - START) % 60)) "$RUNS"
    printf -- '- buildspec: %s (binary sha256 %s…, built %s; repo HEAD %s).\n' "$BS_VERSION" "$BS_SHA" "$BS_MTIME" \
        "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
    printf -- '- Engine: %s; base images are the local stand-ins of scripts/engine/base-images.sh.\n' "$ENGINE_VERSION"
    printf -- '- Times are wall seconds of `docker buildx build --progress=plain --network=host`. Cold: after `docker buildx prune -af`. Steps: RUN/COPY/ADD/WORKDIR vertices without a `CACHED` line.\n'
    printf -- '- Source edit: one string in the main source file. Dependency edit: the files of `bench/apps/APP/dep-edit/`.\n'
    ((HAVE_NO_OPT)) || printf -- '- \\* `--no-optimize` is not in this binary: the literal form is a plain `buildspec compile`.\n'
    ((HAVE_PLAN)) || printf -- '- Plan check skipped: this binary has no `buildspec plan` command.\n'
    if awk -F'\t' '$4 ~ /_revert_steps$/ && $5 > 0 { bad = 1 } END { exit !bad }' "$TSV"; then
        printf -- '- **Warning**: some no-change rebuilds after reverting an edit re-ran steps (see below).\n'
    else
        printf -- '- Revert check: every no-change rebuild after reverting an edit was fully cached.\n'
    fi
    for app in "${APPS[@]}"; do
        if cmp -s "$WORK/$app/out/literal/Dockerfile" "$WORK/$app/out/optimized/Dockerfile"; then
            printf -- '- %s: the optimized Dockerfile is byte-identical to the literal one.\n' "$app"
        fi
    done
    printf '\n| app | form | cold s | size MB | src-edit s | src-edit steps | dep-edit s | dep-edit steps | plan exact |\n'
    printf '|---|---|---:|---:|---:|---:|---:|---:|---|\n'
    for app in "${APPS[@]}"; do
        for form in "${FORMS[@]}"; do
            pc="–"
            if plan_enabled "$form"; then pc="$(plan_cell "$app" "$form")"; fi
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$app" "$(label_of "$form")" \
                "$(fmt1 "$(med "$app" "$form" cold_s)")" "$(mb "$(med "$app" "$form" size_b)")" \
                "$(fmt2 "$(med "$app" "$form" src_s)")" "$(med "$app" "$form" src_steps)" \
                "$(fmt2 "$(med "$app" "$form" dep_s)")" "$(med "$app" "$form" dep_steps)" "$pc"
        done
    done

    have() { local f; for f in "${FORMS[@]}"; do [[ $f == "$1" ]] && return 0; done; return 1; }
    if have optimized; then
        for base in expert naive; do
            have "$base" || continue
            printf '\n### optimized ÷ %s, paired (below 1: optimized is faster or smaller)\n\n' "$base"
            printf 'Median of the per-run ratios [95%% interval]:\n\n'
            printf '| app | cold | size | src edit | dep edit |\n|---|---:|---:|---:|---:|\n'
            for app in "${APPS[@]}"; do
                printf '| %s | %s | %s | %s | %s |\n' "$app" \
                    "$(ratios "$app" optimized "$base" cold_s | paired_cell -)" \
                    "$(ratios "$app" optimized "$base" size_b | paired_cell -)" \
                    "$(ratios "$app" optimized "$base" src_s | paired_cell -)" \
                    "$(ratios "$app" optimized "$base" dep_s | paired_cell -)"
            done
        done
    fi

    for judged in optimized generated; do
    if have "$judged" && have naive && have expert; then
        printf '\n### Targets (%s): met or not, on paired ratios\n\n' "$judged"
        printf 'Each cell: the median of the per-run ratios [its 95%% sign-test interval] and the verdict. Cold and size: the median against the bound. Edits: `parity` cells (the same steps re-executed) are met when the upper end ≤ %s; the others (the optimizer removes work) when the median and the upper end are below 1 (bench/paired.sh).\n\n' "$PAIRED_PARITY_LIMIT"
        printf '| app | cold ÷ the better of naive and expert (≤ 1.2) | size ÷ expert (≤ 1) | src edit ÷ expert | dep edit ÷ naive | plan exact |\n'
        printf '|---|---|---|---|---|---|\n'
        for app in "${APPS[@]}"; do
            plans="$( (values "$app" "$judged" src_plan; values "$app" "$judged" dep_plan) | sort -u | paste -sd/ -)"
            printf '| %s | %s | %s | %s | %s | %s |\n' "$app" \
                "$(best_cold_ratios "$app" "$judged" | paired_cell limit:1.2)" \
                "$(ratios "$app" "$judged" expert size_b | paired_cell limit:1)" \
                "$(ratios "$app" "$judged" expert src_s | paired_cell "$(edit_rule "$app" src)")" \
                "$(ratios "$app" "$judged" naive dep_s | paired_cell "$(edit_rule "$app" dep)")" \
                "$([[ $plans == yes ]] && echo yes || echo "**${plans:-–}**")"
        done
    fi
    done

    printf '\n## Steps re-executed\n'
    for app in "${APPS[@]}"; do
        printf '\n**%s** (source edit: `%s`; dependency edit: %s)\n\n' "$app" "${SRC_FILE[$app]}" "${DEP_NOTE[$app]}"
        for form in "${FORMS[@]}"; do
            printf -- '- %s\n' "$(label_of "$form")"
            steps_block "$app" "$form" src
            steps_block "$app" "$form" dep
            for k in src dep; do
                bad="$(values "$app" "$form" "${k}_revert_steps" | awk '$1 > 0' | head -1)"
                [[ -z "$bad" ]] || printf '  - warning: %s steps re-ran after reverting the %s edit\n' "$bad" "$k"
            done
        done
    done

    if ((HAVE_PLAN)); then
        printf '\n## Plan check\n\n'
        printf '`buildspec plan SPEC --changed PATH... --format json` (with `--no-optimize` for the literal form) against the steps the engine re-executed.\n\n'
        any=0
        for app in "${APPS[@]}"; do
            for form in "${FORMS[@]}"; do
                plan_enabled "$form" || continue
                for k in src dep; do
                    for ((r = 1; r <= RUNS; r++)); do
                        base="$WORK/plan/$app-$form-$k-r$r"
                        if [[ -e "$base.failed" ]]; then
                            printf -- '- %s/%s, %s edit, run %d: `buildspec plan` failed: %s\n' "$app" "$form" "$k" "$r" \
                                "$(head -c 300 "$base.err" | tr '\n' ' ')"
                            any=1
                        elif [[ -s "$base.diff" ]]; then
                            printf -- '- %s/%s, %s edit, run %d:\n' "$app" "$form" "$k" "$r"
                            sed 's/^/  - /' "$base.diff"
                            any=1
                        fi
                    done
                done
            done
        done
        ((any)) || printf 'The plan matched the engine exactly for every edit.\n'
    fi
} >"$OUT"
cp "$TSV" "${OUT%.md}.tsv"
say "done in $(((SECONDS - START) / 60))m$(((SECONDS - START) % 60))s: $OUT"

#!/usr/bin/env bash
# Crash and concurrency soaks of `--backend oci` (docs/reliability.md).
#
#  kills:  SOAK_KILLS SIGKILLs of running native builds and pushes, each at
#          a random point (0 to 1.1 × an unkilled one-file-edit push's time),
#          each attempt on a new edit so there is work to cut short (attempts
#          that end before their kill are not counted). After each kill: any
#          output layout is whole or absent, any registry tag names only blobs
#          the registry holds; every tenth attempt and at the end `buildspec
#          cache verify` passes. Then a build and a push that must complete:
#          the layout whole, the pushed image copied out by skopeo (which
#          checks every digest), the cache verified.
#  rounds: SOAK_ROUNDS rounds of 4 builds at once on one cache, two specs
#          twice each: all succeed, each pair gives one manifest digest,
#          every output is whole, the cache verifies after each round.
#
# Usage: scripts/soak.sh [kills] [rounds]     (default: both)
# Environment:
#   SOAK_KILLS=200  SOAK_ROUNDS=20   (CI runs 20 and 2)
#   BUILDSPEC=PATH  the binary (default: target/debug/buildspec, built if missing)
#   SOAK_OUT=PATH   the report, a markdown table (default: stdout only)
# Needs runc, busybox-static, docker-registry, skopeo (scripts/engine/install.sh).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 0; }
KILLS="${SOAK_KILLS:-200}"
ROUNDS="${SOAK_ROUNDS:-20}"
MODES=("$@")
[[ ${#MODES[@]} -gt 0 ]] || MODES=(kills rounds)
if [[ -n "${BUILDSPEC:-}" ]]; then
    BIN="$BUILDSPEC"
    [[ -x "$BIN" ]] || { echo "soak: BUILDSPEC=$BIN is not an executable" >&2; exit 1; }
else
    BIN="$REPO/target/debug/buildspec"
    [[ -x "$BIN" ]] || (cd "$REPO" && cargo build --quiet)
fi
for tool in runc docker-registry skopeo busybox python3; do
    command -v "$tool" >/dev/null || { echo "soak: $tool is missing (scripts/engine/install.sh installs it)" >&2; exit 1; }
done

WORK="$(mktemp -d)"
REGISTRY_PID=""
cleanup() {
    [[ -n "$REGISTRY_PID" ]] && kill "$REGISTRY_PID" 2>/dev/null || true
    # Orphaned containers of killed builds end with their step; wait, then clean.
    for _ in $(seq 300); do pgrep -f "runc --root $WORK" >/dev/null || break; sleep 0.1; done
    rm -rf "$WORK" || true
}
trap cleanup EXIT
fail() { echo "soak: FAILED: $*" >&2; exit 1; }

# --- a registry on a free loopback port, no auth -----------------------------
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
REGISTRY="127.0.0.1:$PORT"
mkdir -p "$WORK/registry"
cat > "$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/registry/data
http:
  addr: $REGISTRY
EOF
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

# --- the busybox base, built by buildspec from scratch -----------------------
CACHE="$WORK/cache"
mkdir -p "$WORK/base/rootfs/bin"
cp /bin/busybox "$WORK/base/rootfs/bin/busybox"
for applet in sh sleep head cat mkdir echo ls rm true wc; do ln -s busybox "$WORK/base/rootfs/bin/$applet"; done
printf 'buildspec 1\nruntime "base" from="scratch" {\n    copy "rootfs/" to="/"\n    env PATH="/bin"\n}\n' > "$WORK/base/buildspec.kdl"
(cd "$WORK/base" && "$BIN" build --backend oci --cache-dir "$CACHE" --output "oci:$WORK/base-layout:base" >/dev/null 2>"$WORK/base.log") || { cat "$WORK/base.log" >&2; fail "building the base"; }
BASE="busybox:test=oci:$WORK/base-layout:base"

# A context: two COPYs and two RUNs, one of them writing a few megabytes.
make_context() { # DIR CONTENT
    mkdir -p "$1/src"
    echo "$2" > "$1/src/main.txt"
    echo "dependencies of $2" > "$1/deps.txt"
    cat > "$1/buildspec.kdl" <<'EOF'
buildspec 1
runtime "app" from="busybox:test" {
    copy "deps.txt" to="/deps.txt"
    run "cat /deps.txt > /built-deps.txt && head -c 4000000 /dev/zero > /zeros && sleep 0.2"
    copy "src/" to="/app/src/"
    run "cat /app/src/main.txt > /app/out.txt && sleep 0.1"
    cmd "cat" "/app/out.txt"
}
EOF
}

build() { # CTX OUTPUT [ARGS…]
    local ctx="$1" output="$2"; shift 2
    (cd "$ctx" && exec "$BIN" build --backend oci --format json --cache-dir "$CACHE" --base "$BASE" --output "$output" "$@")
}

# As `build`, in the background: the subshell execs the binary, so $! is
# buildspec itself (a function run with & would be a shell around it, and
# a SIGKILL would kill only that shell).
build_in_background() { # CTX OUTPUT
    (cd "$1" && exec "$BIN" build --backend oci --format json --cache-dir "$CACHE" --base "$BASE" --output "$2") >/dev/null 2>&1 &
}

# Every blob of an OCI layout hashes to its name, and what index.json names is there.
check_layout() { # DIR
    python3 - "$1" <<'EOF'
import hashlib, json, os, sys
root = sys.argv[1]
blobs = os.path.join(root, "blobs", "sha256")
for name in os.listdir(blobs) if os.path.isdir(blobs) else []:
    with open(os.path.join(blobs, name), "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != name:
            sys.exit(f"{root}: blob {name} does not match its name")
index = os.path.join(root, "index.json")
if os.path.exists(index):
    def walk(digest):
        path = os.path.join(blobs, digest.split(":", 1)[1])
        if not os.path.exists(path):
            sys.exit(f"{root}: {digest} is named but missing")
        doc = json.load(open(path, "rb"))
        for d in doc.get("manifests", []) + doc.get("layers", []) + ([doc["config"]] if "config" in doc else []):
            if d["mediaType"].endswith("json") and ("manifests" in doc):
                walk(d["digest"])
            elif not os.path.exists(os.path.join(blobs, d["digest"].split(":", 1)[1])):
                sys.exit(f"{root}: {d['digest']} is named but missing")
    for m in json.load(open(index, "rb"))["manifests"]:
        walk(m["digest"])
EOF
}

# A tag of soak/app, if the registry has it, names only blobs it holds.
check_registry_tag() { # TAG
    python3 - "$WORK/registry/data/docker/registry/v2" "$1" <<'EOF'
import json, os, sys
root, tag = sys.argv[1], sys.argv[2]
link = os.path.join(root, "repositories/soak/app/_manifests/tags", tag, "current/link")
if not os.path.exists(link):
    sys.exit(0)
blob = lambda d: os.path.join(root, "blobs/sha256", d[7:9], d[7:], "data")
doc = json.load(open(blob(open(link).read().strip()), "rb"))
for d in [doc["config"]] + doc["layers"]:
    if not os.path.exists(blob(d["digest"])):
        sys.exit(f"tag {tag} names {d['digest']}, which the registry does not hold")
EOF
}

verify_cache() {
    "$BIN" cache verify --cache-dir "$CACHE" >"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log" >&2; fail "cache verify after $1"; }
}

wait_for_orphans() {
    for _ in $(seq 600); do pgrep -f "runc --root $CACHE" >/dev/null || return 0; sleep 0.1; done
    fail "a killed build's container did not end"
}

report=()

run_kills() {
    local ctx="$WORK/killed"
    make_context "$ctx" "warm-up"
    local started=$SECONDS t0 t1
    build "$ctx" "oci:$WORK/warm" >/dev/null 2>"$WORK/warm.log" || { cat "$WORK/warm.log" >&2; fail "the unkilled build"; }
    # The kill points span a typical attempt: a one-file edit, pushed.
    echo "timed" > "$ctx/src/main.txt"
    t0=$(date +%s%N)
    build "$ctx" "registry:$REGISTRY/soak/app:timed" >/dev/null 2>"$WORK/warm.log" || { cat "$WORK/warm.log" >&2; fail "the unkilled push"; }
    t1=$(date +%s%N)
    local span_ms=$(( (t1 - t0) / 1000000 * 11 / 10 ))
    # Only a kill that meets a running build counts: attempt until KILLS did.
    local interrupted=0 pushes=0 i=0
    while (( interrupted < KILLS )); do
        i=$((i + 1))
        (( i <= 3 * KILLS )) || fail "only $interrupted of $((i - 1)) kills met a running build"
        echo "kill $i $RANDOM" > "$ctx/src/main.txt"
        (( i % 5 == 0 )) && echo "deps $i" > "$ctx/deps.txt"
        local out
        if (( i % 2 == 0 )); then out="registry:$REGISTRY/soak/app:k$i"; else out="oci:$WORK/out-$i"; fi
        local delay_ms=$(( (RANDOM * 32768 + RANDOM) % (span_ms + 1) ))
        build_in_background "$ctx" "$out"
        local pid=$!
        sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
        if kill -0 "$pid" 2>/dev/null; then
            interrupted=$((interrupted + 1))
            [[ "$out" == registry:* ]] && pushes=$((pushes + 1))
        fi
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        # The kill met buildspec itself: nothing of this attempt runs on
        # but the orphaned container of a step it was running.
        if pgrep -f -- "--output $out\$" >/dev/null; then fail "attempt $i: buildspec survived its SIGKILL"; fi
        if [[ "$out" == oci:* ]]; then
            check_layout "${out#oci:}" || fail "kill $i left a corrupt output"
        else
            check_registry_tag "k$i" || fail "kill $i left a manifest naming a missing blob"
        fi
        if (( i % 10 == 0 )); then wait_for_orphans; verify_cache "attempt $i"; fi
    done
    wait_for_orphans
    verify_cache "$KILLS kills"
    echo "final $RANDOM" > "$ctx/src/main.txt"
    build "$ctx" "oci:$WORK/final" >"$WORK/final.json" 2>"$WORK/final.log" || { cat "$WORK/final.log" >&2; fail "the build after the kills"; }
    check_layout "$WORK/final" || fail "the final output is not whole"
    build "$ctx" "registry:$REGISTRY/soak/app:final" >/dev/null 2>"$WORK/push.log" || { cat "$WORK/push.log" >&2; fail "the push after the kills"; }
    skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/soak/app:final" "oci:$WORK/copied:final" || fail "skopeo cannot copy the pushed image"
    verify_cache "the final build"
    report+=("| kills | $KILLS SIGKILLs of running builds ($pushes of them builds that push), at random points 0–${span_ms} ms in; $((i - KILLS)) more attempts ended before their kill | $((SECONDS - started)) s | 0 corrupt outputs or registry tags, cache verified every 10 attempts and at the end, final build, push and skopeo copy whole |")
}

run_rounds() {
    local started=$SECONDS
    for r in $(seq 1 "$ROUNDS"); do
        local pids=() outs=()
        for j in 0 1 2 3; do
            local ctx="$WORK/round-$r-$j"
            # Contexts 0 and 1 are one spec, 2 and 3 another.
            make_context "$ctx" "round $r spec $((j / 2))"
            outs+=("$WORK/round-$r-$j.json")
            build "$ctx" "oci:$WORK/round-$r-$j-out" >"${outs[$j]}" 2>"$WORK/round-$r-$j.log" &
            pids+=($!)
        done
        for j in 0 1 2 3; do
            wait "${pids[$j]}" || { cat "$WORK/round-$r-$j.log" >&2; fail "round $r build $j"; }
            check_layout "$WORK/round-$r-$j-out" || fail "round $r build $j wrote a corrupt output"
        done
        local digests=()
        for j in 0 1 2 3; do digests+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"])' "${outs[$j]}")"); done
        [[ "${digests[0]}" == "${digests[1]}" && "${digests[2]}" == "${digests[3]}" && "${digests[0]}" != "${digests[2]}" ]] \
            || fail "round $r: the same spec built at once gave different images: ${digests[*]}"
        verify_cache "round $r"
    done
    report+=("| rounds | $ROUNDS rounds of 4 builds at once on one cache | $((SECONDS - started)) s | every build succeeded, each pair one digest, outputs whole, cache verified after every round |")
}

for mode in "${MODES[@]}"; do
    case "$mode" in
        kills) run_kills ;;
        rounds) run_rounds ;;
        *) fail "unknown soak: $mode (kills or rounds)" ;;
    esac
done

{
    echo "Command: \`SOAK_KILLS=$KILLS SOAK_ROUNDS=$ROUNDS scripts/soak.sh ${MODES[*]}\` ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(basename "$BIN") at $(git -C "$REPO" rev-parse --short HEAD))"
    echo
    echo "| soak | what | time | result |"
    echo "|---|---|---|---|"
    printf '%s\n' "${report[@]}"
} | tee "${SOAK_OUT:-/dev/null}"

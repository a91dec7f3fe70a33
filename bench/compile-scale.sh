#!/usr/bin/env bash
# How `buildspec compile` (optimized) grows with the size of a spec (issue 20). Generates
# four shapes at sizes ×4 apart, times the release binary on each (median of BENCH_RUNS
# runs, sizes interleaved run by run), and prints the time at each size and the fitted
# growth exponent between neighbouring sizes: log(t2/t1) / log(n2/n1). An exponent of 1
# is linear; the target is at most 1.3, and the largest size of the first three shapes
# under 1 s.
#
#   steps    one builder with N `run` steps
#   mixed    one builder with N steps, copies of context files and runs alternating
#   fan-in   a runtime copying from N builders
#   chain    N stages, each `from=` the one before
#
# Usage: bench/compile-scale.sh
# Environment:
#   BENCH_RUNS=5            runs per size
#   BENCH_SHAPES="steps mixed fan-in chain"
#   BENCH_SCALE=1           divide the sizes by this (CI runs a short version with 16)
#   BUILDSPEC=PATH          the binary (default target/release/buildspec)
#   BENCH_OUT=PATH          the report (default bench/results/compile-scale.md)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -eq 0 ]] || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 2; }
export BUILDSPEC="${BUILDSPEC:-$REPO/target/release/buildspec}"
export BENCH_RUNS="${BENCH_RUNS:-5}" BENCH_SHAPES="${BENCH_SHAPES:-steps mixed fan-in chain}" BENCH_SCALE="${BENCH_SCALE:-1}"
export BENCH_OUT="${BENCH_OUT:-$REPO/bench/results/compile-scale.md}"
[[ -x "$BUILDSPEC" ]] || { echo "no $BUILDSPEC: cargo build --release" >&2; exit 2; }

python3 - <<'EOF'
import math, os, statistics, subprocess, sys, tempfile, time

binary = os.environ["BUILDSPEC"]
runs = int(os.environ["BENCH_RUNS"])
scale = int(os.environ["BENCH_SCALE"])
shapes = os.environ["BENCH_SHAPES"].split()
SIZES = {"steps": [625, 2500, 10000, 40000], "mixed": [625, 2500, 10000, 40000], "fan-in": [62, 250, 1000, 4000], "chain": [625, 2500, 10000, 40000]}

def spec(shape, n):
    out = ["buildspec 1"]
    if shape == "steps":
        out.append('builder "build" from="debian:bookworm-slim" {')
        out += [f'    run "echo step {i} > /step{i}"' for i in range(n)]
        out.append("}")
        out += ['runtime "app" from="debian:bookworm-slim" {', '    copy "/step0" from="build" to="/step0"', "}"]
    elif shape == "mixed":
        out.append('builder "build" from="debian:bookworm-slim" {')
        out.append('    workdir "/src"')
        for i in range(n):
            out.append(f'    copy "src/f{i}.txt" to="f{i}.txt"' if i % 2 == 0 else f'    run "cat f{i - 1}.txt > /out{i}"')
        out.append("}")
        out += ['runtime "app" from="debian:bookworm-slim" {', '    copy "/out1" from="build" to="/out1"', "}"]
    elif shape == "fan-in":
        for i in range(n):
            out += [f'builder "b{i}" from="debian:bookworm-slim" {{', f'    run "make part{i} > /out{i}"', "}"]
        out.append('runtime "app" from="debian:bookworm-slim" {')
        out += [f'    copy "/out{i}" from="b{i}" to="/parts/{i}"' for i in range(n)]
        out.append("}")
    elif shape == "chain":
        out += ['builder "s0" from="debian:bookworm-slim" {', '    run "echo 0 > /s0"', "}"]
        for i in range(1, n):
            out += [f'builder "s{i}" from="s{i - 1}" {{', f'    run "echo {i} > /s{i}"', "}"]
        out += ['runtime "app" from=' + f'"s{n - 1}"' + " {", '    cmd "true"', "}"]
    return "\n".join(out) + "\n"

work = tempfile.mkdtemp(prefix="bscompilescale.")
cases = []
for shape in shapes:
    for n in SIZES[shape]:
        n = max(2, n // scale)
        d = os.path.join(work, f"{shape}-{n}")
        os.makedirs(os.path.join(d, "src"))
        with open(os.path.join(d, "buildspec.kdl"), "w") as f:
            f.write(spec(shape, n))
        if shape == "mixed":
            for i in range(0, n, 2):
                open(os.path.join(d, "src", f"f{i}.txt"), "w").write(f"{i}\n")
        cases.append((shape, n, d))

times = {c[:2]: [] for c in cases}
for r in range(runs):
    for shape, n, d in (cases if r % 2 == 0 else list(reversed(cases))):
        start = time.perf_counter()
        p = subprocess.run([binary, "compile"], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if p.returncode != 0:
            sys.exit(f"{shape} {n}: compile failed: {p.stderr.decode()[-2000:]}")
        times[(shape, n)].append(elapsed)
    print(f"[compile-scale] run {r + 1}/{runs} done", file=sys.stderr)

lines = [f"Command: `BENCH_RUNS={runs} BENCH_SCALE={scale} bench/compile-scale.sh` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)", "",
         "| shape | size | compile (median s) | exponent vs the size before |", "|---|---|---|---|"]
worst = 0.0
for shape in shapes:
    prev = None
    for s, n, _ in [c for c in cases if c[0] == shape]:
        t = statistics.median(times[(s, n)])
        exp = ""
        if prev:
            e = math.log(t / prev[1]) / math.log(n / prev[0])
            worst = max(worst, e)
            exp = f"{e:.2f}"
        lines.append(f"| {shape} | {n} | {t:.3f} | {exp} |")
        prev = (n, t)
lines += ["", f"Largest exponent: {worst:.2f} (target ≤ 1.3)."]
report = "\n".join(lines) + "\n"
print(report)
out = os.environ["BENCH_OUT"]
os.makedirs(os.path.dirname(out), exist_ok=True)
open(out, "w").write(report)
subprocess.run(["rm", "-rf", work])
EOF

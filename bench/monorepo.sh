#!/usr/bin/env bash
# Times `buildspec generate` and `buildspec compile --all` over a synthetic monorepo of
# N mixed packages (default 1000): a cargo workspace (binaries using a shared library), a
# go.work workspace (main packages using a library module), an npm workspace (services and
# front ends using a shared package), Python projects and static sites, a quarter each.
#
# Usage: bench/monorepo.sh [N] [RUNS]     (BUILDSPEC=path/to/buildspec, default the release build;
#        BENCH_DIR=DIR where the synthetic tree goes, default /tmp; /dev/shm takes the disk out)
# Prints one line per run and the medians. Each run starts from its own clone of the committed
# tree (no specs) and times a `generate` that writes every spec (each rendered and checked), a second `generate`
# (everything up to date) and a `compile --all -o OUT`.
set -euo pipefail
N="${1:-1000}"
RUNS="${2:-5}"
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
BUILDSPEC="${BUILDSPEC:-$ROOT_DIR/target/release/buildspec}"
[[ -x "$BUILDSPEC" ]] || { echo "no $BUILDSPEC: cargo build --release first" >&2; exit 2; }
WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/bs-monorepo.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
Q=$((N / 5))
python3 - "$WORK/repo" "$Q" <<'PY'
import json, os, sys
root, q = sys.argv[1], int(sys.argv[2])
def w(path, text):
    path = os.path.join(root, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(text)
# cargo workspace: one library, q-1 binaries using it
w("Cargo.toml", '[workspace]\nmembers = ["crates/*"]\nresolver = "2"\n')
w("crates/common/Cargo.toml", '[package]\nname = "common"\nversion = "0.1.0"\nedition = "2021"\n')
w("crates/common/src/lib.rs", "pub fn hi() {}\n")
for i in range(q - 1):
    w(f"crates/svc{i}/Cargo.toml", f'[package]\nname = "svc{i}"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\ncommon = {{ path = "../common" }}\n')
    w(f"crates/svc{i}/src/main.rs", "fn main() { common::hi() }\n")
# go.work: a library module and q-1 command modules
uses = ["./lib"] + [f"./cmd{i}" for i in range(q - 1)]
w("go/go.work", "go 1.19\n\nuse (\n" + "".join(f"\t{u}\n" for u in uses) + ")\n")
w("go/lib/go.mod", "module example.com/lib\n\ngo 1.19\n")
w("go/lib/lib.go", "package lib\n\nfunc Hi() {}\n")
for i in range(q - 1):
    w(f"go/cmd{i}/go.mod", f"module example.com/cmd{i}\n\ngo 1.19\n\nrequire example.com/lib v0.0.0\n")
    w(f"go/cmd{i}/main.go", 'package main\n\nimport "example.com/lib"\n\nfunc main() { lib.Hi() }\n')
# npm workspace: a shared package, services and front ends
w("web/package.json", json.dumps({"name": "web", "private": True, "workspaces": ["packages/*"]}))
w("web/package-lock.json", "{}\n")
w("web/packages/shared/package.json", json.dumps({"name": "@x/shared", "version": "1.0.0"}))
for i in range(q - 1):
    if i % 2:
        w(f"web/packages/app{i}/package.json", json.dumps({"name": f"@x/app{i}", "version": "1.0.0", "scripts": {"start": "node server.js", "test": "node --test"}, "dependencies": {"@x/shared": "1.0.0"}}))
        w(f"web/packages/app{i}/server.js", "require('@x/shared')\n")
    else:
        w(f"web/packages/app{i}/package.json", json.dumps({"name": f"@x/app{i}", "version": "1.0.0", "scripts": {"build": "node build.js"}}))
        w(f"web/packages/app{i}/index.html", "<h1>hi</h1>\n")
# python projects
for i in range(q):
    w(f"py/p{i}/pyproject.toml", f'[project]\nname = "p{i}"\nversion = "0.1.0"\ndependencies = ["flask>=3"]\n\n[project.scripts]\np{i} = "p{i}.cli:main"\n')
    w(f"py/p{i}/p{i}/cli.py", "def main():\n    return 0\n")
    w(f"py/p{i}/tests/test_cli.py", "\n")
# static sites
for i in range(q):
    w(f"sites/s{i}/index.html", "<h1>hi</h1>\n")
PY
cd "$WORK/repo"
git init -q . && git add -A && git -c user.email=b@b -c user.name=b commit -qm init
echo "synthetic monorepo: $(git ls-files | wc -l) files, $N packages with the libraries"
# Each run gets its own clone, all made before the first timing, and
# nothing is deleted until the end. Deleting a run's files just before
# the next made ext4 here spend seconds of system time skipping the
# recently deleted inodes when allocating new ones (`recently_deleted` in
# the kernel's profile): a property of the delete-then-recreate loop, not
# of what a user runs on a checkout.
for r in $(seq 1 "$RUNS"); do git clone -q "$WORK/repo" "$WORK/run$r"; done
sync
now() { date +%s.%N; }
declare -a cold noop all both
for r in $(seq 1 "$RUNS"); do
    cd "$WORK/run$r"
    t0=$(now); "$BUILDSPEC" generate >/dev/null
    t1=$(now); "$BUILDSPEC" generate >/dev/null
    t2=$(now); "$BUILDSPEC" compile --all -o "$WORK/out$r" >/dev/null
    t3=$(now)
    cold+=("$(echo "$t1 - $t0" | bc)"); noop+=("$(echo "$t2 - $t1" | bc)"); all+=("$(echo "$t3 - $t2" | bc)")
    both+=("$(echo "$t1 - $t0 + $t3 - $t2" | bc)")
    printf 'run %d: generate %.3fs  generate (up to date) %.3fs  compile --all %.3fs\n' "$r" "${cold[-1]}" "${noop[-1]}" "${all[-1]}"
done
echo "deployable packages: $(find "$WORK/run1" -name buildspec.kdl | wc -l)"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf 'median of %d: generate %.3fs, generate (up to date) %.3fs, compile --all %.3fs; generate + compile --all %.3fs\n' \
    "$RUNS" "$(median "${cold[@]}")" "$(median "${noop[@]}")" "$(median "${all[@]}")" "$(median "${both[@]}")"

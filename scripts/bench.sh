#!/usr/bin/env bash
# `make bench`: every benchmarks/bench_*.py, each printing its ratios; record them in BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
benches=("$root"/benchmarks/bench_*.py)
if [ ${#benches[@]} -eq 0 ]; then
    echo "no benchmarks yet (the first arrives with issue 4: benchmarks/bench_build.py)"
    exit 0
fi
for bench in "${benches[@]}"; do
    echo "== $(basename "$bench")"
    "$root/.venv/bin/python" "$bench"
done

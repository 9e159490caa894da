#!/usr/bin/env bash
# `make demo`: the tiny sandbox, end to end on this machine, from `init` to the report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.venv/bin"
dir=$(realpath -m "${1:-demo}")

if [ -f "$dir/run.ini" ]; then
    echo "using the existing demo run in $dir (remove it to start afresh)"
else
    "$bin/aframe-dag" init sandbox --tiny --directory "$dir" --site local --device cpu --name demo
fi
# shellcheck disable=SC1091
source "$dir/run.sh"
"$bin/aframe-dag" build "$dir/run.ini" --force
"$bin/aframe-dag" check "$AFRAME_CONDOR_DIR" --local
echo
echo "running the DAG on this machine: aframe-dag run $AFRAME_CONDOR_DIR --workers 2"
echo "(follow it from another terminal with: aframe-dag status $AFRAME_CONDOR_DIR --watch)"
status=0
"$bin/aframe-dag" run "$AFRAME_CONDOR_DIR" --workers 2 || status=$?
echo
"$bin/aframe-dag" status "$AFRAME_CONDOR_DIR"
echo
if [ "$status" -eq 0 ]; then
    echo "demo finished. The report (open it in a browser; it works offline):"
    echo "  $AFRAME_RESULTS_DIR/report.html"
    echo "numbers for scripts: $AFRAME_RESULTS_DIR/summary.json, sensitive_volume.h5, found-missed.csv"
    exit 0
fi
echo "the demo run failed; \`aframe-dag why NODE $AFRAME_CONDOR_DIR\` says why a node failed."
echo "Running \`make demo\` again resumes it: finished nodes are not run again."
exit "$status"

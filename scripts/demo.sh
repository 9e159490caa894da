#!/usr/bin/env bash
# `make demo`: the sandbox on this machine, as far as the pipeline is built today.
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
echo "what \`aframe-dag run $AFRAME_CONDOR_DIR\` would do first:"
"$bin/aframe-dag" run "$AFRAME_CONDOR_DIR" --dry-run | sed -n 1,5p

cat <<TXT

The DAG is built and checked, and the local executor is ready to run it. The node programs it runs are
not built yet, so the demo stops here:
  data nodes (background, waveforms, injections)     issue 6
  training and tuning                                issue 9
  export and inference                               issue 10
  sensitive volume, report, end-to-end demo          issue 11
TXT

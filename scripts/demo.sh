#!/usr/bin/env bash
# `make demo`: the tiny sandbox on this machine, as far as the pipeline is built today.
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
status=0
"$bin/aframe-dag" run "$AFRAME_CONDOR_DIR" --workers 2 || status=$?
echo
"$bin/aframe-dag" status "$AFRAME_CONDOR_DIR"
if [ "$status" -eq 0 ]; then
    echo "demo finished: results in $AFRAME_RESULTS_DIR"
    exit 0
fi
cat <<TXT

The data stage and training ran: background strain, waveforms and test injections are in
$AFRAME_TRAIN_DATA_DIR and $AFRAME_TEST_DATA_DIR (HDF5, readable with gwpy/h5py), the trained network
(model.pt, checkpoints, metrics.csv, training.png) in $AFRAME_TRAIN_RUN_DIR.
The DAG stops at export because the later node programs are not built yet:
  export and inference                               issue 10
  sensitive volume, report, end-to-end demo          issue 11
Running \`make demo\` again resumes from here: finished nodes are not run again.
TXT

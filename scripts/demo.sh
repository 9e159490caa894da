#!/usr/bin/env bash
# `make demo`: the sandbox on this machine, as far as the pipeline is built today.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.venv/bin"
dir=$(realpath -m "${1:-demo}")

if [ -f "$dir/run.ini" ]; then
    echo "using the existing demo run in $dir (remove it to start afresh)"
else
    "$bin/aframe-dag" init sandbox --directory "$dir" --site local --device cpu --name demo
fi
# shellcheck disable=SC1091
source "$dir/run.sh"
"$bin/aframe-dag" config show "$dir/run.ini" > /dev/null
echo "demo: $dir/run.ini is valid (see it resolved with: aframe-dag config show $dir/run.ini)"

cat <<TXT

What runs next is not built yet:
  aframe-dag build $dir/run.ini      plan and render the DAG            (issue 4)
  aframe-dag run $AFRAME_CONDOR_DIR   run it on this machine             (issue 5)
  data, training, export/inference, sensitive volume and the report      (issues 6, 9, 10, 11)
TXT

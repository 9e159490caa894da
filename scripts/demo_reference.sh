#!/usr/bin/env bash
# `make demo-reference`: the demo's run again with the matched-filter reference on its own data (issue 25). The
# network's nodes keep their done-markers and are not run again: only the reference's nodes and the report run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.venv/bin"
dir=$(realpath -m "${1:-demo}")

if [ ! -f "$dir/run.ini" ]; then
    echo "no demo run in $dir yet: running \`make demo\` first"
    bash "$root/scripts/demo.sh" "$dir"
fi
# shellcheck disable=SC1091
source "$dir/run.sh"
"$bin/aframe-dag" build "$dir/run.ini" --force --set reference.matched_filter=true \
    --set "reference.environment=$root/.venv-reference"
echo
echo "running the reference search and the report: aframe-dag run $AFRAME_CONDOR_DIR --workers 2"
status=0
"$bin/aframe-dag" run "$AFRAME_CONDOR_DIR" --workers 2 || status=$?
echo
"$bin/aframe-dag" status "$AFRAME_CONDOR_DIR"
if [ "$status" -ne 0 ]; then
    echo "the reference run failed; \`aframe-dag why NODE $AFRAME_CONDOR_DIR\` says why a node failed."
    exit "$status"
fi
"$bin/python" - "$AFRAME_RESULTS_DIR/summary.json" <<'PY'
import json, sys

headline = json.load(open(sys.argv[1]))["headline"]
ratio = headline.get("snr50_ratio")
far = headline.get("comparison_far_label", "10/Tb")
if ratio is None:
    print("no 50 %-efficiency SNR ratio: the report says why")
else:
    print(f"50 %-efficiency SNR, network / matched filter, at FAR {far}: {ratio:.3f} ± {headline['snr50_ratio_err']:.3f}")
PY
echo "the report: $AFRAME_RESULTS_DIR/report.html"

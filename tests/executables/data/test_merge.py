"""`aframe-merge` (issue 6): shards of one ledger kind streamed into one file; inputs kept; metadata must agree."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from executables.formats.sets import ResponseSet
from tests.executables.formats.test_ledger import rejected_set, response_set, waveform_set
from tests.executables.formats.test_merge import shards

MERGE = str(Path(sys.executable).with_name("aframe-merge"))


def run(*args):
    return subprocess.run([MERGE, *map(str, args)], capture_output=True, text=True, timeout=120)


def snapshot(paths):
    return {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in paths}


def test_console_script_merges_keeps_inputs_and_writes_marker(tmp_path):
    inputs = shards(tmp_path, response_set)
    before = snapshot(inputs)
    output, marker = tmp_path / "injections.hdf5", tmp_path / "done" / "injections-merge.json"
    result = run("--kind", "injections", "--output", output, "--device", "cpu",
                 *[item for path in inputs for item in ("--input", path)],
                 "--node", "injections-merge", "--node-hash", "h", "--done-marker", marker)
    assert result.returncode == 0, result.stderr
    assert snapshot(inputs) == before
    merged = ResponseSet.read(output)
    parts = [ResponseSet.read(path) for path in inputs]
    assert len(merged) == 4 + 5 + 6
    assert merged.num_injections == sum(part.num_injections for part in parts) == 45
    np.testing.assert_array_equal(merged.waveforms["l1"], np.concatenate([p.waveforms["l1"] for p in parts]))
    np.testing.assert_array_equal(merged.injection_time, np.concatenate([p.injection_time for p in parts]))
    np.testing.assert_array_equal(merged.shift, np.concatenate([p.shift for p in parts]))
    assert merged.parameters.keys() == parts[0].parameters.keys()
    assert json.loads(marker.read_text())["outputs"][0]["path"] == str(output)


def test_console_script_refuses_mismatched_sample_rates(tmp_path):
    inputs = shards(tmp_path, waveform_set, count=2)
    with h5py.File(inputs[1], "a") as handle:
        handle.attrs["sample_rate"] = 2048.0
    output = tmp_path / "train_waveforms.hdf5"
    result = run("--kind", "waveforms", "--output", output, "--input", inputs[0], "--input", inputs[1])
    assert result.returncode == 2, result.stderr
    assert f"{inputs[1]}: sample_rate: 2048.0 differs from 64.0 in {inputs[0]}" in result.stderr
    assert not output.exists()


def test_console_script_refuses_no_inputs_and_truncated_inputs(tmp_path):
    output = tmp_path / "out.hdf5"
    result = run("--kind", "rejected", "--output", output)
    assert result.returncode == 2 and "nothing to merge" in result.stderr, result.stderr
    inputs = shards(tmp_path, rejected_set, count=2)
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(inputs[1].read_bytes()[:1000])
    result = run("--kind", "rejected", "--output", output, "--input", inputs[0], "--input", truncated)
    assert result.returncode == 2 and f"{truncated}: not a readable HDF5 file" in result.stderr, result.stderr
    assert not output.exists()

"""`aframe-merge` (issue 6): shards of one ledger kind streamed into one file; inputs kept; metadata must agree."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from executables.common.errors import InputError
from executables.data.ledger import RejectedSet, ResponseSet, WaveformSet, merge
from tests.executables.data.test_ledger import rejected_set, response_set, waveform_set

MERGE = str(Path(sys.executable).with_name("aframe-merge"))


def run(*args):
    return subprocess.run([MERGE, *map(str, args)], capture_output=True, text=True, timeout=120)


def shards(tmp_path, make, count=3, **kwargs):
    return [make(rows=4 + k, seed=k, **kwargs).write(tmp_path / f"shard-{k:03d}.hdf5") for k in range(count)]


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


@pytest.mark.parametrize(("kind", "make", "cls"), [("waveforms", waveform_set, WaveformSet),
                                                  ("waveforms", lambda **k: response_set(injections=False, **k),
                                                   ResponseSet),
                                                  ("rejected", rejected_set, RejectedSet)])
def test_every_kind_merges_in_small_copies(tmp_path, kind, make, cls):
    inputs = shards(tmp_path, make)
    output = merge(kind, inputs, tmp_path / "merged.hdf5", copy_bytes=300)
    merged, parts = cls.read(output), [cls.read(path) for path in inputs]
    assert len(merged) == 15 and merged.num_injections == sum(p.num_injections for p in parts)
    assert merged.metadata_values() == {**parts[0].metadata_values(), "num_injections": merged.num_injections}
    for name in parts[0].parameters:
        np.testing.assert_array_equal(merged.parameters[name], np.concatenate([p.parameters[name] for p in parts]))
    with h5py.File(output) as handle:
        assert handle.attrs["length"] == 15 and handle.attrs["ledger"] == cls.__name__


def test_merge_of_one_shard_is_a_copy_and_is_reproducible(tmp_path):
    (shard,) = shards(tmp_path, waveform_set, count=1)
    first = merge("waveforms", [shard], tmp_path / "a.hdf5")
    second = merge("waveforms", [shard], tmp_path / "b.hdf5")
    assert first.read_bytes() == second.read_bytes()
    np.testing.assert_array_equal(WaveformSet.read(first).plus, WaveformSet.read(shard).plus)


def test_undeclared_attributes_are_kept_when_all_shards_agree(tmp_path):
    inputs = shards(tmp_path, rejected_set, count=2)
    for k, path in enumerate(inputs):
        with h5py.File(path, "a") as handle:
            handle.attrs["generator"] = "aframe"
            handle.attrs["shard"] = k
    with h5py.File(merge("rejected", inputs, tmp_path / "out.hdf5")) as handle:
        assert handle.attrs["generator"] == "aframe" and "shard" not in handle.attrs


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda handle: handle.attrs.__setitem__("sample_rate", 4096.0), "sample_rate"),
        (lambda handle: handle.attrs.__setitem__("ifos", ["H1", "V1"]), "ifos"),
        (lambda handle: handle.attrs.__setitem__("duration", 4.0), "duration"),
        (lambda handle: handle.__delitem__("parameters/mass_1"), "parameters/mass_1"),
        (lambda handle: handle.__setitem__("parameters/extra", np.zeros(handle.attrs["length"])), "parameters/extra"),
    ],
)
def test_shards_that_disagree_are_refused(tmp_path, change, field):
    inputs = shards(tmp_path, response_set)
    with h5py.File(inputs[2], "a") as handle:
        change(handle)
    with pytest.raises(InputError) as caught:
        merge("injections", inputs, tmp_path / "out.hdf5")
    assert caught.value.path == inputs[2] and caught.value.field == field
    assert not (tmp_path / "out.hdf5").exists()


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


def test_wrong_kind_mixed_classes_and_repeated_inputs_are_refused(tmp_path):
    waveforms = shards(tmp_path, waveform_set, count=1)[0]
    rejected = rejected_set().write(tmp_path / "rejected.hdf5")
    responses = response_set().write(tmp_path / "val.hdf5")
    with pytest.raises(InputError, match="holds a WaveformSet; --kind injections merges ResponseSet"):
        merge("injections", [waveforms], tmp_path / "out.hdf5")
    with pytest.raises(InputError, match=f"holds a ResponseSet, {waveforms} a WaveformSet"):
        merge("waveforms", [waveforms, responses], tmp_path / "out.hdf5")
    with pytest.raises(InputError, match="given twice"):
        merge("rejected", [rejected, rejected], tmp_path / "out.hdf5")
    with pytest.raises(InputError, match="is also the merge output"):
        merge("rejected", [rejected], rejected)
    with pytest.raises(ValueError, match="unknown ledger kind"):
        merge("background", [rejected], tmp_path / "out.hdf5")
    assert not (tmp_path / "out.hdf5").exists()

"""Merging ledger shards (issue 6): rows streamed into one file in small copies; metadata must agree."""

import h5py
import numpy as np
import pytest

from executables.common.errors import InputError
from executables.formats.merge import merge
from executables.formats.sets import RejectedSet, ResponseSet, WaveformSet
from tests.executables.formats.test_ledger import rejected_set, response_set, waveform_set


def shards(tmp_path, make, count=3, **kwargs):
    return [make(rows=4 + k, seed=k, **kwargs).write(tmp_path / f"shard-{k:03d}.hdf5") for k in range(count)]


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

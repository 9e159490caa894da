"""Tests for executables/common/hdf5.py: checksummed writes, corruption named on read, the value checks."""

import h5py
import numpy as np
import pytest

from executables.common.errors import InputError
from executables.common.hdf5 import create_dataset, first_nonfinite, first_zero_run, open_hdf5, read


def corrupt_chunk(path, name, chunk, data=b"\xff" * 64):
    """Overwrite bytes inside one stored chunk of a dataset, as a bad disk or a stray write would."""
    with h5py.File(path, "r") as handle:
        info = handle[name].id.get_chunk_info(chunk)
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + info.size // 2)
        handle.write(data)


@pytest.mark.parametrize("shape", [(1000,), (300, 7), (0,), (0, 4)])
def test_every_dataset_is_chunked_with_a_checksum(tmp_path, shape):
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    with h5py.File(tmp_path / "f.h5", "w") as handle:
        create_dataset(handle, "x", data=data)
    with h5py.File(tmp_path / "f.h5") as handle:
        assert handle["x"].fletcher32 and handle["x"].chunks is not None
        np.testing.assert_array_equal(handle["x"][()], data)


def test_a_scalar_cannot_carry_a_checksum(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as handle, pytest.raises(ValueError, match="at least one axis"):
        create_dataset(handle, "x", data=np.float64(1.0))


@pytest.mark.parametrize("strain", [True, False])
def test_a_corrupt_chunk_is_named_by_its_first_row_or_gps_time(tmp_path, strain):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as handle:
        dataset = create_dataset(handle, "H1", data=np.ones(40000, dtype=np.float32), chunks=(10000,))
        if strain:
            dataset.attrs.update(x0=1e9, dx=1 / 1000)
    corrupt_chunk(path, "H1", 2)
    with open_hdf5(path) as handle:
        np.testing.assert_array_equal(read(path, handle["H1"], slice(0, 20000)), 1)  # the good chunks still read
        with pytest.raises(InputError) as caught:
            read(path, handle["H1"])
    where = "GPS 1000000020.000000" if strain else "row 20000"
    assert str(caught.value) == (f"{path}: H1: fails its HDF5 checksum from {where} on: the file is corrupt on "
                                 "disk; remake it")


def test_a_file_without_checksums_still_reads(tmp_path):
    """Files of other tools (aframe's, GWOSC's) carry no checksums."""
    path = tmp_path / "theirs.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("H1", data=np.arange(10.0))
    with open_hdf5(path) as handle:
        np.testing.assert_array_equal(read(path, handle["H1"]), np.arange(10.0))


def test_first_nonfinite_finds_the_first_bad_row():
    values = np.zeros((5, 3))
    assert first_nonfinite(values) is None
    values[3, 1], values[4, 0] = np.inf, np.nan
    assert first_nonfinite(values) == 3
    assert first_nonfinite(np.array([0.0, 1.0, np.nan])) == 2


def brute_zero_run(samples, length):
    run = 0
    for index, value in enumerate(samples):
        run = run + 1 if value == 0 else 0
        if run >= length:
            return index - length + 1
    return None


def test_first_zero_run_agrees_with_counting_sample_by_sample():
    rng = np.random.default_rng(3)
    for _ in range(2000):
        samples = rng.normal(size=rng.integers(1, 90))
        for _ in range(rng.integers(0, 4)):
            start = rng.integers(0, len(samples))
            samples[start: rng.integers(start, len(samples) + 1)] = 0
        length = int(rng.integers(1, 35))
        assert first_zero_run(samples, length) == brute_zero_run(samples, length), (samples, length)

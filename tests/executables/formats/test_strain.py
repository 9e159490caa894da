"""Background strain files (issue 6): gwpy reads them, reads by span, and every bad file is named."""

import h5py
import numpy as np
import pytest
from gwpy.timeseries import TimeSeries, TimeSeriesDict

from executables.common.errors import InputError
from executables.formats.strain import (
    BACKGROUND_CHUNK,
    background_info,
    background_writer,
    read_background,
    simulated_psds,
    write_background,
)
from tests.executables.formats.test_ledger import FS, T0


def strain(seconds=8.0, rate=FS, ifos=("H1", "L1")):
    rng = np.random.default_rng(3)
    return {ifo: rng.normal(size=int(seconds * rate)) * 1e-21 for ifo in ifos}


def test_background_round_trip_and_gwpy_reads_it(tmp_path):
    data = strain()
    path = write_background(tmp_path / "background-1240579783-8.hdf5", data, T0, FS)
    read, t0, rate = read_background(path)
    assert (t0, rate, sorted(read)) == (T0, FS, ["H1", "L1"])
    assert read["H1"].dtype == np.float64
    np.testing.assert_array_equal(read["L1"], data["L1"].astype(np.float32))
    series = TimeSeriesDict.read(path, format="hdf5")
    assert sorted(series) == ["H1", "L1"]
    assert series["H1"].t0.value == T0 and series["H1"].sample_rate.value == FS
    assert series["L1"].span == (T0, T0 + 8)
    np.testing.assert_array_equal(series["H1"].value, data["H1"].astype(np.float32))
    single = TimeSeries.read(path, "L1", format="hdf5")
    assert single.times[1].value == T0 + 1 / FS
    with h5py.File(path) as handle:
        assert handle["H1"].dtype == np.float32 and handle["H1"].chunks == (min(BACKGROUND_CHUNK, 8 * 64),)
    info = background_info(path)
    assert (info.ifos, info.num_samples, info.duration) == (("H1", "L1"), 512, 8.0)


def test_read_background_sub_span_and_ifos(tmp_path):
    data = strain()
    path = write_background(tmp_path / "b.hdf5", data, T0, FS)
    read, t0, rate = read_background(path, ["L1"], T0 + 2, T0 + 3.5)
    assert list(read) == ["L1"] and t0 == T0 + 2
    np.testing.assert_array_equal(read["L1"], data["L1"].astype(np.float32)[128:224])
    with pytest.raises(InputError, match="is not within the file's span"):
        read_background(path, None, T0 - 1, T0 + 1)
    with pytest.raises(InputError, match="H1: sample rate is 64 Hz, expected 2048"):
        read_background(path, sample_rate=2048)


def test_read_background_accepts_aframe_float64_files_written_by_gwpy(tmp_path):
    path = tmp_path / "background-1240579783-8.hdf5"  # aframe's name; no root attributes
    data = strain(ifos=("H1",))
    TimeSeriesDict({"H1": TimeSeries(data["H1"], t0=T0, sample_rate=FS)}).write(path, format="hdf5")
    read, t0, rate = read_background(path)
    np.testing.assert_array_equal(read["H1"], data["H1"])
    assert (t0, rate) == (T0, FS)


@pytest.mark.parametrize(
    ("name", "attrs", "words"),
    [
        ("b.hdf5", {"sample_rate": 2 * FS}, ("attribute 'sample_rate'", "sample_rate 128.0", "1/dx = 64.0 Hz")),
        ("b.hdf5", {"t0": T0 + 1}, ("attribute 't0'", "t0 1240579784.0", "x0 = 1240579783.0")),
        ("b.hdf5", {"duration": 16.0}, ("attribute 'duration'", "duration 16.0", "512 samples = 8.0 s")),
        ("background-1240579784-8.hdf5", {}, ("file name", "t0 1240579784.0", "x0 = 1240579783.0")),
        ("background-1240579783-16.hdf5", {}, ("file name", "duration 16.0", "512 samples = 8.0 s")),
    ],
)
def test_attributes_or_name_contradicting_the_datasets_are_refused_naming_both(tmp_path, name, attrs, words):
    """Issue 19: which of two contradicting values is right cannot be known, so every reader refuses the file."""
    path = write_background(tmp_path / name, strain(), T0, FS, attrs)
    for read in (background_info, read_background):
        with pytest.raises(InputError) as error:
            read(path)
        assert all(word in str(error.value) for word in (str(path), *words)), str(error.value)


def test_background_errors_name_the_file_and_dataset(tmp_path):
    path = write_background(tmp_path / "b.hdf5", strain(), T0, FS)
    with pytest.raises(InputError, match=r"b\.hdf5: V1: dataset missing"):
        read_background(path, ["H1", "V1"])
    mixed = tmp_path / "mixed.hdf5"
    with h5py.File(mixed, "w") as handle:
        for ifo, rate in (("H1", 64.0), ("L1", 128.0)):
            dataset = handle.create_dataset(ifo, data=np.zeros(int(8 * rate), dtype=np.float32))
            dataset.attrs.update(x0=T0, dx=1 / rate)
    with pytest.raises(InputError, match="mixed.hdf5: L1: sample rate 128 Hz differs from 64 Hz of H1"):
        read_background(mixed)
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(InputError, match="truncated.hdf5"):
        read_background(truncated)
    with h5py.File(tmp_path / "empty.hdf5", "w"):
        pass
    with pytest.raises(InputError, match="no strain datasets"):
        read_background(tmp_path / "empty.hdf5")


def test_background_writer_streams_blocks_and_refuses_an_incomplete_file(tmp_path):
    path = tmp_path / "streamed.hdf5"
    with background_writer(path, ["H1"], T0, FS, 100) as writer:
        writer.write("H1", 0, np.ones(60))
        writer.write("H1", 60, np.full(40, 2.0))
    read, _, _ = read_background(path)
    assert read["H1"].tolist() == [1.0] * 60 + [2.0] * 40
    with pytest.raises(RuntimeError, match="background incomplete"):
        with background_writer(tmp_path / "short.hdf5", ["H1"], T0, FS, 100) as writer:
            writer.write("H1", 0, np.ones(60))
    with pytest.raises(ValueError, match="do not fit"):
        with background_writer(tmp_path / "long.hdf5", ["H1"], T0, FS, 100) as writer:
            writer.write("H1", 60, np.ones(60))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.hdf5"]


def test_simulated_psds_name_each_ifos_design_psd_and_refuse_a_mismatch(tmp_path):
    strain = {ifo: np.zeros(64) for ifo in ("H1", "L1", "V1")}
    simulated = write_background(tmp_path / "sim.hdf5", strain, T0, FS,
                                 {"source": "simulated", "noise_psd": "aLIGO,aLIGO,AdV"})
    assert simulated_psds(simulated, ["V1", "H1"]) == {"H1": "aLIGO", "V1": "AdV"}
    assert simulated_psds(write_background(tmp_path / "real.hdf5", strain, T0, FS, {"source": "gwosc"}),
                          ["H1"]) is None
    broken = write_background(tmp_path / "broken.hdf5", strain, T0, FS,
                              {"source": "simulated", "noise_psd": "aLIGO,AdV"})
    with pytest.raises(InputError, match="noise_psd: names 2 PSDs for the ifos H1, L1, V1"):
        simulated_psds(broken, ["H1"])

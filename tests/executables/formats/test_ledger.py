"""The ledger library (issue 6): one HDF5 layout per file kind, read by rows without loading files whole."""

import h5py
import numpy as np
import pytest

from executables.common.errors import InputError
from executables.formats import ledger
from executables.formats.sets import (
    RejectedSet,
    ResponseSet,
    WaveformSet,
    ifo_snr_name,
    ledger_class,
)

FS, DURATION, T0 = 64.0, 2.0, 1_240_579_783.0
SAMPLES = int(FS * DURATION)


def waveform_set(rows=6, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    values = dict(
        plus=rng.normal(size=(rows, SAMPLES)), cross=rng.normal(size=(rows, SAMPLES)),
        parameters={"mass_1": rng.uniform(5, 100, rows), "chirp_mass": rng.uniform(5, 50, rows).astype(np.float32)},
        sample_rate=FS, duration=DURATION, right_pad=0.5, approximant="IMRPhenomPv2", prior="end_o3_ratesandpops",
        minimum_frequency=20, reference_frequency=50,
    )
    values.update(overrides)
    return WaveformSet(**values)


def response_set(rows=5, seed=1, ifos=("H1", "L1"), injections=True, **overrides):
    rng = np.random.default_rng(seed)
    parameters = {"mass_1": rng.uniform(5, 100, rows)}
    parameters.update({ifo_snr_name(ifo): rng.uniform(4, 20, rows) for ifo in ifos})
    values = dict(
        waveforms={ifo.lower(): rng.normal(size=(rows, SAMPLES)) for ifo in ifos},
        snr=rng.uniform(4, 30, rows), parameters=parameters, ifos=list(ifos), sample_rate=FS, duration=DURATION,
        num_injections=3 * rows,
    )
    if injections:
        values.update(injection_time=T0 + np.arange(rows) * 10.25, shift=np.tile([0.0, 1.0], (rows, 1)))
    values.update(overrides)
    return ResponseSet(**values)


def rejected_set(rows=7, seed=2, num_injections=None):
    rng = np.random.default_rng(seed)
    return RejectedSet(parameters={"mass_1": rng.uniform(5, 100, rows), "distance": rng.uniform(100, 5000, rows)},
                       num_injections=num_injections)


def test_waveform_set_round_trip_and_layout(tmp_path):
    written = waveform_set()
    path = written.write(tmp_path / "train.hdf5")
    read = WaveformSet.read(path)
    assert len(read) == 6 and read.num_injections == 6
    np.testing.assert_array_equal(read.plus, written.plus.astype(np.float32))
    np.testing.assert_array_equal(read.parameters["mass_1"], written.parameters["mass_1"])
    assert read.parameters["chirp_mass"].dtype == np.float32 and read.parameters["mass_1"].dtype == np.float64
    assert read.metadata_values() == written.metadata_values()
    with h5py.File(path) as handle:
        assert dict(handle.attrs)["length"] == 6 and handle.attrs["ledger"] == "WaveformSet"
        assert handle.attrs["approximant"] == "IMRPhenomPv2" and handle.attrs["num_injections"] == 6
        assert handle["waveforms/plus"].dtype == np.float32 and handle["waveforms/plus"].chunks is not None
        assert sorted(handle["parameters"]) == ["chirp_mass", "mass_1"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_waveforms_are_chunked_one_row_per_chunk_at_the_default_size(tmp_path):
    big = int(2048 * 8)
    rows = np.zeros((3, big))
    path = waveform_set(rows=3, plus=rows, cross=rows, sample_rate=2048, duration=8, right_pad=2).write(
        tmp_path / "w.hdf5")
    with h5py.File(path) as handle:
        assert handle["waveforms/cross"].chunks == (1, big)


def test_response_set_round_trip(tmp_path):
    written = response_set()
    read = ResponseSet.read(written.write(tmp_path / "inj.hdf5"))
    assert read.ifos == ["H1", "L1"] and read.num_injections == 15 and read.sample_rate == FS
    assert read.injection_time.dtype == np.float64 and read.shift.shape == (5, 2)
    np.testing.assert_array_equal(read.injection_time, written.injection_time)
    np.testing.assert_array_equal(read.ifo_snrs()["L1"], written.parameters["l1_snr"])
    np.testing.assert_array_equal(read.waveforms["h1"], written.waveforms["h1"].astype(np.float32))
    assert sorted(read.parameters) == ["h1_snr", "l1_snr", "mass_1"]


def test_read_parameters_alone(tmp_path):
    written = response_set()
    path = written.write(tmp_path / "inj.hdf5")
    parameters = ResponseSet.read_parameters(path)
    assert sorted(parameters) == ["h1_snr", "injection_time", "l1_snr", "mass_1", "shift", "snr"]
    chosen = ResponseSet.read_parameters(path, ["snr", "shift"], rows=[4, 0])
    np.testing.assert_array_equal(chosen["snr"], written.snr[[4, 0]])
    assert chosen["shift"].shape == (2, 2)
    with pytest.raises(InputError, match="parameters/chirp_mass: dataset missing"):
        ResponseSet.read_parameters(path, ["chirp_mass"])


def test_validation_response_set_without_injection_times(tmp_path):
    read = ResponseSet.read(response_set(injections=False).write(tmp_path / "val.hdf5"))
    assert read.injection_time is None and read.shift is None


def test_rejected_set_round_trip(tmp_path):
    read = RejectedSet.read(rejected_set(num_injections=20).write(tmp_path / "rejected.hdf5"))
    assert len(read) == 7 and read.num_injections == 20
    with h5py.File(tmp_path / "rejected.hdf5") as handle:
        assert len(handle["waveforms"]) == 0


def test_empty_sets_round_trip(tmp_path):
    read = RejectedSet.read(RejectedSet(parameters={"mass_1": np.empty(0)}, num_injections=4).write(
        tmp_path / "none.hdf5"))
    assert len(read) == 0 and read.num_injections == 4 and read.parameters["mass_1"].shape == (0,)


def test_writing_the_same_set_twice_gives_identical_bytes(tmp_path):
    first = waveform_set().write(tmp_path / "a.hdf5")
    second = waveform_set().write(tmp_path / "b.hdf5")
    assert first.read_bytes() == second.read_bytes()


@pytest.fixture
def many_rows(tmp_path):
    written = waveform_set(rows=200)
    return written, written.write(tmp_path / "many.hdf5")


@pytest.mark.parametrize("rows", [slice(3, 9), slice(190, 500), [5, 2, 2, 7], [199, 0], np.array([150, 3, 3, 77])])
def test_read_rows_in_any_order_with_duplicates(many_rows, rows):
    written, path = many_rows
    expected = np.arange(200)[rows]
    read = WaveformSet.read(path, rows)
    np.testing.assert_array_equal(read.plus, written.plus.astype(np.float32)[expected])
    np.testing.assert_array_equal(read.parameters["mass_1"], written.parameters["mass_1"][expected])
    assert read.num_injections == 200


def test_read_no_rows_and_out_of_range_rows(many_rows):
    _, path = many_rows
    assert len(WaveformSet.read(path, [])) == 0
    with pytest.raises(IndexError):
        WaveformSet.read(path, [200])
    with pytest.raises(IndexError):
        WaveformSet.read(path, [-1])


def test_iter_chunks_covers_the_file_in_order(many_rows):
    written, path = many_rows
    chunks = list(WaveformSet.iter_chunks(path, 64))
    assert [len(chunk) for chunk in chunks] == [64, 64, 64, 8]
    np.testing.assert_array_equal(np.concatenate([c.cross for c in chunks]), written.cross.astype(np.float32))
    assert WaveformSet.length(path) == 200


def test_sample_draws_distinct_rows_reproducibly(many_rows):
    written, path = many_rows
    first = WaveformSet.sample(path, 10, np.random.default_rng(5))
    again = WaveformSet.sample(path, 10, np.random.default_rng(5))
    np.testing.assert_array_equal(first.plus, again.plus)
    drawn = np.random.default_rng(5).choice(200, 10, replace=False)
    np.testing.assert_array_equal(first.parameters["mass_1"], written.parameters["mass_1"][drawn])
    with pytest.raises(ValueError, match="cannot sample 201"):
        WaveformSet.sample(path, 201, np.random.default_rng(0))


def test_concatenate_sums_num_injections_and_checks_metadata():
    joined = ResponseSet.concatenate([response_set(rows=2), response_set(rows=3, seed=9)])
    assert len(joined) == 5 and joined.num_injections == 15
    with pytest.raises(InputError, match="sample_rate"):
        WaveformSet.concatenate([waveform_set(), waveform_set(sample_rate=32.0, plus=np.zeros((6, 64)),
                                                              cross=np.zeros((6, 64)))])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: waveform_set(cross=np.zeros((5, SAMPLES))), "cross has 5 rows"),
        (lambda: waveform_set(plus=np.zeros((6, 10)), cross=np.zeros((6, 10))), "duration x sample_rate"),
        (lambda: waveform_set(plus=np.zeros(6)), "must be \\(rows, samples\\)"),
        (lambda: waveform_set(right_pad=3.0), "right_pad"),
        (lambda: waveform_set(parameters={"mass_1": np.zeros(3)}), "has 3 rows"),
        (lambda: waveform_set(num_injections=2), "num_injections 2 is less than"),
        (lambda: response_set(parameters={"h1_snr": np.ones(5)}), "l1_snr"),
        (lambda: response_set(waveforms={"h1": np.zeros((5, SAMPLES))}), "do not match ifos"),
        (lambda: response_set(shift=np.zeros((5, 3))), "shift has shape"),
        (lambda: response_set(parameters={"snr": np.ones(5), "h1_snr": np.ones(5), "l1_snr": np.ones(5)}),
         "parameters/snr is given twice"),
        (lambda: rejected_set().__class__(parameters={"name": np.array(["a"])}), "must be numeric"),
    ],
)
def test_invalid_sets_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_missing_metadata_is_refused():
    with pytest.raises(TypeError):
        WaveformSet(plus=np.zeros((1, SAMPLES)), cross=np.zeros((1, SAMPLES)))


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(ledger, "_write_attrs", fail)
    with pytest.raises(OSError, match="disk full"):
        waveform_set().write(tmp_path / "w.hdf5")
    assert list(tmp_path.iterdir()) == []


def test_foreign_and_truncated_files_name_the_file(tmp_path):
    foreign = tmp_path / "foreign.hdf5"
    foreign.write_text("not hdf5\n")
    with pytest.raises(InputError, match=r"foreign\.hdf5: not a readable HDF5 file"):
        WaveformSet.read(foreign)
    good = waveform_set(rows=50).write(tmp_path / "good.hdf5")
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match=r"truncated\.hdf5"):
        WaveformSet.read(truncated)
    with pytest.raises(InputError, match="no such file"):
        WaveformSet.read(tmp_path / "missing.hdf5")


def test_missing_dataset_and_wrong_length_name_the_dataset(tmp_path):
    path = waveform_set().write(tmp_path / "w.hdf5")
    with h5py.File(path, "a") as handle:
        del handle["waveforms/plus"]
    with pytest.raises(InputError, match="waveforms/plus: dataset missing"):
        WaveformSet.read(path)
    path = waveform_set().write(tmp_path / "w2.hdf5")
    with h5py.File(path, "a") as handle:
        handle.attrs["length"] = 7
    with pytest.raises(InputError, match=r"parameters/chirp_mass: has shape \(6,\), the file's length is 7"):
        WaveformSet.length(path)


def test_another_kind_of_ledger_is_refused(tmp_path):
    path = rejected_set().write(tmp_path / "rejected.hdf5")
    with pytest.raises(InputError, match="ledger: this file holds a RejectedSet, not a ResponseSet"):
        ResponseSet.read(path)
    plain = tmp_path / "plain.hdf5"
    with h5py.File(plain, "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(InputError, match="length: root attribute missing"):
        RejectedSet.read(plain)


def test_files_without_a_ledger_attribute_are_recognised_by_their_datasets(tmp_path):
    """aframe's own ledger files carry `length` and the groups but no `ledger` attribute."""
    paths = {cls: make().write(tmp_path / f"{cls.__name__}.hdf5")
             for cls, make in ((WaveformSet, waveform_set), (ResponseSet, response_set), (RejectedSet, rejected_set))}
    for cls, path in paths.items():
        with h5py.File(path, "a") as handle:
            del handle.attrs["ledger"]
        with h5py.File(path) as handle:
            assert ledger_class(path, handle) is cls
        assert len(cls.read(path)) > 0

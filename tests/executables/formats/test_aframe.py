"""Issue 24: the set readers take the files aframe itself writes (training, validation, test injections, rejected).

The files are written here in aframe's layout (``aframe_files``); each reader must give what the same rows in our
layout give, with aframe's (rows, ifos) ``ifo_snrs`` read as ``<ifo>_snr`` columns.
"""

import h5py
import numpy as np
import pytest

from executables.common.errors import InputError
from executables.formats.sets import RejectedSet, ResponseSet, WaveformSet, ledger_class
from tests.executables.formats.aframe_files import (
    BILBY_PARAMETERS,
    bilby_parameters,
    rejected_parameters,
    response_set,
    training_waveforms,
    write_ledger,
)

FS, DURATION, RIGHT_PAD = 64, 2.0, 0.5
IFOS = ("H1", "L1")
ROWS = 5
T0 = 1_240_000_000.0


def arrays(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape) * 1e-21


def ifo_snrs(rows: int = ROWS) -> np.ndarray:
    return np.stack([np.arange(rows) + 8.0, np.arange(rows) + 20.0], axis=1)


@pytest.fixture
def training(tmp_path):
    plus, cross = arrays(0, (ROWS, int(FS * DURATION))), arrays(1, (ROWS, int(FS * DURATION)))
    path = training_waveforms(tmp_path / "train_waveforms.hdf5", plus, cross, bilby_parameters(ROWS),
                              sample_rate=FS, duration=DURATION, right_pad=RIGHT_PAD)
    return path, plus, cross


@pytest.fixture
def injections(tmp_path):
    responses = {ifo: arrays(k, (ROWS, int(FS * DURATION))) for k, ifo in enumerate(IFOS)}
    path = response_set(tmp_path / "waveforms.hdf5", responses, bilby_parameters(ROWS), ifo_snrs(), ifos=IFOS,
                        sample_rate=FS, duration=DURATION, right_pad=RIGHT_PAD, num_injections=3 * ROWS,
                        injection_time=T0 + 16.0 * np.arange(ROWS), shift=np.tile([0.0, 1.0], (ROWS, 1)))
    return path, responses


def test_training_polarizations_read_as_a_waveform_set(training):
    path, plus, cross = training
    with h5py.File(path) as handle:
        assert ledger_class(path, handle) is WaveformSet
    waveforms = WaveformSet.read(path)
    np.testing.assert_array_equal(waveforms.plus, plus.astype(np.float32))
    np.testing.assert_array_equal(waveforms.cross, cross.astype(np.float32))
    assert waveforms.plus.dtype == np.float32
    assert set(waveforms.parameters) == set(BILBY_PARAMETERS)
    np.testing.assert_array_equal(waveforms.parameters["redshift"], bilby_parameters(ROWS)["redshift"])
    assert (waveforms.sample_rate, waveforms.duration, waveforms.right_pad, waveforms.num_injections) == \
        (FS, DURATION, RIGHT_PAD, ROWS)
    assert waveforms.approximant is None and waveforms.prior is None  # aframe records neither
    rows = WaveformSet.read(path, [3, 0, 3])
    np.testing.assert_array_equal(rows.plus, plus[[3, 0, 3]].astype(np.float32))


def test_test_injections_read_as_a_response_set_with_per_ifo_snrs(injections):
    path, responses = injections
    with h5py.File(path) as handle:
        assert ledger_class(path, handle) is ResponseSet
    read = ResponseSet.read(path)
    assert read.ifos == list(IFOS) and read.num_injections == 3 * ROWS and len(read) == ROWS
    for k, ifo in enumerate(IFOS):
        np.testing.assert_array_equal(read.waveforms[ifo.lower()], responses[ifo].astype(np.float32))
        np.testing.assert_array_equal(read.ifo_snrs()[ifo], ifo_snrs()[:, k])
    assert "ifo_snrs" not in read.parameters and {"h1_snr", "l1_snr"} <= set(read.parameters)
    np.testing.assert_allclose(read.snr, np.hypot(*ifo_snrs().T))
    assert read.shift.shape == (ROWS, 2) and read.injection_time[1] == T0 + 16.0
    some = ResponseSet.read(path, [4, 1, 4])
    np.testing.assert_array_equal(some.parameters["l1_snr"], ifo_snrs()[[4, 1, 4], 1])
    np.testing.assert_array_equal(some.waveforms["h1"], responses["H1"][[4, 1, 4]].astype(np.float32))
    chunks = list(ResponseSet.iter_chunks(path, 2))
    np.testing.assert_array_equal(np.concatenate([c.parameters["h1_snr"] for c in chunks]), ifo_snrs()[:, 0])
    found = ResponseSet.read_parameters(path, ["injection_time", "h1_snr"], slice(1, 3))
    np.testing.assert_array_equal(found["h1_snr"], ifo_snrs()[1:3, 0])
    assert set(ResponseSet.read_parameters(path)) == {*BILBY_PARAMETERS, "snr", "h1_snr", "l1_snr",
                                                       "injection_time", "shift"}


def test_validation_waveforms_read_as_a_response_set(tmp_path):
    responses = {ifo: arrays(k, (ROWS, int(FS * DURATION))) for k, ifo in enumerate(IFOS)}
    path = response_set(tmp_path / "val_waveforms.hdf5", responses, bilby_parameters(ROWS), ifo_snrs(), ifos=IFOS,
                        sample_rate=FS, duration=DURATION, right_pad=RIGHT_PAD, num_injections=2 * ROWS)
    read = ResponseSet.read(path)
    assert read.injection_time is None and read.shift is None
    np.testing.assert_array_equal(read.parameters["h1_snr"], ifo_snrs()[:, 0])


def test_rejected_draws_read_as_a_rejected_set_that_records_no_total(tmp_path):
    path = rejected_parameters(tmp_path / "rejected-parameters.hdf5", bilby_parameters(7, seed=3), ifo_snrs(7),
                               ifos=IFOS)
    with h5py.File(path) as handle:
        assert ledger_class(path, handle) is RejectedSet
    rejected = RejectedSet.read(path)
    assert len(rejected) == 7 and set(rejected.parameters) == {*BILBY_PARAMETERS, "snr", "h1_snr", "l1_snr"}
    np.testing.assert_array_equal(rejected.parameters["l1_snr"], ifo_snrs(7)[:, 1])
    assert RejectedSet.recorded_draws(path) is None  # aframe's total is accepted + rejected
    ours = RejectedSet(parameters=rejected.parameters, num_injections=20).write(tmp_path / "ours.hdf5")
    assert RejectedSet.recorded_draws(ours) == 20


def test_ifo_snrs_without_their_ifos_are_refused_naming_the_attribute(injections):
    path, _ = injections
    with h5py.File(path, "a") as handle:
        del handle.attrs["ifos"]
    for read in (ResponseSet.read, ResponseSet.length, ResponseSet.read_parameters):
        with pytest.raises(InputError, match=r"waveforms\.hdf5: ifos: root attribute missing: it names the "
                                             r"columns of parameters/ifo_snrs"):
            read(path)


def test_ifo_snrs_of_another_width_are_refused_naming_the_dataset(tmp_path):
    path = rejected_parameters(tmp_path / "rejected.hdf5", bilby_parameters(3), ifo_snrs(3), ifos=("H1", "L1", "V1"))
    with pytest.raises(InputError, match=r"parameters/ifo_snrs: has shape \(3, 2\), expected \(rows, 3\) for ifos "
                                         "H1, L1, V1"):
        RejectedSet.read(path)


def test_a_file_of_neither_layout_is_refused_naming_the_file_and_dataset(tmp_path, training):
    plain = tmp_path / "plain.hdf5"
    with h5py.File(plain, "w") as handle:
        handle["waveforms/plus"] = np.zeros((2, 8))
    for cls in (WaveformSet, ResponseSet, RejectedSet):
        with pytest.raises(InputError, match=r"plain\.hdf5: length: root attribute missing \(not a ledger file, "
                                             r"neither aframe-dag's nor aframe's layout\)"):
            cls.read(plain)
    no_cross = write_ledger(tmp_path / "no_cross.hdf5", bilby_parameters(2), {"plus": np.zeros((2, 128))},
                            {"sample_rate": FS, "duration": DURATION, "right_pad": RIGHT_PAD})
    with pytest.raises(InputError, match=r"no_cross\.hdf5: waveforms/cross: dataset missing"):
        WaveformSet.read(no_cross)
    path, _, _ = training  # polarizations given where responses are expected
    with pytest.raises(InputError, match=r"train_waveforms\.hdf5: parameters/snr: dataset missing"):
        ResponseSet.read(path)


def test_nan_in_an_ifo_snrs_column_is_named_by_row(injections):
    path, _ = injections
    with h5py.File(path, "a") as handle:
        handle["parameters/ifo_snrs"][3, 1] = np.nan
    with pytest.raises(InputError, match=r"parameters/ifo_snrs: NaN or infinite value in row 3"):
        ResponseSet.read_parameters(path, ["l1_snr"], [0, 3])

"""Issue 24: aframe-train, aframe-infer and aframe-sv read a dataset aframe produced as they read their own.

Each test writes the same rows twice, in our layout and in aframe's (``aframe_files``: gwpy float64 background,
ledger files without a ``ledger`` attribute, 2-D ``ifo_snrs``), runs the program's reading entry point (train's
data module, the infer node, the sv node) on both, and requires the same inputs, events or volumes.
"""

import h5py
import numpy as np
import pytest
import torch

from executables.analysis.sv import main as sv_main
from executables.formats.events import read_node_events
from executables.formats.sets import RejectedSet, ResponseSet, WaveformSet
from executables.formats.strain import read_background
from executables.infer.infer import main as infer_main
from executables.train.config import Shared, read_config
from executables.train.module import AframeData
from tests.executables.analysis import test_sv
from tests.executables.data.test_waveforms import invoke
from tests.executables.formats import aframe_files
from tests.executables.infer.infer_inputs import bundle_arguments, make_bundle
from tests.executables.train.conftest import IFOS, SAMPLE_RATE, write_inputs

pytestmark = pytest.mark.usefixtures("restore_logging")


def aframe_background(path, directory):
    """Our background file rewritten by gwpy as aframe's, same samples and name."""
    strain, t0, rate = read_background(path)
    return aframe_files.background(directory, strain, int(t0), rate)


def aframe_responses(path, destination):
    """Our ResponseSet rewritten in aframe's layout: per-ifo SNR columns become one (rows, ifos) ``ifo_snrs``."""
    ours = ResponseSet.read(path)
    ifo_snrs = np.stack([ours.ifo_snrs()[ifo] for ifo in ours.ifos], axis=1)
    parameters = {k: v for k, v in ours.parameters.items() if k not in {f"{i.lower()}_snr" for i in ours.ifos}}
    timing = {} if ours.injection_time is None else {"injection_time": ours.injection_time, "shift": ours.shift}
    written = aframe_files.response_set(
        destination, {ifo: ours.waveforms[ifo.lower()] for ifo in ours.ifos}, parameters, ifo_snrs,
        ifos=ours.ifos, sample_rate=ours.sample_rate, duration=ours.duration, right_pad=ours.right_pad,
        num_injections=ours.num_injections, **timing)
    with h5py.File(written, "a") as handle:  # aframe stores the network SNR it computed, not a recomputed one
        handle["parameters/snr"][...] = ours.snr
    return written


def test_train_data_module_reads_aframe_files_as_ours(tmp_path):
    ours = write_inputs(tmp_path / "ours", background_seconds=128.0, count=16)
    root = tmp_path / "aframe"
    root.mkdir()
    background = aframe_background(ours["background"], root)
    polarizations = WaveformSet.read(ours["waveforms"])
    waveforms = aframe_files.training_waveforms(
        root / "train_waveforms.hdf5", polarizations.plus, polarizations.cross, polarizations.parameters,
        sample_rate=int(SAMPLE_RATE), duration=polarizations.duration, right_pad=polarizations.right_pad)
    validation = aframe_responses(ours["validation"], root / "val_waveforms.hdf5")
    with h5py.File(background) as handle:
        assert handle["H1"].dtype == np.float64 and "ledger" not in handle.attrs

    config = read_config(ours["config"])
    shared = Shared(IFOS, SAMPLE_RATE, 16.0, None, 0.5, 1.0, 4.0, 1122)
    expected = AframeData(config, shared, [ours["background"]], ours["waveforms"], ours["validation"])
    read = AframeData(config, shared, [background], waveforms, validation)
    for name in ("train_segments", "valid_segments"):
        for mine, theirs in zip(getattr(expected, name), getattr(read, name), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(read.bank.in_memory, expected.bank.in_memory)
    assert (read.bank.count, read.bank.coalescence) == (expected.bank.count, expected.bank.coalescence)
    np.testing.assert_array_equal(read.responses, expected.responses)
    assert read.coalescence == expected.coalescence
    for data in (expected, read):
        data.setup("fit")
    assert torch.equal(read.validation.inputs, expected.validation.inputs)
    batch, again = read.stream().batch(0, 2), expected.stream().batch(0, 2)
    assert all(torch.equal(batch[key], again[key]) for key in batch)


def test_infer_node_reads_aframe_background_and_injections_as_ours(tmp_path):
    bundle = make_bundle(tmp_path / "ours")
    result = invoke(infer_main, *bundle_arguments(bundle, tmp_path / "ours.hdf5"))
    assert result.exit_code == 0, result.stderr
    root = tmp_path / "aframe"
    root.mkdir()
    copies = {path: aframe_background(path, root) for path in {path for _, path in bundle["branches"]}}
    theirs = dict(bundle, injections=aframe_responses(bundle["injections"], root / "waveforms.hdf5"),
                  branches=[(index, copies[path]) for index, path in bundle["branches"]])
    result = invoke(infer_main, *bundle_arguments(theirs, tmp_path / "aframe.hdf5"))
    assert result.exit_code == 0, result.stderr
    expected, found = read_node_events(tmp_path / "ours.hdf5"), read_node_events(tmp_path / "aframe.hdf5")
    assert found.branches == expected.branches
    for name in ("background", "zero_lag", "foreground"):
        mine, other = getattr(expected, name), getattr(found, name)
        np.testing.assert_array_equal(other.detection_statistic, mine.detection_statistic)
        np.testing.assert_array_equal(other.detection_time, mine.detection_time)
    assert len(found.foreground) == bundle["count"] > 0
    np.testing.assert_array_equal(found.foreground.parameters["h1_snr"], expected.foreground.parameters["h1_snr"])


def test_sv_node_takes_aframe_rejected_draws_and_counts_accepted_plus_rejected(tmp_path):
    foreground, rejected, draws = test_sv.campaign()
    paths = {"background": tmp_path / "background.hdf5", "foreground": tmp_path / "foreground.hdf5",
             "rejected": tmp_path / "rejected.hdf5"}
    test_sv.background_events().write(paths["background"])
    foreground.write(paths["foreground"])
    RejectedSet(parameters=rejected, num_injections=draws).write(paths["rejected"])
    count = len(rejected["mass_1"])
    aframe_rejected = aframe_files.rejected_parameters(
        tmp_path / "rejected-parameters.hdf5", {k: rejected[k] for k in aframe_files.BILBY_PARAMETERS},
        np.full((count, 2), 3.0), ifos=IFOS)
    volumes = {}
    for name, rejected_path in (("ours", paths["rejected"]), ("aframe", aframe_rejected)):
        output = tmp_path / name / "sensitive_volume.h5"
        result = invoke(sv_main, *test_sv.arguments(dict(paths, rejected=rejected_path), output))
        assert result.exit_code == 0, result.stderr
        with h5py.File(output) as handle:
            assert handle.attrs["num_injections"] == draws  # aframe's file records none: accepted + rejected
            volumes[name] = {key: handle["populations"][key]["sv"][:] for key in handle["populations"]}
    for key, sv in volumes["ours"].items():
        np.testing.assert_allclose(volumes["aframe"][key], sv, rtol=1e-9)

"""`aframe-waveforms` (issue 6): training polarization shards and (``--validation``) projected validation responses.

Small on purpose: 4 s waveforms with 1 s right pad at 2048 Hz, 16-32 per shard, the ``bbh`` prior (loud, so most
draws pass a low threshold) and a 128 s simulated background file.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from scipy.signal import welch

from executables.common.seeding import node_rng
from executables.data.background import generate_background
from executables.data.waveforms import main, training_waveforms, validation_waveforms
from executables.formats.sets import ResponseSet, WaveformSet, ifo_snr_name
from executables.formats.strain import write_background
from executables.sources.priors import PARAMETERS, get_prior
from executables.sources.signals import WaveformSettings, generate_polarizations

WAVEFORMS = str(Path(sys.executable).with_name("aframe-waveforms"))
T0 = 1_240_579_783
FS = 2048
DURATION, RIGHT_PAD, F_MIN, F_REF = 4.0, 1.0, 20.0, 50.0
SIZE = int(DURATION * FS)
HIGHPASS, PSD_LENGTH = 32.0, 32.0
SETTINGS = WaveformSettings("IMRPhenomPv2", FS, DURATION, RIGHT_PAD, F_MIN, F_REF)
#: The waveform options as the plan passes them (docs/nodes.md), tiny.
WAVEFORM_ARGS = ("--approximant", "IMRPhenomPv2", "--prior", "bbh", "--duration", "4", "--right-pad", "1",
                 "--minimum-frequency", "20", "--reference-frequency", "50", "--sample-rate", "2048", "--seed", "7",
                 "--device", "cpu")

pytestmark = pytest.mark.usefixtures("restore_logging")




def run(program, *args):
    """A console script in a subprocess, with one thread as the plan's OMP_NUM_THREADS = request_cpus gives."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([program, *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


def invoke(command, *args):
    """A node program in this process (faster than a subprocess); exit code and stderr as a subprocess gives."""
    return CliRunner().invoke(command, [str(arg) for arg in args], prog_name="aframe-test")


def assert_refused(result, *words, leftovers=()):
    """Exit 2 with every word in the message, and no file left where an output would be."""
    assert result.exit_code == 2, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    for path in leftovers:
        assert not path.exists()
        assert not list(path.parent.glob(f".{path.name}.tmp-*"))


@pytest.fixture(scope="module")
def background(tmp_path_factory) -> Path:
    """128 s of simulated H1/L1 design noise at 2048 Hz."""
    path = tmp_path_factory.mktemp("background") / f"background-{T0}-128.hdf5"
    return generate_background(path, ["H1", "L1"], T0, 128, FS, seed=3)


def independent_snrs(responses: np.ndarray, strain: np.ndarray, highpass: float) -> np.ndarray:
    """Optimal SNR of each (T,) response against the median-Welch PSD of ``strain``, computed here from scratch:
    rho^2 = 4 df sum_{f >= highpass} |h(f)|^2 / S(f) (weight 2 at Nyquist), h(f) = rfft(h) / fs."""
    size = responses.shape[-1]
    frequencies, psd = welch(strain, fs=FS, window="hann", nperseg=size, noverlap=size // 2, average="median")
    spectrum = np.fft.rfft(responses.astype(np.float64), axis=-1) / FS
    weight = np.where(frequencies >= highpass, 4.0, 0.0)
    weight[-1] /= 2.0
    return np.sqrt(np.sum(weight * np.abs(spectrum) ** 2 / psd, axis=-1) * FS / size)


def strain_of(path: Path, ifo: str, seconds: float) -> np.ndarray:
    with h5py.File(path) as handle:
        return handle[ifo][: int(seconds * FS)].astype(np.float64)


# -- training shards --------------------------------------------------------------------------------------------------


def test_training_console_script_writes_a_waveform_set_and_its_marker(tmp_path):
    output, marker = tmp_path / "waveforms" / "train-001.hdf5", tmp_path / "done" / "waveforms-train-001.json"
    result = run(WAVEFORMS, "--shard", 1, "--num", 16, "--output", output, *WAVEFORM_ARGS,
                 "--node", "waveforms-train-001", "--node-hash", "h", "--done-marker", marker)
    assert result.returncode == 0, result.stderr
    waveforms = WaveformSet.read(output)
    assert len(waveforms) == 16 and waveforms.num_injections == 16
    assert waveforms.plus.shape == waveforms.cross.shape == (16, SIZE) and waveforms.plus.dtype == np.float32
    assert set(waveforms.parameters) == set(PARAMETERS)
    assert waveforms.metadata_values() == {
        "num_injections": 16, "sample_rate": FS, "duration": DURATION, "right_pad": RIGHT_PAD,
        "approximant": "IMRPhenomPv2", "prior": "bbh", "minimum_frequency": F_MIN, "reference_frequency": F_REF}
    peak = np.argmax(waveforms.plus**2 + waveforms.cross**2, axis=-1)
    assert np.all(np.abs(peak - (DURATION - RIGHT_PAD) * FS) < 0.05 * FS)  # merger near the coalescence sample
    record = json.loads(marker.read_text())
    assert record["node"] == "waveforms-train-001" and record["outputs"][0]["path"] == str(output)
    with h5py.File(output) as handle:
        assert handle["waveforms/plus"].chunks[1:] == (SIZE,)  # whole rows per chunk, for random reads


def test_training_rows_are_the_prior_draws_of_the_shard_seed_and_their_polarizations(tmp_path):
    output = training_waveforms(tmp_path / "train.hdf5", num=12, shard=4, settings=SETTINGS,
                                prior=get_prior("bbh"), seed=7, block_rows=5)
    waveforms = WaveformSet.read(output)
    expected = get_prior("bbh").sample(12, node_rng(7, "waveforms", "train", 4))
    for key in PARAMETERS:
        np.testing.assert_array_equal(waveforms.parameters[key], expected[key])
    plus, cross = generate_polarizations(expected, "IMRPhenomPv2", FS, DURATION, RIGHT_PAD, F_MIN, F_REF)
    np.testing.assert_array_equal(waveforms.plus, plus)
    np.testing.assert_array_equal(waveforms.cross, cross)


def test_training_shards_are_byte_identical_for_a_seed_whatever_the_workers_and_differ_by_shard(tmp_path):
    def shard(name, index=0, seed=7, **kwargs):
        return training_waveforms(tmp_path / name, num=16, shard=index, settings=SETTINGS, prior=get_prior("bbh"),
                                  seed=seed, **kwargs).read_bytes()

    first = shard("a.hdf5")
    assert shard("b.hdf5") == first
    assert shard("c.hdf5", workers=2, block_rows=7) == first
    shard("d.hdf5", index=1)
    shard("e.hdf5", seed=8)
    mine = WaveformSet.read(tmp_path / "a.hdf5")
    for other in (WaveformSet.read(tmp_path / "d.hdf5"), WaveformSet.read(tmp_path / "e.hdf5")):
        assert not np.any(other.parameters["mass_1"] == mine.parameters["mass_1"])
        assert not np.array_equal(other.plus, mine.plus)


# -- validation shards ------------------------------------------------------------------------------------------------


def validation_args(background, output, *extra):
    return ("--validation", "--shard", 0, "--num", 16, "--background", background, "--ifos", "H1,L1",
            "--highpass", HIGHPASS, "--snr-threshold", 4, "--psd-length", PSD_LENGTH, "--output", output,
            *WAVEFORM_ARGS, *extra)


def test_validation_console_script_stores_responses_above_threshold_with_their_snrs(tmp_path, background):
    output, marker = tmp_path / "val-000.hdf5", tmp_path / "done" / "waveforms-val-000.json"
    result = run(WAVEFORMS, *validation_args(background, output), "--node-hash", "h", "--done-marker", marker)
    assert result.returncode == 0, result.stderr
    responses = ResponseSet.read(output)
    assert len(responses) == 16 and responses.num_injections >= 16
    assert responses.ifos == ["H1", "L1"] and set(responses.waveforms) == {"h1", "l1"}
    assert responses.waveforms["h1"].shape == (16, SIZE) and responses.waveforms["h1"].dtype == np.float32
    assert responses.injection_time is None and responses.shift is None
    assert set(responses.parameters) == set(PARAMETERS) | {"h1_snr", "l1_snr"}
    metadata = responses.metadata_values()
    assert (metadata["snr_threshold"], metadata["highpass"], metadata["prior"]) == (4.0, HIGHPASS, "bbh")
    assert (metadata["duration"], metadata["right_pad"], metadata["sample_rate"]) == (DURATION, RIGHT_PAD, FS)
    assert np.all(responses.snr >= 4.0)
    per_ifo = {ifo: independent_snrs(responses.waveforms[ifo.lower()], strain_of(background, ifo, PSD_LENGTH),
                                     HIGHPASS) for ifo in responses.ifos}
    for ifo, values in per_ifo.items():
        np.testing.assert_allclose(values, responses.parameters[ifo_snr_name(ifo)], rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(per_ifo["H1"] ** 2 + per_ifo["L1"] ** 2), responses.snr, rtol=1e-5)
    assert json.loads(marker.read_text())["outputs"][0]["path"] == str(output)


def validation(tmp_path, background, name, shard=0, threshold=4.0, **kwargs):
    return validation_waveforms(tmp_path / name, num=16, shard=shard, background=background, ifos=["H1", "L1"],
                                highpass=HIGHPASS, snr_threshold=threshold, psd_length=PSD_LENGTH,
                                settings=SETTINGS, prior=get_prior("bbh"), seed=7, **kwargs)


def test_validation_shards_are_deterministic_and_count_every_draw(tmp_path, background):
    first = validation(tmp_path, background, "a.hdf5", threshold=15.0)
    assert validation(tmp_path, background, "b.hdf5", threshold=15.0).read_bytes() == first.read_bytes()
    responses = ResponseSet.read(first)
    assert np.all(responses.snr >= 15.0)
    assert responses.num_injections > len(responses) == 16  # draws below 15 were made, counted and not stored
    other = ResponseSet.read(validation(tmp_path, background, "c.hdf5", shard=1, threshold=15.0))
    assert not np.any(np.isin(other.parameters["mass_1"], responses.parameters["mass_1"]))


def test_validation_reads_float64_background_as_aframe_writes_it(tmp_path, background):
    strain = {ifo: strain_of(background, ifo, 64) for ifo in ("H1", "L1")}
    path = tmp_path / "aframe-background.hdf5"
    with h5py.File(path, "w") as handle:
        for ifo, samples in strain.items():
            dataset = handle.create_dataset(ifo, data=samples)
            dataset.attrs.update(x0=float(T0), dx=1.0 / FS, xunit="s")
    ours = ResponseSet.read(validation(tmp_path, background, "ours.hdf5"))
    theirs = ResponseSet.read(validation(tmp_path, path, "theirs.hdf5"))
    np.testing.assert_array_equal(theirs.snr, ours.snr)  # float32 on disk read as float64: the same numbers


# -- bad input --------------------------------------------------------------------------------------------------------


def test_unknown_approximant_and_prior_are_refused_naming_them(tmp_path):
    output = tmp_path / "train.hdf5"
    base = ("--shard", 0, "--num", 2, "--output", output)
    result = invoke(main, *base, *WAVEFORM_ARGS, "--approximant", "NoSuchApproximant")
    assert_refused(result, "--approximant", "NoSuchApproximant", leftovers=[output])
    result = invoke(main, *base, *WAVEFORM_ARGS, "--prior", "no_such_prior")
    assert_refused(result, "--prior", "no_such_prior", "end_o3_ratesandpops", leftovers=[output])


def test_validation_options_without_validation_and_validation_without_background_are_refused(tmp_path, background):
    output = tmp_path / "out.hdf5"
    result = invoke(main, "--shard", 0, "--num", 2, "--output", output, "--background", background, *WAVEFORM_ARGS)
    assert_refused(result, "--background", "only apply with --validation", leftovers=[output])
    result = invoke(main, "--validation", "--shard", 0, "--num", 2, "--output", output, *WAVEFORM_ARGS)
    assert_refused(result, "--background", leftovers=[output])


def test_bad_background_files_are_refused_naming_file_and_field(tmp_path, background):
    output = tmp_path / "val.hdf5"
    foreign = tmp_path / "foreign.hdf5"
    foreign.write_text("not hdf5\n")
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(background.read_bytes()[: background.stat().st_size // 2])
    one_ifo = write_background(tmp_path / "h1-only.hdf5", {"H1": strain_of(background, "H1", 64)}, T0, FS)
    slow = write_background(tmp_path / "1024hz.hdf5", {ifo: np.zeros(1024 * 64) for ifo in ("H1", "L1")}, T0, 1024)
    silent = write_background(tmp_path / "zeros.hdf5", {ifo: np.zeros(FS * 64) for ifo in ("H1", "L1")}, T0, FS)
    noise = {ifo: strain_of(background, ifo, 64) for ifo in ("H1", "L1")}
    misnamed = write_background(tmp_path / f"background-{T0 + 8}-64.hdf5", noise, T0, FS)
    mislabelled = write_background(tmp_path / "rate.hdf5", noise, T0, FS, {"sample_rate": 4096.0})
    cases = [
        (foreign, (str(foreign), "not a readable HDF5 file")),
        (truncated, (str(truncated),)),
        (one_ifo, (str(one_ifo), "L1", "dataset missing")),
        (slow, (str(slow), "sample rate is 1024 Hz", "--sample-rate is 2048 Hz")),
        (silent, (str(silent), "H1", "strain is zero for a whole PSD window")),
        (misnamed, (str(misnamed), "file name: t0 1240579791.0", "x0 = 1240579783.0")),
        (mislabelled, (str(mislabelled), "attribute 'sample_rate': sample_rate 4096.0", "1/dx = 2048.0 Hz")),
        (tmp_path / "missing.hdf5", ("missing.hdf5", "no such file")),
    ]
    for path, words in cases:
        assert_refused(invoke(main, *validation_args(path, output)), *words, leftovers=[output])
    result = invoke(main, *validation_args(background, output, "--psd-length", 1000))
    assert_refused(result, str(background), "less than --psd-length 1000 s", leftovers=[output])
    result = invoke(main, *validation_args(background, output, "--psd-length", 2))
    assert_refused(result, "--psd-length", "shorter than one PSD segment", leftovers=[output])


def test_an_unreachable_threshold_exits_2_naming_prior_and_threshold(tmp_path, background):
    output = tmp_path / "val.hdf5"
    result = invoke(main, *validation_args(background, output, "--snr-threshold", 1e6, "--max-draws", 40))
    assert_refused(result, "'bbh'", "SNR >= 1e+06", "max_draws=40", leftovers=[output])


def test_cuda_without_a_gpu_exits_2(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here")
    output = tmp_path / "train.hdf5"
    result = invoke(main, "--shard", 0, "--num", 2, "--output", output, *WAVEFORM_ARGS, "--device", "cuda")
    assert_refused(result, "--device cuda", leftovers=[output])

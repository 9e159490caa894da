"""`aframe-injections` (issue 6): accepted test injections at the planned slots and shifts, every rejected draw.

Two 256 s simulated background files; 4 s ``bbh`` waveforms; threshold 12 so that a good share of draws is rejected
(rejected draws must be counted and stored) while a shard still needs only ~70 draws.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from aframe_dag.timeslides import analysed_span, injection_times, offsets
from executables.data.background import generate_background
from executables.data.injections import generate_injections, main
from executables.formats.sets import RejectedSet, ResponseSet, ifo_snr_name
from executables.formats.strain import write_background
from executables.sources.priors import PARAMETERS, get_prior
from tests.executables.data.test_waveforms import (
    FS,
    SETTINGS,
    SIZE,
    T0,
    WAVEFORM_ARGS,
    assert_refused,
    independent_snrs,
    invoke,
    run,
    strain_of,
)

INJECTIONS = str(Path(sys.executable).with_name("aframe-injections"))
MERGE = str(Path(sys.executable).with_name("aframe-merge"))
SECONDS = 256
SHIFTS, INDICES = (0.0, 1.0), (2, 0, 1)  # indices deliberately out of order: slots follow the order given
DEAD_TIME, SPACING, BUFFER, HIGHPASS, THRESHOLD = 32.0, 16.0, 8.0, 32.0, 12.0

pytestmark = pytest.mark.usefixtures("restore_logging")


def planned(t0, indices=INDICES):
    """What the plan computes for a file: slot times (GPS) and per-ifo shifts, branch by branch."""
    times, shifts = [], []
    for index in indices:
        branch = injection_times(SECONDS, SHIFTS, index, DEAD_TIME, SPACING, BUFFER)
        times += [t0 + offset for offset in branch]
        shifts += [offsets(SHIFTS, index)] * len(branch)
    return np.array(times), np.array(shifts)


EXPECTED = len(planned(T0)[0])


@pytest.fixture(scope="module")
def backgrounds(tmp_path_factory) -> list[Path]:
    """Two consecutive 256 s test files of simulated H1/L1 noise."""
    directory = tmp_path_factory.mktemp("background")
    return [generate_background(directory / f"background-{t0}-{SECONDS}.hdf5", ["H1", "L1"], t0, SECONDS, FS, seed=4)
            for t0 in (T0, T0 + SECONDS)]


def args(background, output, rejected, *extra, expected=EXPECTED):
    return ("--background", background, "--ifos", "H1,L1", "--shifts", "0,1",
            "--shift-indices", ",".join(map(str, INDICES)), "--dead-time", DEAD_TIME, "--spacing", SPACING,
            "--buffer", BUFFER, "--snr-threshold", THRESHOLD, "--highpass", HIGHPASS, "--expected-slots", expected,
            "--output", output, "--rejected", rejected, *WAVEFORM_ARGS, *extra)


def inject(background, directory, name="shard", **overrides):
    values = dict(background=background, ifos=["H1", "L1"], shifts=SHIFTS, shift_indices=INDICES,
                  dead_time=DEAD_TIME, spacing=SPACING, buffer=BUFFER, snr_threshold=THRESHOLD, highpass=HIGHPASS,
                  expected_slots=EXPECTED, settings=SETTINGS, prior=get_prior("bbh"), seed=7)
    values.update(overrides)
    return generate_injections(directory / f"{name}.hdf5", directory / f"{name}-rejected.hdf5", **values)


@pytest.fixture(scope="module")
def shard(backgrounds, tmp_path_factory):
    """The first file's injections, made by the console script, with its done-marker."""
    directory = tmp_path_factory.mktemp("injections")
    output, rejected = directory / f"injections-{T0}-{SECONDS}.hdf5", directory / f"rejected-{T0}-{SECONDS}.hdf5"
    marker = directory / "done" / "injections.json"
    result = run(INJECTIONS, *args(backgrounds[0], output, rejected), "--node", f"injections-{T0}-{SECONDS}",
                 "--node-hash", "h", "--done-marker", marker)
    assert result.returncode == 0, result.stderr
    return output, rejected, marker


def test_console_script_fills_every_planned_slot_and_writes_its_marker(shard):
    output, rejected, marker = shard
    accepted = ResponseSet.read(output)
    assert len(accepted) == EXPECTED > 30
    times, shifts = planned(T0)
    np.testing.assert_array_equal(accepted.injection_time, times)
    np.testing.assert_array_equal(accepted.shift, shifts)
    assert accepted.ifos == ["H1", "L1"] and accepted.waveforms["l1"].shape == (EXPECTED, SIZE)
    assert set(accepted.parameters) == set(PARAMETERS) | {"h1_snr", "l1_snr"}
    metadata = accepted.metadata_values()
    assert (metadata["snr_threshold"], metadata["highpass"], metadata["prior"]) == (THRESHOLD, HIGHPASS, "bbh")
    outputs = [item["path"] for item in json.loads(marker.read_text())["outputs"]]
    assert outputs == [str(output), str(rejected)]


def test_injection_times_lie_inside_each_branch_analysed_span(shard):
    accepted = ResponseSet.read(shard[0])
    for time, shift in zip(accepted.injection_time, accepted.shift, strict=True):
        index = int(shift[1])  # ifo 2 moves by index x 1 s
        start, stop = analysed_span(SECONDS, SHIFTS, index, DEAD_TIME)
        assert T0 + start + BUFFER <= time <= T0 + stop - BUFFER
    for index in INDICES:
        branch = np.sort(accepted.injection_time[accepted.shift[:, 1] == index])
        assert np.all(np.diff(branch) == SPACING)


def test_every_draw_is_accepted_or_rejected_and_counted_in_both_files(shard):
    accepted, rejected = ResponseSet.read(shard[0]), RejectedSet.read(shard[1])
    assert len(rejected) > 0
    assert accepted.num_injections == rejected.num_injections == len(accepted) + len(rejected)
    assert np.all(accepted.snr >= THRESHOLD) and np.all(rejected.parameters["snr"] < THRESHOLD)
    assert set(rejected.parameters) == set(PARAMETERS) | {"snr", "h1_snr", "l1_snr", "injection_time"}
    assert set(rejected.parameters["injection_time"]) <= set(accepted.injection_time)


def design_snrs(responses: np.ndarray, name: str, highpass: float) -> np.ndarray:
    """Optimal SNRs against lalsimulation's PSD ``name`` evaluated here per frequency, as an independent check:
    rho^2 = 4 df sum_{highpass <= f < Nyquist} |h(f)|^2 / S(f) (a waveform carries nothing at Nyquist)."""
    import lal
    import lalsimulation

    size = responses.shape[-1]
    series = lal.CreateREAL8FrequencySeries("psd", 0, 0.0, FS / size, lal.DimensionlessUnit, size // 2 + 1)
    getattr(lalsimulation, f"SimNoisePSD{name}")(series, 10.0)  # a tabulated curve fills the series
    frequencies = np.fft.rfftfreq(size, 1 / FS)
    band = (frequencies >= highpass) & (frequencies < FS / 2)
    spectrum = np.fft.rfft(responses.astype(np.float64), axis=-1)[:, band] / FS
    return np.sqrt(4 * np.sum(np.abs(spectrum) ** 2 / series.data.data[band], axis=-1) * FS / size)


def test_simulated_noise_snrs_are_against_the_design_psd_it_was_drawn_from(shard):
    """Issue 25: not the few seconds the infer node whitens with, whose estimate reads SNRs high."""
    accepted = ResponseSet.read(shard[0])
    assert accepted.psd.startswith("the design PSDs the noise was drawn from (H1 aLIGODesignSensitivityT1800044")
    per_ifo = {ifo: design_snrs(accepted.waveforms[ifo.lower()], "aLIGODesignSensitivityT1800044", HIGHPASS)
               for ifo in accepted.ifos}
    for ifo, values in per_ifo.items():
        np.testing.assert_allclose(values, accepted.parameters[ifo_snr_name(ifo)], rtol=1e-6)
    np.testing.assert_allclose(np.hypot(per_ifo["H1"], per_ifo["L1"]), accepted.snr, rtol=1e-6)


def test_other_data_snrs_are_against_a_welch_psd_of_the_whole_file(backgrounds, tmp_path):
    """Strain with no design PSD behind it (real data, aframe's files): a median Welch PSD over all of the file."""
    strain = {ifo: strain_of(backgrounds[0], ifo, SECONDS) for ifo in ("H1", "L1")}
    plain = write_background(tmp_path / backgrounds[0].name, strain, T0, FS)
    (tmp_path / "out").mkdir()
    output, _ = inject(plain, tmp_path / "out")
    accepted = ResponseSet.read(output)
    assert accepted.psd == f"Welch median over the whole file ({SECONDS:g} s, fftlength 4 s)"
    for ifo in accepted.ifos:
        np.testing.assert_allclose(independent_snrs(accepted.waveforms[ifo.lower()], strain[ifo], HIGHPASS),
                                   accepted.parameters[ifo_snr_name(ifo)], rtol=1e-5)


def test_injections_are_byte_identical_for_a_file_and_seed(shard, backgrounds, tmp_path):
    output, rejected = inject(backgrounds[0], tmp_path, workers=2)
    assert output.read_bytes() == shard[0].read_bytes()
    assert rejected.read_bytes() == shard[1].read_bytes()


def test_merging_two_files_sums_num_injections(shard, backgrounds, tmp_path):
    second, second_rejected = inject(backgrounds[1], tmp_path)
    first, mine = ResponseSet.read(shard[0]), ResponseSet.read(second)
    assert not np.any(np.isin(mine.parameters["mass_1"], first.parameters["mass_1"]))  # another file, other draws
    np.testing.assert_array_equal(mine.injection_time, planned(T0 + SECONDS)[0])
    for kind, inputs, cls in (("injections", (shard[0], second), ResponseSet),
                              ("rejected", (shard[1], second_rejected), RejectedSet)):
        merged = tmp_path / f"{kind}.hdf5"
        result = run(MERGE, "--kind", kind, "--output", merged, "--device", "cpu",
                     *[item for path in inputs for item in ("--input", path)])
        assert result.returncode == 0, result.stderr
        parts = [cls.read(path) for path in inputs]
        assert cls.read(merged).num_injections == sum(part.num_injections for part in parts)
        assert len(cls.read(merged)) == sum(len(part) for part in parts)
    total = ResponseSet.read(tmp_path / "injections.hdf5")
    rejected = RejectedSet.read(tmp_path / "rejected.hdf5")
    assert total.num_injections == rejected.num_injections == len(total) + len(rejected)


# -- bad input --------------------------------------------------------------------------------------------------------


def test_a_slot_count_other_than_the_plans_is_refused(backgrounds, tmp_path):
    output, rejected = tmp_path / "injections.hdf5", tmp_path / "rejected.hdf5"
    result = invoke(main, *args(backgrounds[0], output, rejected, expected=EXPECTED + 1))
    assert_refused(result, "--expected-slots", f"expects {EXPECTED + 1}", f"gives {EXPECTED}", "disagree",
                   leftovers=[output, rejected])


def test_bad_options_and_files_are_refused_naming_them(backgrounds, tmp_path):
    output, rejected = tmp_path / "injections.hdf5", tmp_path / "rejected.hdf5"
    one_ifo = write_background(tmp_path / "h1-only.hdf5", {"H1": strain_of(backgrounds[0], "H1", 64)}, T0, FS)
    slow = write_background(tmp_path / "512hz.hdf5", {ifo: np.zeros(512 * 64) for ifo in ("H1", "L1")}, T0, 512)
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(backgrounds[0].read_bytes()[:4096])
    cases = [
        ((one_ifo,), (str(one_ifo), "L1", "dataset missing")),
        ((slow,), (str(slow), "sample rate is 512 Hz")),
        ((truncated,), (str(truncated),)),
        ((backgrounds[0], "--shifts", "0,1,2"), ("--shifts", "3 shift steps for 2 ifos")),
        ((backgrounds[0], "--shift-indices", "0,0"), ("--shift-indices", "repeated")),
        ((backgrounds[0], "--approximant", "Bogus"), ("--approximant", "Bogus")),
        ((backgrounds[0], "--prior", "nope"), ("--prior", "nope")),
        ((backgrounds[0], "--ifos", "H1,Q9"), ("--ifos", "Q9")),
        ((backgrounds[0], "--snr-threshold", 1e6, "--max-draws", 30), ("'bbh'", "SNR >= 1e+06", "max_draws=30")),
    ]
    for (background, *extra), words in cases:
        result = invoke(main, *args(background, output, rejected), *extra)
        assert_refused(result, *words, leftovers=[output, rejected])

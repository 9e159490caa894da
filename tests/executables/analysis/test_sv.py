"""`aframe-sv` (issue 11): SV and distance curves, PNGs and the found-missed table from small hand-made event files.

A campaign of 4000 ``end_o3_ratesandpops`` draws whose stand-in SNR (chirp mass over distance) decides acceptance
(SNR >= 8: foreground rows, the rest rejected) and a background of 400 Gaussian statistics over 0.2 yr, so the FAR
grid runs from 5/yr to --max-far 1000/yr (k = 1..200).
"""

import csv
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from executables.analysis.sv import main
from executables.analysis.volume import Population, astrophysical_volume, log_weights, sensitive_volume
from executables.formats.events import SECONDS_PER_YEAR, EventSet, RecoveredInjectionSet
from executables.formats.sets import RejectedSet
from executables.sources.priors import PARAMETERS, get_prior
from tests.executables.analysis.test_volume import loudness
from tests.executables.data.test_waveforms import assert_refused, invoke

PRIOR, DRAWS, TB = "end_o3_ratesandpops", 4000, 0.2 * SECONDS_PER_YEAR
COMBOS = "35:35,35:20,20:20,20:10"
T0 = 1_240_000_000.0

pytestmark = pytest.mark.usefixtures("restore_logging")


def background_events(n=400, ifos=("H1", "L1"), Tb=TB, seed=0):
    rng = np.random.default_rng(seed)
    return EventSet(detection_statistic=rng.normal(0.0, 1.0, n), detection_time=T0 + np.sort(rng.uniform(0, 1e4, n)),
                    shift=np.tile([0.0, 1.0], (n, 1))[:, :len(ifos)], Tb=Tb, ifos=list(ifos))


def campaign(seed=1):
    """(foreground, rejected parameters, num_injections) of one hand-made injection campaign."""
    rng = np.random.default_rng(seed)
    draws = get_prior(PRIOR).sample(DRAWS, rng)
    snr = loudness(draws, scale=1500.0)
    accepted = snr >= 8
    n = int(accepted.sum())
    parameters = {key: draws[key][accepted] for key in PARAMETERS}
    parameters.update(h1_snr=snr[accepted] * 0.6, l1_snr=snr[accepted] * 0.8)
    injection_time = T0 + 16.0 * np.arange(n)
    foreground = RecoveredInjectionSet(
        detection_statistic=2 * np.log(snr[accepted] / 8) + rng.normal(0, 0.3, n),
        detection_time=injection_time + rng.uniform(-0.5, 0.5, n), shift=np.zeros((n, 2)),
        injection_time=injection_time, snr=snr[accepted], parameters=parameters, Tb=0.0, ifos=["H1", "L1"])
    rejected = {key: draws[key][~accepted] for key in PARAMETERS}
    return foreground, rejected, DRAWS


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    foreground, rejected, num_injections = campaign()
    paths = {"background": tmp_path / "results" / "background.hdf5",
             "foreground": tmp_path / "results" / "foreground.hdf5",
             "rejected": tmp_path / "test" / "rejected-parameters.hdf5"}
    background_events().write(paths["background"])
    foreground.write(paths["foreground"])
    RejectedSet(parameters=rejected, num_injections=num_injections).write(paths["rejected"])
    return paths


def arguments(paths, output, **overrides):
    values = {"background": paths["background"], "foreground": paths["foreground"], "rejected": paths["rejected"],
              "mass-combos": COMBOS, "source-prior": PRIOR, "max-far": 1000, "output": output, "device": "cpu",
              **overrides}
    return [item for name, value in values.items() for item in (f"--{name}", value)]


def outputs(output: Path) -> list[Path]:
    return [output, *(output.with_name(name) for name in ("sensitive_volume.png", "sensitive_distance.png",
                                                          "found-missed.csv", "found-missed.hdf5"))]


def test_sensitive_volume_file_plots_and_found_missed_table(inputs, tmp_path):
    output = tmp_path / "results" / "sensitive_volume.h5"
    marker = tmp_path / "done" / "sv.json"
    result = invoke(main, *arguments(inputs, output), "--done-marker", marker, "--node-hash", "h")
    assert result.exit_code == 0, result.stderr
    assert marker.is_file()
    for path in outputs(output):
        assert path.is_file() and path.stat().st_size > 0, path
    assert not list(output.parent.glob(".*.tmp-*"))

    background = EventSet.read(inputs["background"])
    foreground = RecoveredInjectionSet.read(inputs["foreground"])
    prior = get_prior(PRIOR)
    with h5py.File(output) as handle:
        fars, thresholds = handle["fars"][:], handle["thresholds"][:]
        assert handle.attrs["Tb"] == TB and handle.attrs["num_injections"] == DRAWS
        assert handle.attrs["num_accepted"] == len(foreground)
        v0 = handle.attrs["V0"]
        assert v0 == pytest.approx(astrophysical_volume(prior))
        populations = {key: {name: handle["populations"][key][name][:] for name in
                             ("sv", "sv_err", "distance", "distance_err")} | dict(handle["populations"][key].attrs)
                       for key in handle["populations"]}
    # the FAR grid: k / Tb for k = 1 .. 1000/yr x 0.2 yr = 200, and the thresholds give exactly those FARs
    assert fars[0] == pytest.approx(1 / 0.2) and fars[-1] == pytest.approx(1000.0)
    np.testing.assert_allclose(background.far(thresholds), fars)
    assert np.all(np.diff(fars) > 0)
    assert set(populations) == {"35-35", "35-20", "20-20", "20-10"}
    assert (populations["35-20"]["mass_1"], populations["35-20"]["mass_2"]) == (35.0, 20.0)

    # the same numbers from the maths over every draw (rejected ones at -inf: never found)
    rejected = RejectedSet.read(inputs["rejected"]).parameters
    draws = {key: np.concatenate([foreground.parameters[key], rejected[key]]) for key in PARAMETERS}
    statistic = np.concatenate([foreground.detection_statistic, np.full(len(rejected["mass_1"]), -np.inf)])
    population = Population(35.0, 20.0)
    weights = np.exp(log_weights(prior, population, draws))
    sv, err = sensitive_volume(statistic, weights[None], thresholds, v0)
    np.testing.assert_allclose(populations["35-20"]["sv"], sv[0], rtol=1e-9)
    np.testing.assert_allclose(populations["35-20"]["sv_err"], err[0], rtol=1e-9)
    for values in populations.values():
        assert np.all(np.diff(values["sv"]) >= 0) and values["sv"][-1] > 0
        np.testing.assert_allclose(4 / 3 * math.pi * values["distance"] ** 3, values["sv"] * 1e9, rtol=1e-9)
        assert values["effective_samples"] > 1 and values["support_fraction"] == 1.0

    with open(output.with_name("found-missed.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(foreground)
    with h5py.File(output.with_name("found-missed.hdf5")) as handle:
        columns = list(handle.attrs["columns"])
        assert columns == list(rows[0])
        assert {"mass_1_source", "redshift", "snr", "h1_snr", "detection_statistic", "far", "far_upper_limit",
                "shift_l1"} <= set(columns)
        far, upper_limit = handle["far"][:], handle["far_upper_limit"][:]
        measured = background.significance(foreground.detection_statistic)
        np.testing.assert_array_equal(upper_limit, measured == 0)  # louder than every background event
        assert upper_limit.any() and not upper_limit.all()
        np.testing.assert_array_equal(far[~upper_limit], measured[~upper_limit])
        np.testing.assert_allclose(far[upper_limit], 1 / 0.2)  # below 1/Tb, never 0
        np.testing.assert_array_equal(handle["mass_1"][:], foreground.parameters["mass_1"])
    assert float(rows[3]["detection_statistic"]) == foreground.detection_statistic[3]


def test_plots_show_the_curves(inputs, tmp_path):
    """The PNGs are real images of the size a 2x2 grid of panels gives."""
    from matplotlib import image

    output = tmp_path / "out" / "sensitive_volume.h5"
    assert invoke(main, *arguments(inputs, output, **{"mass-combos": "35:20,30:30,20:10"})).exit_code == 0
    for name in ("sensitive_volume.png", "sensitive_distance.png"):
        pixels = image.imread(output.with_name(name))
        assert pixels.shape[0] > 600 and pixels.shape[1] > 1000
        assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_max_far_below_one_over_tb_gives_empty_curves(inputs, tmp_path):
    output = tmp_path / "sensitive_volume.h5"
    result = invoke(main, *arguments(inputs, output, **{"max-far": 1}))
    assert result.exit_code == 0, result.stderr
    assert "no background event lies within FAR" in result.stderr
    with h5py.File(output) as handle:
        assert handle["fars"].shape == (0,) and handle["populations/35-35/sv"].shape == (0,)


def test_a_missing_input_is_named(inputs, tmp_path):
    output = tmp_path / "sensitive_volume.h5"
    inputs["rejected"].unlink()
    result = invoke(main, *arguments(inputs, output))
    assert_refused(result, str(inputs["rejected"]), "no such file", leftovers=outputs(output))


def test_draw_count_must_match_num_injections(inputs, tmp_path):
    foreground, rejected, num_injections = campaign()
    RejectedSet(parameters=rejected, num_injections=num_injections + 5).write(inputs["rejected"])
    output = tmp_path / "sensitive_volume.h5"
    result = invoke(main, *arguments(inputs, output))
    assert_refused(result, "num_injections", str(num_injections + 5), str(num_injections), str(len(foreground)),
                   leftovers=outputs(output))


def test_empty_foreground_is_refused(inputs, tmp_path):
    RecoveredInjectionSet.empty(["H1", "L1"]).write(inputs["foreground"])
    output = tmp_path / "sensitive_volume.h5"
    assert_refused(invoke(main, *arguments(inputs, output)), str(inputs["foreground"]), "foreground is empty",
                   leftovers=outputs(output))


def test_ifos_must_agree(inputs, tmp_path):
    background_events(ifos=("H1",)).write(inputs["background"])
    output = tmp_path / "sensitive_volume.h5"
    assert_refused(invoke(main, *arguments(inputs, output)), "ifos", "H1,L1", "differ", leftovers=outputs(output))


def test_no_background_livetime_is_refused(inputs, tmp_path):
    background_events(Tb=0.0).write(inputs["background"])
    output = tmp_path / "sensitive_volume.h5"
    assert_refused(invoke(main, *arguments(inputs, output)), str(inputs["background"]), "Tb",
                   leftovers=outputs(output))


def test_draws_from_another_prior_are_refused(inputs, tmp_path):
    """A draw outside --source-prior's support, a prior without a volumetric V0, an unknown prior: exit 2."""
    output = tmp_path / "sensitive_volume.h5"
    _, rejected, num_injections = campaign()
    rejected["mass_1_source"][7] = 150.0  # end_o3_ratesandpops stops at 100 Msun
    RejectedSet(parameters=rejected, num_injections=num_injections).write(inputs["rejected"])
    assert_refused(invoke(main, *arguments(inputs, output)), str(inputs["rejected"]), "1 of", "outside prior",
                   "mass_1_source = 150", leftovers=outputs(output))
    assert_refused(invoke(main, *arguments(inputs, output, **{"source-prior": "bbh"})), "bbh",
                   "not uniform in comoving volume", leftovers=outputs(output))
    assert_refused(invoke(main, *arguments(inputs, output, **{"source-prior": "nope"})), "unknown prior")


@pytest.mark.parametrize("combos", ["20:35", "35:20,35:20", "35-20", ""])
def test_bad_mass_combos(inputs, tmp_path, combos):
    result = invoke(main, *arguments(inputs, tmp_path / "sv.h5", **{"mass-combos": combos}))
    assert_refused(result, "--mass-combos")

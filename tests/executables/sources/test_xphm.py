"""Issue 24: IMRPhenomXPHM (precessing, higher modes) through the training, validation and injection nodes.

Each node's output is held to a direct lalsimulation call on the parameters it stored: ``SimInspiralChooseTDWaveform``
with the spins lalsimulation's own ``SimInspiralTransformPrecessingNewInitialConditions`` derives from the bilby
angles at the reference frequency (both frequencies lowered to 1899 / M Hz for a binary too heavy for
``minimum_frequency``, aframe's rule), t = 0 placed at sample ``(duration - right_pad) * sample_rate``.

- Training polarizations: equal to lalsimulation's samples to float32 precision (1e-6 of the peak: lalsimulation's
  own FFTs may differ in the last bits from one call to the next) everywhere but the taper at a cut edge (three
  cycles of ``minimum_frequency``, where they may only be smaller), zero outside the signal.
- Validation responses and test injections: equal, outside that taper, to lalsimulation's own projection
  ``SimDetectorStrainREAL8TimeSeries`` (antenna pattern and arrival delay at the geocentre time of the response) to
  3% of the response's peak: the node applies the sub-sample delay as an exact frequency-domain shift, lalsimulation
  interpolates it, which costs it up to about 1% at merger frequencies at 2048 Hz (measured; the best-fitting time
  offset between the two is below 5 us, where one sample is 488 us).
"""

import lal
import lalsimulation
import numpy as np
import pytest

from executables.data.injections import generate_injections, slots
from executables.data.waveforms import training_waveforms, validation_waveforms
from executables.formats.sets import ResponseSet, WaveformSet
from executables.formats.strain import write_background
from executables.sources.priors import get_prior
from executables.sources.signals import FREQUENCY_LIMIT, WaveformSettings, generate_polarizations

APPROXIMANT = "IMRPhenomXPHM"
FS, DURATION, RIGHT_PAD, F_MIN, F_REF = 2048, 4.0, 1.0, 20.0, 50.0
SIZE, COALESCENCE, TAPER = int(FS * DURATION), int(FS * (DURATION - RIGHT_PAD)), round(3 / F_MIN * FS)
IFOS = ("H1", "L1")
T0 = 1_240_000_000
PRIOR = get_prior("end_o3_ratesandpops")  # precessing spins: a_i up to 0.998 at isotropic tilts


def settings() -> WaveformSettings:
    return WaveformSettings(APPROXIMANT, FS, DURATION, RIGHT_PAD, F_MIN, F_REF)


def lalsimulation_polarizations(params: dict, row: int) -> tuple:
    """(hp, hc) REAL8TimeSeries straight from lalsimulation for one stored row; epoch relative to coalescence."""
    m1, m2 = params["mass_1"][row], params["mass_2"][row]
    f_min = min(F_MIN, FREQUENCY_LIMIT / (m1 + m2))
    f_ref = F_REF if f_min == F_MIN else f_min
    inclination, *spins = lalsimulation.SimInspiralTransformPrecessingNewInitialConditions(
        *(params[key][row] for key in ("theta_jn", "phi_jl", "tilt_1", "tilt_2", "phi_12", "a_1", "a_2")),
        m1 * lal.MSUN_SI, m2 * lal.MSUN_SI, f_ref, params["phase"][row])
    return lalsimulation.SimInspiralChooseTDWaveform(
        m1 * lal.MSUN_SI, m2 * lal.MSUN_SI, *spins, params["luminosity_distance"][row] * 1e6 * lal.PC_SI,
        inclination, params["phase"][row], 0.0, 0.0, 0.0, 1.0 / FS, f_min, f_ref, None,
        lalsimulation.GetApproximantFromString(APPROXIMANT))


def placed(series, coalescence_gps: float = 0.0) -> tuple[np.ndarray, slice]:
    """``series`` in a window with t = ``coalescence_gps`` at ``COALESCENCE``, and the samples past any taper."""
    start = COALESCENCE + round((float(series.epoch) - coalescence_gps) * FS)
    window = np.zeros(SIZE)
    first, last = max(0, start), min(SIZE, start + series.data.length)
    window[first:last] = series.data.data[first - start: last - start]
    return window, slice(first + TAPER, last - (TAPER if last == SIZE else 0))


def assert_polarizations_match(plus: np.ndarray, cross: np.ndarray, params: dict, row: int) -> None:
    for stored, series in zip((plus, cross), lalsimulation_polarizations(params, row), strict=True):
        expected, untapered = placed(series)
        peak = np.abs(expected).max()
        np.testing.assert_allclose(stored[untapered], expected[untapered], rtol=0, atol=1e-6 * peak)
        assert np.all(np.abs(stored) <= np.abs(expected) + 1e-6 * peak)  # tapered, cut or zero elsewhere
    merger = int(np.argmax(np.hypot(plus.astype(np.float64), cross.astype(np.float64))))
    assert abs(merger - COALESCENCE) < 0.05 * FS  # the loudest moment is at the coalescence sample


def assert_responses_match(responses: ResponseSet, gps_times: np.ndarray) -> None:
    for row in range(len(responses)):
        hp, hc = lalsimulation_polarizations(responses.parameters, row)
        hp.epoch += gps_times[row]
        hc.epoch += gps_times[row]
        for ifo in IFOS:
            detector = lal.cached_detector_by_prefix[ifo]
            projected = lalsimulation.SimDetectorStrainREAL8TimeSeries(
                hp, hc, *(responses.parameters[key][row] for key in ("ra", "dec", "psi")), detector)
            expected, untapered = placed(projected, gps_times[row])
            stored = responses.waveforms[ifo.lower()][row]
            peak = np.abs(expected).max()
            assert np.abs(stored[untapered] - expected[untapered]).max() < 0.03 * peak, (row, ifo)


@pytest.fixture(scope="module")
def background(tmp_path_factory):
    """64 s of white noise at a level that puts these binaries near SNR 10 (any positive PSD serves)."""
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("xphm") / f"background-{T0}-64.hdf5"
    return write_background(path, {ifo: rng.normal(scale=3e-24, size=64 * FS) for ifo in IFOS}, T0, FS)


def test_training_shard_holds_lalsimulation_xphm_polarizations(tmp_path):
    path = training_waveforms(tmp_path / "train.hdf5", num=3, shard=0, settings=settings(), prior=PRIOR, seed=5)
    stored = WaveformSet.read(path)
    assert stored.approximant == APPROXIMANT and len(stored) == 3
    assert np.any(np.abs(stored.parameters["tilt_1"] - np.pi / 2) < np.pi / 2 - 0.1)  # in-plane spin: precessing
    for row in range(3):
        assert_polarizations_match(stored.plus[row], stored.cross[row], stored.parameters, row)


def test_heavy_precessing_binaries_start_at_1899_over_m_as_in_aframe():
    """Total masses of 200-700 Msun, where 20 Hz lies above their ringdown: lalsimulation must start lower."""
    params = PRIOR.sample(3, np.random.default_rng(8))
    params.update(mass_1=np.array([400.0, 150.0, 120.0]), mass_2=np.array([300.0, 100.0, 80.0]),
                  a_1=np.full(3, 0.95), a_2=np.full(3, 0.9), tilt_1=np.full(3, 1.2), tilt_2=np.full(3, 2.0))
    plus, cross = generate_polarizations(params, APPROXIMANT, FS, DURATION, RIGHT_PAD, F_MIN, F_REF)
    assert np.all(np.abs(plus).max(axis=1) > 0)
    for row in range(3):
        assert_polarizations_match(plus[row], cross[row], params, row)


def test_validation_shard_holds_lalsimulation_xphm_responses(tmp_path, background):
    path = validation_waveforms(tmp_path / "val.hdf5", num=2, shard=0, background=background, ifos=IFOS,
                                highpass=32.0, snr_threshold=4.0, psd_length=8.0, settings=settings(), prior=PRIOR,
                                seed=5)
    responses = ResponseSet.read(path)
    assert responses.approximant == APPROXIMANT and len(responses) == 2 and np.all(responses.snr >= 4.0)
    assert_responses_match(responses, np.full(2, T0 + 8.0))  # validation responses sit at t0 + psd_length


def test_test_injections_hold_lalsimulation_xphm_responses_at_their_times(tmp_path, background):
    times, _ = slots(T0, 64, [0.0, 1.0], [1], 8.0, 16.0, 4.0)
    accepted, _ = generate_injections(
        tmp_path / "injections.hdf5", tmp_path / "rejected.hdf5", background=background, ifos=IFOS, shifts=[0.0, 1.0],
        shift_indices=[1], dead_time=8.0, spacing=16.0, buffer=4.0, snr_threshold=4.0, highpass=32.0,
        expected_slots=len(times), settings=settings(), prior=PRIOR, seed=5)
    responses = ResponseSet.read(accepted)
    assert responses.approximant == APPROXIMANT and len(responses) == len(times) >= 2
    np.testing.assert_array_equal(responses.injection_time, times)
    assert_responses_match(responses, responses.injection_time)

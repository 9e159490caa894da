"""Waveforms, projections, PSDs, SNRs and rejection sampling (issue 6), checked against lal and independent maths."""

import math

import lal
import lalsimulation
import numpy as np
import pytest

from executables.common.errors import PermanentError
from executables.sources.priors import PARAMETERS, get_prior
from executables.sources.signals import (
    MPC_SI,
    MSUN_SI,
    UnknownApproximant,
    UnreachableThreshold,
    WaveformSettings,
    antenna_response,
    estimate_psd,
    generate_polarizations,
    lal_parameters,
    project,
    rejection_sample,
    snr,
)

FS, DURATION, RIGHT_PAD, F_MIN, F_REF = 2048, 4.0, 1.0, 20.0, 50.0
APPROXIMANT = "IMRPhenomPv2"
SIZE = int(FS * DURATION)
GPS = 1_240_000_000.0


def rng(seed=0):
    return np.random.Generator(np.random.PCG64(seed))


def waveforms(params, **kwargs):
    return generate_polarizations(params, APPROXIMANT, FS, DURATION, RIGHT_PAD, F_MIN, F_REF, **kwargs)


@pytest.fixture(scope="module")
def params():
    return get_prior("bbh").sample(6, rng(1))


@pytest.fixture(scope="module")
def psd():
    """aLIGO design PSD on the rfft grid of one waveform (DC set large: it is outside every SNR band)."""
    freqs = np.fft.rfftfreq(SIZE, 1 / FS)
    values = np.array([lalsimulation.SimNoisePSDaLIGOZeroDetHighPower(f) if f > 5 else 1.0 for f in freqs])
    return values


def light_binary():
    """Detector-frame 8 + 7 Msun: its inspiral from 20 Hz outlasts the window, so the window cuts it."""
    sample = get_prior("bbh").sample(1, rng(2))
    return dict(sample, mass_1=np.array([8.0]), mass_2=np.array([7.0]))


# ------------------------------------------------------------------------------------------------- polarizations


def test_polarizations_have_the_window_shape_and_peak_at_coalescence(params):
    plus, cross = waveforms(params)
    assert plus.shape == cross.shape == (6, SIZE) and plus.dtype == cross.dtype == np.float32
    amplitude = np.hypot(plus.astype(np.float64), cross.astype(np.float64))
    peaks = np.argmax(amplitude, axis=1) / FS
    assert np.all(np.abs(peaks - (DURATION - RIGHT_PAD)) < 0.05), peaks
    assert np.all(amplitude[:, -FS // 4:] < 1e-3 * amplitude.max(axis=1, keepdims=True))  # ringdown is over


def test_polarizations_are_deterministic_and_independent_of_workers(params):
    plus, cross = waveforms(params)
    again, again_cross = waveforms(params)
    assert np.array_equal(plus, again) and np.array_equal(cross, again_cross)
    parallel, parallel_cross = waveforms(params, workers=2)
    assert plus.tobytes() == parallel.tobytes() and cross.tobytes() == parallel_cross.tobytes()


def test_polarizations_equal_lalsimulation_placed_at_coalescence(params):
    """Past the taper, the window holds lalsimulation's own samples, t = 0 at duration - right_pad."""
    plus, cross = waveforms(params, dtype=np.float64)
    one = {key: value[:1] for key, value in params.items()}
    spins = lal_parameters(one, F_REF)
    hp, hc = lalsimulation.SimInspiralChooseTDWaveform(
        one["mass_1"][0] * MSUN_SI, one["mass_2"][0] * MSUN_SI,
        *(spins[key][0] for key in ("spin1x", "spin1y", "spin1z", "spin2x", "spin2y", "spin2z")),
        one["luminosity_distance"][0] * MPC_SI, spins["inclination"][0], one["phase"][0], 0.0, 0.0, 0.0,
        1 / FS, F_MIN, F_REF, None, lalsimulation.GetApproximantFromString(APPROXIMANT))
    start = round((DURATION - RIGHT_PAD + float(hp.epoch)) * FS)
    assert start > 0  # the whole signal fits: only its already-conditioned start is tapered again
    taper = round(3 / F_MIN * FS)
    stop = min(SIZE, start + len(hp.data.data))
    np.testing.assert_array_equal(plus[0, start + taper:stop], hp.data.data[taper:stop - start])
    np.testing.assert_array_equal(cross[0, start + taper:stop], hc.data.data[taper:stop - start])
    assert not np.any(plus[0, :start]) and not np.any(plus[0, stop:])


def test_a_cut_inspiral_is_tapered_from_zero_at_the_window_start():
    plus, _ = waveforms(light_binary(), dtype=np.float64, taper=0.25)
    rise = plus[0, : FS // 4]
    assert plus[0, 0] == 0.0 and np.max(np.abs(plus[0, FS // 4: FS // 2])) > 0
    envelope = np.maximum.accumulate(np.abs(rise))
    assert envelope[FS // 8] < 0.6 * np.max(np.abs(plus[0, FS // 4: FS // 2]))


def test_highpass_removes_low_frequencies_and_keeps_the_merger():
    sample = light_binary()
    raw, _ = waveforms(sample, dtype=np.float64)
    filtered, _ = waveforms(sample, dtype=np.float64, highpass=50.0)
    freqs = np.fft.rfftfreq(SIZE, 1 / FS)
    raw_power = np.abs(np.fft.rfft(raw[0])) ** 2
    filtered_power = np.abs(np.fft.rfft(filtered[0])) ** 2
    low, high = (freqs > 15) & (freqs < 30), freqs > 150
    assert filtered_power[low].sum() < 1e-3 * raw_power[low].sum()
    assert filtered_power[high].sum() == pytest.approx(raw_power[high].sum(), rel=1e-3)
    assert abs(int(np.argmax(np.abs(filtered[0]))) - int(np.argmax(np.abs(raw[0])))) <= 2


@pytest.mark.parametrize("name, words", [("NotAnApproximant", "does not know"), ("TaylorF2", "time-domain")])
def test_an_approximant_lalsimulation_cannot_use_is_named(params, name, words):
    with pytest.raises(UnknownApproximant, match=f"{name}.*{words}|{words}.*{name}") as caught:
        generate_polarizations(params, name, FS, DURATION, RIGHT_PAD, F_MIN, F_REF)
    assert isinstance(caught.value, PermanentError) and isinstance(caught.value, ValueError)


def test_bad_settings_and_missing_parameters_are_errors(params):
    with pytest.raises(ValueError, match="right_pad"):
        WaveformSettings(APPROXIMANT, FS, DURATION, DURATION, F_MIN, F_REF)
    with pytest.raises(ValueError, match="luminosity_distance"):
        waveforms({key: value for key, value in params.items() if key != "luminosity_distance"})


# ---------------------------------------------------------------------------------------------------- projection


def gaussian(center: float, width: float = 5.0) -> np.ndarray:
    n = np.arange(SIZE)
    return np.exp(-0.5 * ((n - center) / width) ** 2)


def test_projection_is_lal_antenna_pattern_times_the_delayed_waveform():
    sky = {"ra": np.array([1.3]), "dec": np.array([-0.4]), "psi": np.array([0.7])}
    ifos = ["H1", "L1", "V1"]
    center = SIZE / 2
    pulse, zero = gaussian(center)[None], np.zeros((1, SIZE))
    from_plus = project(pulse, zero, sky, ifos, GPS, FS)[0]
    from_cross = project(zero, pulse, sky, ifos, GPS, FS)[0]
    gps = lal.LIGOTimeGPS(GPS)
    gmst = lal.GreenwichMeanSiderealTime(gps)
    for j, ifo in enumerate(ifos):
        detector = lal.cached_detector_by_prefix[ifo]
        fplus, fcross = lal.ComputeDetAMResponse(detector.response, 1.3, -0.4, 0.7, gmst)
        delay = lal.TimeDelayFromEarthCenter(detector.location, 1.3, -0.4, gps)
        shifted = gaussian(center + delay * FS)
        np.testing.assert_allclose(from_plus[j], fplus * shifted, atol=1e-9)
        np.testing.assert_allclose(from_cross[j], fcross * shifted, atol=1e-9)


def test_a_source_overhead_arrives_early_by_the_earth_radius_with_full_response():
    detector = lal.cached_detector_by_prefix["H1"]
    x, y, z = detector.location
    gmst = lal.GreenwichMeanSiderealTime(lal.LIGOTimeGPS(GPS))
    sky = {"ra": np.array([gmst + math.atan2(y, x)]), "dec": np.array([math.atan2(z, math.hypot(x, y))]),
           "psi": np.array([0.3])}
    fplus, fcross, delay = antenna_response(sky, ["H1"], GPS)
    assert delay[0, 0] == pytest.approx(-math.sqrt(x * x + y * y + z * z) / lal.C_SI, rel=1e-9)
    assert fplus[0, 0] ** 2 + fcross[0, 0] ** 2 == pytest.approx(1.0, abs=1e-3)  # arms ~horizontal at the site


# ------------------------------------------------------------------------------------------------------ PSD, SNR


def test_welch_psd_of_white_noise_is_flat_at_two_sigma_squared_over_fs():
    fs, sigma = 256, 3.0
    noise = rng(3).normal(0, sigma, (2, fs * 256))
    for average in ("median", "mean"):
        psd = estimate_psd(noise, fs, fftlength=4, average=average)
        assert psd.shape == (2, 4 * fs // 2 + 1) and psd.dtype == np.float64
        assert np.mean(psd[:, 1:-1]) == pytest.approx(2 * sigma**2 / fs, rel=0.03)
    with pytest.raises(ValueError, match="shorter than fftlength"):
        estimate_psd(noise[:, :100], fs, fftlength=4)


def two_sided_snr(h: np.ndarray, psd_of, fs: float, low: float | None, high: float | None) -> float:
    """rho^2 = sum over all 2-sided DFT bins in |f| in [low, high] of |H|^2 / (S/2) df, with an explicit DFT."""
    size = len(h)
    k = np.arange(size)
    dft = np.exp(-2j * np.pi * np.outer(k, k) / size) @ h / fs
    f = np.where(k <= size // 2, k, k - size) * fs / size
    if size % 2 == 0:
        f[size // 2] = fs / 2
    band = np.ones(size, dtype=bool)
    if low is not None:
        band &= np.abs(f) >= low
    if high is not None:
        band &= np.abs(f) <= high
    return math.sqrt(np.sum(np.abs(dft[band]) ** 2 / (psd_of(np.abs(f[band])) / 2)) * fs / size)


@pytest.mark.parametrize("low, high", [(10.0, 100.0), (None, None), (20.0, None)])
def test_snr_matches_an_explicit_two_sided_sum(low, high):
    fs, size = 256.0, 512
    generator = rng(4)
    h = generator.normal(size=(3, 2, size)) * np.hanning(size)

    def psd_of(f):
        return 1e-2 * (1 + (f / 30.0) ** 2) + 1e-3

    psd = psd_of(np.fft.rfftfreq(size, 1 / fs))
    ifo_snrs, network = snr(h, np.stack([psd, 2 * psd]), fs, low, high)
    for i in range(3):
        for j, scale in enumerate((1.0, 2.0)):
            expected = two_sided_snr(h[i, j], lambda f, s=scale: s * psd_of(f), fs, low, high)
            assert ifo_snrs[i, j] == pytest.approx(expected, rel=1e-10)
        assert network[i] == pytest.approx(math.hypot(*ifo_snrs[i]), rel=1e-12)


def test_snr_scales_as_inverse_distance_and_interpolates_a_coarser_psd(params, psd):
    one = {key: value[:1] for key, value in params.items()}
    far = dict(one, luminosity_distance=2 * one["luminosity_distance"])
    responses = [project(*waveforms(p, dtype=np.float64), p, ["H1", "L1"], GPS, FS) for p in (one, far)]
    (_, near_snr), (_, far_snr) = (snr(r, psd, FS, highpass=32.0) for r in responses)
    assert near_snr[0] == pytest.approx(2 * far_snr[0], rel=1e-9)
    assert near_snr[0] > 8
    coarse = psd[::2]  # the same PSD on a grid of half the resolution
    _, interpolated = snr(responses[0], coarse, FS, highpass=32.0)
    assert interpolated[0] == pytest.approx(near_snr[0], rel=1e-2)


# -------------------------------------------------------------------------------------------- rejection sampling


def sample(psd, seed=5, threshold=30.0, gps_time=None, n_accept=5, max_draws=400):
    settings = WaveformSettings(APPROXIMANT, FS, DURATION, RIGHT_PAD, F_MIN, F_REF)
    slots = GPS + 100.0 * np.arange(n_accept) if gps_time is None else gps_time
    return rejection_sample(get_prior("bbh"), rng(seed), n_accept, {"H1": psd, "L1": psd}, threshold, settings,
                            highpass=32.0, gps_time=slots, max_draws=max_draws, batch_size=8)


@pytest.fixture(scope="module")
def sampled(psd):
    return sample(psd)


def test_rejection_sampling_accounts_for_every_draw(sampled):
    accepted, rejected = sampled.parameters, sampled.rejected
    assert len(accepted["snr"]) == 5 and len(rejected["snr"]) > 0
    assert len(accepted["snr"]) + len(rejected["snr"]) == sampled.num_draws
    assert np.all(accepted["snr"] >= 30.0) and np.all(rejected["snr"] < 30.0)
    assert set(PARAMETERS) | {"snr", "ifo_snrs", "gps_time"} == set(accepted) == set(rejected)
    assert accepted["ifo_snrs"].shape == (5, 2) and rejected["ifo_snrs"].shape == (len(rejected["snr"]), 2)
    np.testing.assert_array_equal(accepted["gps_time"], GPS + 100.0 * np.arange(5))
    assert sampled.ifos == ("H1", "L1") and sampled.responses.shape == (5, 2, SIZE)
    assert sampled.responses.dtype == np.float32


def test_accepted_snrs_are_those_of_the_stored_responses(sampled, psd):
    ifo_snrs, network = snr(sampled.responses, np.stack([psd, psd]), FS, highpass=32.0)
    np.testing.assert_allclose(network, sampled.parameters["snr"], rtol=1e-6)
    np.testing.assert_allclose(ifo_snrs, sampled.parameters["ifo_snrs"], rtol=1e-6)


def test_rejection_sampling_is_deterministic(sampled, psd):
    again = sample(psd)
    assert again.num_draws == sampled.num_draws
    assert again.responses.tobytes() == sampled.responses.tobytes()
    assert all(np.array_equal(again.rejected[key], sampled.rejected[key]) for key in sampled.rejected)


def test_one_time_for_all_draws_takes_the_vectorised_path(psd):
    result = sample(psd, gps_time=GPS)
    assert len(result.parameters["snr"]) == 5 and np.all(result.parameters["gps_time"] == GPS)
    assert len(result.rejected["snr"]) + 5 == result.num_draws
    np.testing.assert_allclose(snr(result.responses, psd, FS, highpass=32.0)[1], result.parameters["snr"], rtol=1e-6)


def test_an_unreachable_threshold_raises_naming_prior_and_threshold(psd):
    with pytest.raises(UnreachableThreshold, match=r"'bbh'.*SNR >= 1e\+06.*max_draws=12") as caught:
        sample(psd, threshold=1e6, max_draws=12)
    assert isinstance(caught.value, PermanentError)


def test_slot_times_a_sidereal_day_apart_give_the_one_time_result(psd):
    """The per-slot path (each draw tried at the next slot's time) agrees with the vectorised one when the sky
    looks the same from every slot: whole sidereal days apart."""
    same = sample(psd, gps_time=GPS)
    daily = sample(psd, gps_time=GPS + lal.DAYSID_SI * np.arange(5))
    assert daily.num_draws == same.num_draws
    np.testing.assert_allclose(daily.parameters["snr"], same.parameters["snr"], rtol=1e-6)
    np.testing.assert_allclose(daily.rejected["snr"], same.rejected["snr"], rtol=1e-6)


def test_no_accepted_draws_asked_gives_empty_tables(psd):
    result = sample(psd, n_accept=0)
    assert result.num_draws == 0 and result.responses.shape == (0, 2, SIZE)
    assert set(result.parameters) == set(result.rejected) and result.parameters["ifo_snrs"].shape == (0, 2)

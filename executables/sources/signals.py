"""Waveforms, detector responses, PSDs, SNRs and rejection sampling for the data nodes (float64 maths).

Conventions (DESIGN §6; aframe's waveform definition):

- Polarizations come from ``lalsimulation.SimInspiralChooseTDWaveform`` -- the time-domain entry point that aframe
  reaches through pycbc's ``get_td_waveform`` -- so every approximant lalsimulation implements in the time domain
  works, including frequency-domain models such as IMRPhenomPv2 that lalsimulation conditions and transforms itself.
  lalsimulation puts t = 0 at coalescence; here that sample lands at index ``(duration - right_pad) * sample_rate``
  (to the nearest sample; lalsimulation's epochs are whole samples) of a window of ``duration * sample_rate``
  samples. What falls outside the window is cut, and the start of the kept signal -- the window's first sample when
  the inspiral is longer than the window -- is tapered with a Hann rise of ``taper`` seconds (default three cycles
  of ``minimum_frequency``, lalsimulation's own conditioning length); a cut at the window's end gets the same taper
  mirrored. An optional zero-phase high-pass (8th-order Butterworth magnitude, applied in the frequency domain)
  leaves the coalescence where it is.
- As aframe does, a binary too heavy for ``minimum_frequency`` (1899 Hz Msun / total mass below it) starts at
  1899 / M Hz instead, with the reference frequency moved there too; spins are converted at that same reference
  frequency.
- Parameters are the prior's (``executables.sources.priors``): detector-frame masses in Msun, luminosity distance in
  Mpc, bilby spin angles. Projections use lal's antenna patterns and time delays at a GPS time, so ``ra`` is a
  true right ascension.
- SNR: rho^2 = 4 sum_f |h(f)|^2 / S(f) df over [highpass, lowpass], with h(f) = rfft(h) / sample_rate and the DC
  and Nyquist bins weighted 2 instead of 4 (so it equals the two-sided sum exactly); network SNR = sqrt(sum rho^2).

Waveform arrays are returned float32 (what the ledger files store) unless ``dtype`` says otherwise.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

import lal
import lalsimulation
import numpy as np

from executables.common.errors import PermanentError

log = logging.getLogger(__name__)

MSUN_SI = lal.MSUN_SI
MPC_SI = 1e6 * lal.PC_SI
FREQUENCY_LIMIT = 1899.0
"""Hz * Msun: a binary of total detector-frame mass M starts no higher than 1899 / M Hz (aframe's rule)."""

WAVEFORM_KEYS = ("mass_1", "mass_2", "luminosity_distance", "a_1", "a_2", "tilt_1", "tilt_2", "phi_12", "phi_jl",
                 "theta_jn", "phase")
"""The parameters a waveform depends on (``project`` also reads ``ra``, ``dec``, ``psi``)."""

_ROWS_PER_FFT = 64  # rows per FFT block: bounds the complex temporaries to ~2 x 64 x T x 16 bytes


class UnknownApproximant(PermanentError, ValueError):
    """An approximant lalsimulation does not know, or cannot generate in the time domain (exit 2)."""


class WaveformError(PermanentError, ValueError):
    """lalsimulation refused a parameter set (deterministic, so exit 2 naming the approximant and parameters)."""


class UnreachableThreshold(PermanentError):
    """Rejection sampling could not accept enough draws within ``max_draws`` (exit 2 naming prior and threshold)."""


def approximant_code(name: str) -> int:
    """lalsimulation's code for an approximant with a time-domain implementation; ``UnknownApproximant`` otherwise."""
    try:
        code = lalsimulation.GetApproximantFromString(str(name))
    except (RuntimeError, TypeError):
        raise UnknownApproximant(f"unknown waveform approximant {name!r}: lalsimulation does not know it") from None
    if not lalsimulation.SimInspiralImplementedTDApproximants(code):
        raise UnknownApproximant(f"waveform approximant {name!r} has no time-domain implementation in "
                                 "lalsimulation (SimInspiralChooseTDWaveform cannot generate it)")
    return code


# ------------------------------------------------------------------------------------------------- polarizations


@dataclass(frozen=True)
class WaveformSettings:
    """Everything but the parameters that fixes a waveform (picklable, so worker processes can use it).

    Units: Hz and seconds. ``taper`` None means three cycles of ``minimum_frequency``; ``highpass`` None means no
    high-pass filter.
    """

    approximant: str
    sample_rate: float
    duration: float
    right_pad: float
    minimum_frequency: float
    reference_frequency: float
    highpass: float | None = None
    taper: float | None = None
    code: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", approximant_code(self.approximant))
        size = self.duration * self.sample_rate
        if self.sample_rate <= 0 or self.duration <= 0 or abs(size - round(size)) > 1e-9:
            raise ValueError(f"duration * sample_rate must be a positive whole number of samples, "
                             f"got {self.duration} s * {self.sample_rate} Hz")
        if not 0 <= self.right_pad < self.duration:
            raise ValueError(f"right_pad must lie in [0, duration={self.duration}), got {self.right_pad}")
        if self.minimum_frequency <= 0 or self.reference_frequency < 0:
            raise ValueError("minimum_frequency must be positive and reference_frequency non-negative")
        if self.highpass is not None and not 0 < self.highpass < self.sample_rate / 2:
            raise ValueError(f"highpass must lie in (0, Nyquist), got {self.highpass}")
        if self.taper is not None and self.taper < 0:
            raise ValueError(f"taper must be non-negative, got {self.taper}")

    @property
    def size(self) -> int:
        """Samples per waveform."""
        return int(round(self.duration * self.sample_rate))

    @property
    def coalescence_index(self) -> int:
        """Index of the sample at coalescence (lalsimulation's t = 0)."""
        return self.size - int(round(self.right_pad * self.sample_rate))

    @property
    def taper_size(self) -> int:
        seconds = 3.0 / self.minimum_frequency if self.taper is None else self.taper
        return min(int(round(seconds * self.sample_rate)), self.size)

    def frequencies(self, total_mass) -> tuple[np.ndarray, np.ndarray]:
        """(minimum, reference) frequency per binary after aframe's heavy-binary rule, Hz."""
        limit = FREQUENCY_LIMIT / np.asarray(total_mass, dtype=np.float64)
        heavy = self.minimum_frequency > limit
        return np.where(heavy, limit, self.minimum_frequency), np.where(heavy, limit, self.reference_frequency)

    def generate(self, params: Mapping[str, np.ndarray], workers: int = 1, pool: Executor | None = None,
                 dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
        """(plus, cross), each (N, size) of ``dtype``, for N parameter sets.

        ``workers`` > 1 spreads contiguous chunks (four per worker, for balance) over that many spawned processes,
        or over ``pool`` when given; the result does not depend on either.
        """
        columns = _waveform_columns(params)
        count = len(columns["mass_1"])
        if workers <= 1 or count <= 1:
            return _generate_chunk(self, columns, dtype)
        bounds = np.linspace(0, count, min(count, 4 * workers) + 1).astype(int)
        spans = zip(bounds[:-1], bounds[1:], strict=True)
        chunks = [{key: value[a:b] for key, value in columns.items()} for a, b in spans]
        repeat = len(chunks)
        if pool is None:
            with worker_pool(workers) as own:
                parts = list(own.map(_generate_chunk, [self] * repeat, chunks, [dtype] * repeat))
        else:
            parts = list(pool.map(_generate_chunk, [self] * repeat, chunks, [dtype] * repeat))
        return np.concatenate([p for p, _ in parts]), np.concatenate([c for _, c in parts])


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes (spawn, not fork: safe next to torch and OpenMP threads)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _waveform_columns(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [key for key in WAVEFORM_KEYS if key not in params]
    if missing:
        raise ValueError(f"waveform parameters lack {', '.join(missing)} (see executables.sources.priors)")
    columns = {key: np.atleast_1d(np.asarray(params[key], dtype=np.float64)) for key in WAVEFORM_KEYS}
    if len({value.shape for value in columns.values()}) != 1 or columns["mass_1"].ndim != 1:
        raise ValueError("waveform parameters must be 1-d arrays of one length")
    return columns


def lal_parameters(params: Mapping[str, np.ndarray], reference_frequency) -> dict[str, np.ndarray]:
    """lalsimulation's inclination (rad) and Cartesian dimensionless spins from the bilby angles, per binary.

    ``reference_frequency`` (Hz, scalar or per binary) is where the spins are defined.
    """
    columns = _waveform_columns(params)
    count = len(columns["mass_1"])
    f_ref = np.broadcast_to(np.asarray(reference_frequency, dtype=np.float64), (count,))
    keys = ("inclination", "spin1x", "spin1y", "spin1z", "spin2x", "spin2y", "spin2z")
    out = {key: np.empty(count) for key in keys}
    transform = lalsimulation.SimInspiralTransformPrecessingNewInitialConditions
    for i in range(count):
        values = transform(columns["theta_jn"][i], columns["phi_jl"][i], columns["tilt_1"][i], columns["tilt_2"][i],
                           columns["phi_12"][i], columns["a_1"][i], columns["a_2"][i],
                           columns["mass_1"][i] * MSUN_SI, columns["mass_2"][i] * MSUN_SI, f_ref[i],
                           columns["phase"][i])
        for key, value in zip(keys, values, strict=True):
            out[key][i] = value
    return out


def _hann_rise(size: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(size) / size) if size else np.ones(0)


def _generate_chunk(settings: WaveformSettings, columns: Mapping[str, np.ndarray],
                    dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Generate, place and condition the waveforms of one chunk (runs in a worker process too)."""
    count, size = len(columns["mass_1"]), settings.size
    plus, cross = np.zeros((count, size), dtype=dtype), np.zeros((count, size), dtype=dtype)
    f_min, f_ref = settings.frequencies(columns["mass_1"] + columns["mass_2"])
    spins = lal_parameters(columns, f_ref)
    delta_t = 1.0 / settings.sample_rate
    rise = _hann_rise(settings.taper_size)
    for i in range(count):
        try:
            hp, hc = lalsimulation.SimInspiralChooseTDWaveform(
                columns["mass_1"][i] * MSUN_SI, columns["mass_2"][i] * MSUN_SI,
                spins["spin1x"][i], spins["spin1y"][i], spins["spin1z"][i],
                spins["spin2x"][i], spins["spin2y"][i], spins["spin2z"][i],
                columns["luminosity_distance"][i] * MPC_SI, spins["inclination"][i], columns["phase"][i],
                0.0, 0.0, 0.0, delta_t, f_min[i], f_ref[i], None, settings.code)
        except RuntimeError as exc:
            values = ", ".join(f"{key}={columns[key][i]:.6g}" for key in WAVEFORM_KEYS)
            message = f"lalsimulation could not generate {settings.approximant} for {values}: {exc}"
            raise WaveformError(message) from None
        offset = settings.coalescence_index + int(round(float(hp.epoch) * settings.sample_rate))
        _place(plus[i], hp.data.data, offset, rise)
        _place(cross[i], hc.data.data, offset, rise)
    if settings.highpass is not None:
        for out in (plus, cross):
            out[:] = highpass_filter(out, settings.sample_rate, settings.highpass)
    return plus, cross


def _place(out: np.ndarray, data: np.ndarray, offset: int, rise: np.ndarray) -> None:
    """Copy ``data`` into ``out`` starting at index ``offset`` (may be negative), cut and taper the ends."""
    size, length = len(out), len(data)
    start, stop = max(0, offset), min(size, offset + length)
    if stop <= start:
        return
    segment = data[start - offset:stop - offset].astype(np.float64)
    taper = min(len(rise), len(segment))
    segment[:taper] *= rise[:taper]
    if offset + length > size:  # cut at the window's end as well
        segment[len(segment) - taper:] *= rise[:taper][::-1]
    out[start:stop] = segment


def highpass_filter(data: np.ndarray, sample_rate: float, frequency: float, order: int = 8) -> np.ndarray:
    """Zero-phase high-pass along the last axis: rfft times a Butterworth magnitude response, float64."""
    data = np.asarray(data, dtype=np.float64)
    freqs = np.fft.rfftfreq(data.shape[-1], 1.0 / sample_rate)
    gain = np.zeros_like(freqs)
    nonzero = freqs > 0
    gain[nonzero] = 1.0 / np.sqrt(1.0 + (frequency / freqs[nonzero]) ** (2 * order))
    return np.fft.irfft(np.fft.rfft(data, axis=-1) * gain, n=data.shape[-1], axis=-1)


def generate_polarizations(params: Mapping[str, np.ndarray], approximant: str, sample_rate: float, duration: float,
                           right_pad: float, minimum_frequency: float, reference_frequency: float,
                           highpass: float | None = None, *, taper: float | None = None,
                           workers: int = 1, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """(plus, cross) polarizations, each (N, duration * sample_rate), coalescence ``right_pad`` s before the end.

    ``params``: the prior's keys (at least ``WAVEFORM_KEYS``), arrays of shape (N,). Frequencies in Hz, times in
    seconds. An approximant lalsimulation cannot generate in the time domain raises ``UnknownApproximant`` (a
    ``ValueError``) naming it. See the module docstring for the placement, taper and high-pass.
    """
    settings = WaveformSettings(approximant, sample_rate, duration, right_pad, minimum_frequency,
                                reference_frequency, highpass, taper)
    return settings.generate(params, workers=workers, dtype=dtype)


# ---------------------------------------------------------------------------------------------------- projection


def _detector(ifo: str):
    try:
        return lal.cached_detector_by_prefix[ifo]
    except KeyError:
        known = ", ".join(sorted(lal.cached_detector_by_prefix))
        raise ValueError(f"unknown interferometer {ifo!r}; lal knows {known}") from None


def antenna_response(params: Mapping[str, np.ndarray], ifos: Sequence[str], gps_time) -> tuple[np.ndarray, ...]:
    """(F+, Fx, delay), each (N, len(ifos)): lal's antenna patterns and arrival delays after the geocenter, in s.

    ``gps_time`` (s): when the signal reaches the geocenter, a scalar or one per parameter set.
    """
    ra = np.atleast_1d(np.asarray(params["ra"], dtype=np.float64))
    dec = np.atleast_1d(np.asarray(params["dec"], dtype=np.float64))
    psi = np.atleast_1d(np.asarray(params["psi"], dtype=np.float64))
    count = len(ra)
    times = np.broadcast_to(np.asarray(gps_time, dtype=np.float64), (count,))
    detectors = [_detector(ifo) for ifo in ifos]
    fplus, fcross, delay = (np.empty((count, len(ifos))) for _ in range(3))
    cache: dict[float, tuple[object, float]] = {}
    for i in range(count):
        t = float(times[i])
        if t not in cache:
            gps = lal.LIGOTimeGPS(t)
            cache[t] = (gps, lal.GreenwichMeanSiderealTime(gps))
        gps, gmst = cache[t]
        for j, detector in enumerate(detectors):
            fplus[i, j], fcross[i, j] = lal.ComputeDetAMResponse(detector.response, ra[i], dec[i], psi[i], gmst)
            delay[i, j] = lal.TimeDelayFromEarthCenter(detector.location, ra[i], dec[i], gps)
    return fplus, fcross, delay


def project(plus: np.ndarray, cross: np.ndarray, params: Mapping[str, np.ndarray], ifos: Sequence[str],
            gps_time, sample_rate: float) -> np.ndarray:
    """Detector responses h = F+ h+ + Fx hx, delayed by each ifo's arrival time after the geocenter.

    ``plus``/``cross``: (N, T); returns float64 (N, len(ifos), T) in the order of ``ifos``. The delay is a
    fractional-sample shift applied in the frequency domain (circular; the waveform's tapered start and empty
    right pad absorb the few tens of milliseconds it moves).
    """
    plus, cross = np.atleast_2d(plus), np.atleast_2d(cross)
    if plus.shape != cross.shape:
        raise ValueError(f"plus {plus.shape} and cross {cross.shape} differ in shape")
    fplus, fcross, delay = antenna_response(params, ifos, gps_time)
    count, size = plus.shape
    if len(fplus) != count:
        raise ValueError(f"{len(fplus)} parameter sets for {count} waveforms")
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    out = np.empty((count, len(ifos), size))
    for start in range(0, count, _ROWS_PER_FFT):
        rows = slice(start, start + _ROWS_PER_FFT)
        hp = np.fft.rfft(plus[rows].astype(np.float64), axis=-1)[:, None, :]
        hc = np.fft.rfft(cross[rows].astype(np.float64), axis=-1)[:, None, :]
        shift = np.exp(-2j * np.pi * freqs * delay[rows][..., None])
        spectrum = (fplus[rows][..., None] * hp + fcross[rows][..., None] * hc) * shift
        out[rows] = np.fft.irfft(spectrum, n=size, axis=-1)
    return out


# ------------------------------------------------------------------------------------------------------ PSD, SNR


def estimate_psd(strain: np.ndarray, sample_rate: float, fftlength: float, average: str = "median") -> np.ndarray:
    """One-sided PSD (strain^2 / Hz) along the last axis by Welch's method, float64.

    Hann windows of ``fftlength`` s overlapping by half, ``average`` "median" (bias-corrected, what aframe's gwpy
    call uses) or "mean". Frequencies: ``numpy.fft.rfftfreq(fftlength * sample_rate, 1 / sample_rate)``.
    """
    from scipy.signal import welch

    nfft = int(round(fftlength * sample_rate))
    strain = np.asarray(strain, dtype=np.float64)
    if strain.shape[-1] < nfft:
        raise ValueError(f"{strain.shape[-1] / sample_rate:g} s of strain is shorter than fftlength {fftlength} s")
    _, psd = welch(strain, fs=sample_rate, window="hann", nperseg=nfft, noverlap=nfft // 2, average=average,
                   scaling="density", axis=-1)
    return psd


def _psd_on_grid(psd: np.ndarray, size: int, sample_rate: float) -> np.ndarray:
    """PSD (..., F) given on linspace(0, Nyquist, F), interpolated (linearly) onto the rfft grid of ``size``."""
    psd = np.asarray(psd, dtype=np.float64)
    bins = size // 2 + 1
    if psd.shape[-1] == bins:
        return psd
    source = np.linspace(0.0, sample_rate / 2.0, psd.shape[-1])
    target = np.fft.rfftfreq(size, 1.0 / sample_rate)
    flat = psd.reshape(-1, psd.shape[-1])
    return np.stack([np.interp(target, source, row) for row in flat]).reshape(*psd.shape[:-1], bins)


def _snr_weights(psd: np.ndarray, size: int, sample_rate: float, highpass: float | None,
                 lowpass: float | None) -> np.ndarray:
    """w(f) / S(f) * df with w = 4 (2 at DC and Nyquist) inside [highpass, lowpass], 0 outside: (..., F)."""
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    weight = np.full(freqs.shape, 4.0)
    weight[0] = 2.0
    if size % 2 == 0:
        weight[-1] = 2.0
    band = np.ones(freqs.shape, dtype=bool)
    if highpass is not None:
        band &= freqs >= highpass
    if lowpass is not None:
        band &= freqs <= lowpass
    psd = _psd_on_grid(psd, size, sample_rate)
    in_band = np.broadcast_to(band, psd.shape)
    if np.any(~(psd[in_band] > 0)) or not np.all(np.isfinite(psd[in_band])):
        raise ValueError("the PSD must be positive and finite inside the SNR band")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(band, weight / psd, 0.0) * (sample_rate / size)


def snr(responses: np.ndarray, psd: np.ndarray, sample_rate: float, highpass: float | None,
        lowpass: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Optimal matched-filter SNRs: (per ifo (N, I), network (N,)), float64.

    ``responses``: (N, I, T) (or (I, T)); ``psd``: (I, F) one-sided PSDs on linspace(0, Nyquist, F) (any F; a grid
    other than T's rfft grid is interpolated) or (F,) for all ifos. Band [highpass, lowpass] in Hz (None: open).
    """
    responses = np.asarray(responses)
    if responses.ndim == 2:
        responses = responses[None]
    count, ifos, size = responses.shape
    weights = _snr_weights(np.broadcast_to(np.asarray(psd, dtype=np.float64), (ifos, np.shape(psd)[-1])),
                           size, sample_rate, highpass, lowpass)
    squared = np.empty((count, ifos))
    for start in range(0, count, _ROWS_PER_FFT):
        rows = slice(start, start + _ROWS_PER_FFT)
        spectrum = np.fft.rfft(responses[rows].astype(np.float64), axis=-1) / sample_rate
        squared[rows] = np.sum((spectrum.real**2 + spectrum.imag**2) * weights, axis=-1)
    return np.sqrt(squared), np.sqrt(squared.sum(axis=-1))


# -------------------------------------------------------------------------------------------- rejection sampling


@dataclass
class Sampled:
    """What ``rejection_sample`` returns; ``len(accepted) + len(rejected) == num_draws``.

    ``parameters``: the accepted draws' prior keys plus ``snr`` (N,), ``ifo_snrs`` (N, I) and ``gps_time`` (N,),
    the geocenter time they were projected at; ``responses``: their float32 (N, I, T) detector responses in the
    order of ``ifos``; ``rejected``: the same keys (no responses) for every draw below threshold, in draw order.
    """

    parameters: dict[str, np.ndarray]
    responses: np.ndarray
    rejected: dict[str, np.ndarray]
    num_draws: int
    ifos: tuple[str, ...]


def _quadratic_terms(plus: np.ndarray, cross: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per waveform and ifo: (sum|H+|^2 w, sum|Hx|^2 w, sum Re(H+ Hx*) w), shape (N, I, 3).

    rho_ifo^2 = F+^2 A + Fx^2 B + 2 F+ Fx C, and a time delay only changes the phase, so these three numbers give
    every draw's SNR at any sky position and time without projecting it.
    """
    count = len(plus)
    out = np.empty((count, weights.shape[0], 3))
    for start in range(0, count, _ROWS_PER_FFT):
        rows = slice(start, start + _ROWS_PER_FFT)
        hp = np.fft.rfft(plus[rows].astype(np.float64), axis=-1)
        hc = np.fft.rfft(cross[rows].astype(np.float64), axis=-1)
        out[rows, :, 0] = (hp.real**2 + hp.imag**2) @ weights.T
        out[rows, :, 1] = (hc.real**2 + hc.imag**2) @ weights.T
        out[rows, :, 2] = (hp.real * hc.real + hp.imag * hc.imag) @ weights.T
    return out


def rejection_sample(prior, rng: np.random.Generator, n_accept: int, psd_by_ifo: Mapping[str, np.ndarray],
                     threshold: float, waveform: WaveformSettings, *, highpass: float | None,
                     lowpass: float | None = None, gps_time, max_draws: int, batch_size: int = 512,
                     workers: int = 1) -> Sampled:
    """Draw from ``prior`` until ``n_accept`` draws reach network SNR >= ``threshold``; keep every rejected draw.

    ``psd_by_ifo``: ifo -> one-sided PSD on linspace(0, Nyquist, F) (e.g. ``estimate_psd(..., fftlength=
    waveform.duration)``); its order is the ifo order of the result. ``gps_time``: the geocenter time of the k-th
    accepted draw -- a scalar for all, or an array of ``n_accept`` slot times (each draw is tried at the time of the
    next unfilled slot). Draws come in batches (at most ``batch_size``, sized from the acceptance rate so far);
    draws after the one that fills the last slot are discarded and not counted. More than ``max_draws`` draws
    without enough accepted raises ``UnreachableThreshold``. Deterministic for a given ``rng`` state.
    """
    ifos = tuple(psd_by_ifo)
    if not ifos:
        raise ValueError("psd_by_ifo names no interferometer")
    if n_accept < 0 or max_draws < 1 or batch_size < 1:
        raise ValueError("n_accept must be >= 0, max_draws and batch_size >= 1")
    slot_times = np.broadcast_to(np.asarray(gps_time, dtype=np.float64), (n_accept,))
    psd = np.stack([np.asarray(psd_by_ifo[ifo], dtype=np.float64) for ifo in ifos])
    weights = _snr_weights(psd, waveform.size, waveform.sample_rate, highpass, lowpass) / waveform.sample_rate**2

    accepted_parts: list[dict[str, np.ndarray]] = []
    response_parts: list[np.ndarray] = []
    rejected_parts: list[dict[str, np.ndarray]] = []
    num_draws = accepted = 0
    floor = min(batch_size, max(16, 4 * workers))
    batch = max(min(n_accept, batch_size), 1)
    pool = worker_pool(workers) if workers > 1 else None
    try:
        while accepted < n_accept:
            batch = min(batch, max_draws - num_draws)
            if batch <= 0:
                raise UnreachableThreshold(
                    f"prior {getattr(prior, 'name', prior)!r}: only {accepted} of {n_accept} draws reached network "
                    f"SNR >= {threshold:g} in max_draws={max_draws} draws; lower the threshold or raise max_draws")
            params = prior.sample(batch, rng)
            plus, cross = waveform.generate(params, workers=workers, pool=pool, dtype=np.float64)
            terms = _quadratic_terms(plus, cross, weights)
            keep, tried_at, ifo_snrs = _accept(params, terms, ifos, slot_times, accepted, threshold)
            tried = len(tried_at)
            num_draws += tried
            mask = np.zeros(len(plus), dtype=bool)
            mask[keep] = True
            mask, drawn = mask[:tried], {key: value[:tried] for key, value in params.items()}
            network = np.sqrt((ifo_snrs**2).sum(axis=-1))
            drawn.update(snr=network, ifo_snrs=ifo_snrs, gps_time=tried_at)
            rejected_parts.append({key: value[~mask] for key, value in drawn.items()})
            if keep:
                chosen = {key: value[mask] for key, value in drawn.items()}
                accepted_parts.append(chosen)
                responses = project(plus[keep], cross[keep], chosen, ifos, chosen["gps_time"], waveform.sample_rate)
                response_parts.append(responses.astype(np.float32))
                accepted += len(keep)
            log.info("rejection sampling: %d/%d accepted after %d draws", accepted, n_accept, num_draws)
            rate = accepted / num_draws if accepted else 0.0
            wanted = math.ceil(1.1 * (n_accept - accepted) / rate) if rate else 2 * batch
            batch = int(min(batch_size, max(floor, wanted)))
    finally:
        if pool is not None:
            pool.shutdown()

    size = waveform.size
    parameters = _concatenate(accepted_parts, prior, ifos)
    rejected = _concatenate(rejected_parts, prior, ifos)
    responses = np.concatenate(response_parts) if response_parts else np.zeros((0, len(ifos), size), np.float32)
    return Sampled(parameters, responses, rejected, num_draws, ifos)


def _accept(params, terms, ifos, slot_times, accepted, threshold):
    """Walk one batch in draw order: each draw is tried at the next unfilled slot's time. Returns (indices kept,
    time each tried draw was evaluated at, per-ifo SNRs of the tried draws)."""
    count, n_accept = len(terms), len(slot_times)
    scalar_time = n_accept == 0 or np.all(slot_times == slot_times[0])
    if scalar_time:
        time = slot_times[0] if n_accept else 0.0
        fplus, fcross, _ = antenna_response(params, ifos, time)
        rho = np.sqrt(np.maximum(fplus**2 * terms[..., 0] + fcross**2 * terms[..., 1]
                                 + 2 * fplus * fcross * terms[..., 2], 0.0))
        needed = n_accept - accepted
        keep = np.flatnonzero(np.sqrt((rho**2).sum(axis=-1)) >= threshold)[:needed]
        tried = int(keep[-1]) + 1 if len(keep) == needed else count
        return list(keep), np.full(tried, time), rho[:tried]
    keep, times, rhos = [], [], []
    for i in range(count):
        if accepted + len(keep) >= n_accept:
            break
        time = slot_times[accepted + len(keep)]
        one = {key: params[key][i : i + 1] for key in ("ra", "dec", "psi")}
        fplus, fcross, _ = antenna_response(one, ifos, time)
        rho = np.sqrt(np.maximum(fplus**2 * terms[i, :, 0] + fcross**2 * terms[i, :, 1]
                                 + 2 * fplus * fcross * terms[i, :, 2], 0.0))[0]
        times.append(time)
        rhos.append(rho)
        if math.sqrt(float((rho**2).sum())) >= threshold:
            keep.append(i)
    return keep, np.asarray(times, dtype=np.float64), np.asarray(rhos, dtype=np.float64).reshape(-1, len(ifos))


def _concatenate(parts: list[dict[str, np.ndarray]], prior, ifos) -> dict[str, np.ndarray]:
    if parts:
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    empty = {key: np.zeros(0) for key in prior.sample(0, np.random.default_rng(0))}
    return {**empty, "snr": np.zeros(0), "ifo_snrs": np.zeros((0, len(ifos))), "gps_time": np.zeros(0)}

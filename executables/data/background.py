"""`aframe-background`: the strain of one segment, ``background-{t0}-{dur}.hdf5`` (DESIGN §6).

Three sources, one output layout (``executables.formats.strain.background_writer``: one float32 root dataset per ifo
with gwpy's ``x0``/``dx``), always produced block by block so memory stays bounded for 20000 s segments:

``simulated`` (default)
    Stationary coloured Gaussian noise whose one-sided PSD is lalsimulation's ``SimNoisePSD<--noise-psd>`` (zero
    below ``NOISE_FLOW``). Each block of ``BLOCK_SECONDS`` is an independent frequency-domain draw (complex
    Gaussian bins scaled by sqrt(PSD · fs · n / 4), one inverse real FFT). Successive blocks overlap by
    ``OVERLAP_SECONDS`` and are joined by a power-complementary cross-fade (cos² + sin² = 1): the sum of two
    independent realizations of one process weighted that way has the same variance and, for a fade much longer
    than the noise's correlation time, the same autocorrelation, so the stream is stationary across block edges
    with no seam. Block ``k`` of ifo ``I`` draws from ``node_rng(seed, "background", I, t0, k)``: the same segment
    gives identical bytes, other segments and ifos are independent.
``gwosc``
    GWOSC open data through ``gwpy.timeseries.TimeSeries.fetch_open_data`` (``--gwosc-host``, default
    https://gwosc.org), in blocks aligned to the 4096 s GWOSC files so each file is downloaded once.
``frames``
    Frame files found by gwdatafind (``--datafind-server``, default ``$GWDATAFIND_SERVER``) for ``--frame-type``
    and read with ``gwpy.timeseries.TimeSeries.read(..., format="gwf")`` for ``--channels``.

Real data are resampled to ``--sample-rate`` with ``scipy.signal.resample_poly`` as one stream: each block is
filtered with ``PAD_SECONDS`` of its neighbours' samples around it, so block edges leave no mark (the result equals
resampling the whole segment at once). Data with NaNs (outside science mode) or gaps are a permanent error.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
import numpy as np

from executables.common import storage
from executables.common.cli import device_option, node_options, require_device, split
from executables.common.errors import PermanentError, TransientError
from executables.common.logs import Progress
from executables.common.seeding import node_rng
from executables.common.shared import data_option
from executables.formats.strain import background_writer
from executables.sources.psds import NOISE_FLOW, noise_psd

log = logging.getLogger("aframe-background")

#: Seconds of simulated noise drawn per block (2^21 samples at 2048 Hz: a fast FFT length).
BLOCK_SECONDS = 1024
#: Seconds over which consecutive simulated blocks are cross-faded (far longer than the noise's correlation time).
OVERLAP_SECONDS = 16
#: Real data are fetched in blocks aligned to multiples of these seconds (GWOSC and frame files are 4096 s long).
FETCH_SECONDS = {"gwosc": 4096, "frames": 1024}
#: Seconds of neighbouring samples on each side of a block when resampling real data.
PAD_SECONDS = 1
GWOSC_HOST = "https://gwosc.org"
SOURCES = ("simulated", "gwosc", "frames")


# -- simulated noise ---------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _amplitude(name: str, sample_rate: float, length: int) -> np.ndarray:
    """Standard deviation of the real and imaginary parts of each rfft bin of a ``length``-sample draw.

    E|X_k|² = S(f_k) · fs · n / 2 gives one-sided PSD S; the DC and Nyquist bins are real (irfft drops their
    imaginary part), so they get all of it.
    """
    amplitude = np.sqrt(noise_psd(name, sample_rate, length) * sample_rate * length / 4.0)
    amplitude[0] *= math.sqrt(2.0)
    if length % 2 == 0:
        amplitude[-1] *= math.sqrt(2.0)
    amplitude.setflags(write=False)
    return amplitude


def _draw(amplitude: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """One frequency-domain realization of ``length`` samples (float64)."""
    import scipy.fft

    spectrum = rng.standard_normal(2 * amplitude.size).view(np.complex128)
    spectrum *= amplitude
    return scipy.fft.irfft(spectrum, length, overwrite_x=True)


def coloured_noise(
    amplitude: Callable[[int], np.ndarray],
    num_samples: int,
    rng_for_block: Callable[[int], np.random.Generator],
    block: int,
    overlap: int,
) -> Iterator[np.ndarray]:
    """Yield consecutive float64 pieces of ``num_samples`` of stationary Gaussian noise (see the module doc).

    ``amplitude(n)`` gives the per-bin standard deviation for an ``n``-sample draw (``_amplitude``); block ``k`` is
    drawn with ``rng_for_block(k)``. Blocks are ``block`` samples (the last one a fast FFT length covering the
    rest) and consecutive ones are cross-faded over ``overlap`` samples.
    """
    import scipy.fft

    if not 0 <= overlap < block:
        raise ValueError(f"overlap ({overlap}) must be shorter than a block ({block})")
    theta = 0.5 * np.pi * (np.arange(overlap) + 0.5) / max(overlap, 1)
    fade_out, fade_in = np.cos(theta), np.sin(theta)
    start, index, tail = 0, 0, None
    while start < num_samples:
        remaining = num_samples - start
        last = remaining <= block
        length = scipy.fft.next_fast_len(remaining, real=True) if last else block
        samples = _draw(amplitude(length), length, rng_for_block(index))
        if tail is not None:
            samples[:overlap] = tail * fade_out + samples[:overlap] * fade_in
        if last:
            yield samples[:remaining]
            return
        tail = samples[block - overlap:].copy()
        yield samples[: block - overlap]
        start += block - overlap
        index += 1


def _gps_key(t0: float) -> int | str:
    """``t0`` as a seed key part: an int for whole GPS seconds, else its exact decimal text."""
    return int(t0) if float(t0).is_integer() else repr(float(t0))


def simulated_strain(
    ifo: str,
    psd_name: str,
    t0: float,
    num_samples: int,
    sample_rate: float,
    seed: int,
    block_seconds: float = BLOCK_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
) -> Iterator[np.ndarray]:
    """Simulated noise for one ifo of one segment, in consecutive pieces; deterministic in (seed, ifo, t0)."""
    block = int(round(block_seconds * sample_rate))
    overlap = int(round(overlap_seconds * sample_rate))
    key = _gps_key(t0)
    return coloured_noise(
        lambda length: _amplitude(psd_name, float(sample_rate), length),
        num_samples,
        lambda index: node_rng(seed, "background", ifo, key, index),
        block,
        overlap,
    )


# -- real data ---------------------------------------------------------------------------------------------------------


Fetch = Callable[[int, int], Any]  # (start, end) GPS -> gwpy TimeSeries of exactly that span


def aligned_blocks(start: int, end: int, seconds: int) -> list[tuple[int, int]]:
    """Split [start, end) at the multiples of ``seconds`` (so blocks line up with data files)."""
    edges = [start, *range((start // seconds + 1) * seconds, end, seconds), end]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _checked_samples(series: Any, ifo: str, a: int, b: int, rate: float) -> np.ndarray:
    """The samples of a fetched series, which must cover [a, b) exactly at ``rate`` with no NaNs."""
    samples = np.asarray(series.value, dtype=np.float64)
    t0, fs = float(series.t0.value), float(series.sample_rate.value)
    if not math.isclose(fs, rate) or abs(t0 - a) > 0.5 / rate or samples.size != round((b - a) * rate):
        raise PermanentError(f"{ifo}: data for [{a}, {b}) came back as {samples.size} samples at {fs:g} Hz from "
                             f"{t0}: there is a gap (are these times in the data's segments?)")
    bad = np.flatnonzero(~np.isfinite(samples))
    if bad.size:
        raise PermanentError(f"{ifo}: {bad.size} samples of [{a}, {b}) are NaN or infinite (first at GPS "
                             f"{a + bad[0] / rate:.3f}): the data are not valid there (outside science mode?)")
    return samples


def resample_stream(blocks: Iterable[np.ndarray], rate_in: float, rate_out: float,
                    pad: int) -> Iterator[np.ndarray]:
    """Resample consecutive blocks as one stream; equals ``resample_poly`` of their concatenation.

    Each block is filtered with up to ``pad`` input samples of its neighbours on each side; block lengths and
    ``pad`` must be whole multiples of the rate ratio's denominator (whole seconds at integer rates are).
    """
    from scipy.signal import resample_poly

    ratio = Fraction(rate_out / rate_in).limit_denominator(1_000_000)
    up, down = ratio.numerator, ratio.denominator
    if not math.isclose(rate_in * up / down, rate_out):
        raise ValueError(f"cannot resample {rate_in:g} Hz to {rate_out:g} Hz by a rational factor")
    iterator = iter(blocks)
    current = next(iterator, None)
    if up == down:
        while current is not None:
            yield current
            current = next(iterator, None)
        return
    before = np.empty(0)
    while current is not None:
        following = next(iterator, None)
        after = following[:pad] if following is not None else np.empty(0)
        resampled = resample_poly(np.concatenate([before, current, after]), up, down)
        first = before.size * up // down
        yield resampled[first: first + current.size * up // down]
        before = np.concatenate([before, current])[-pad:] if pad else np.empty(0)
        current = following


def _gwosc_fetch(ifo: str, host: str, rate: int) -> Fetch:
    def fetch(a: int, b: int) -> Any:
        from gwpy.timeseries import TimeSeries

        try:
            return TimeSeries.fetch_open_data(ifo, a, b, sample_rate=rate, host=host, cache=False)
        except Exception as exc:  # gwpy may wrap the causes in an ExceptionGroup
            causes = list(_leaves(exc))
            text = "; ".join(_first_line(cause) for cause in causes)
            if any(isinstance(cause, OSError) for cause in causes):  # refused, timeouts, HTTP errors: retry
                raise TransientError(f"{ifo}: fetching [{a}, {b}) from GWOSC ({host}) failed: {text}") from None
            if all(isinstance(cause, ValueError) for cause in causes):  # "Cannot find a GWOSC dataset ..."
                raise PermanentError(f"{ifo}: GWOSC ({host}) has no {rate} Hz data for [{a}, {b}): {text}") \
                    from None
            raise

    return fetch


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside an exception group (gwpy gathers per-source failures in one), or ``exc`` itself."""
    nested = getattr(exc, "exceptions", None)
    if isinstance(nested, (list, tuple)) and nested and all(isinstance(e, BaseException) for e in nested):
        for inner in nested:
            yield from _leaves(inner)
    else:
        yield exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _frames_fetch(ifo: str, channel: str, frame_type: str | None, server: str | None) -> Fetch:
    def fetch(a: int, b: int) -> Any:
        from gwpy.io.datafind import find_best_frametype, find_urls
        from gwpy.timeseries import TimeSeries

        try:
            kind = frame_type or find_best_frametype(channel, a, b, host=server)
            urls = find_urls(ifo[0], kind, a, b, host=server, urltype="file", on_gaps="error")
        except OSError as exc:
            raise TransientError(f"{ifo}: gwdatafind ({server or 'default server'}) failed: {exc}") from None
        except (RuntimeError, ValueError) as exc:
            raise PermanentError(f"{ifo}: no {frame_type or channel} frames cover [{a}, {b}): {exc}") from None
        if not urls:
            raise PermanentError(f"{ifo}: gwdatafind found no {kind} frames for [{a}, {b})")
        try:
            return TimeSeries.read(urls, channel, start=a, end=b, format="gwf")
        except (RuntimeError, ValueError, KeyError) as exc:
            raise PermanentError(f"{ifo}: cannot read {channel} for [{a}, {b}) from {kind} frames: {exc}") \
                from None

    return fetch


def real_strain(fetch: Fetch, ifo: str, start: int, end: int, rate_in: float, sample_rate: float,
                block_seconds: int) -> Iterator[np.ndarray]:
    """Fetched strain of one ifo in consecutive blocks, resampled to ``sample_rate`` as one stream."""
    raw = (_checked_samples(fetch(a, b), ifo, a, b, rate_in) for a, b in aligned_blocks(start, end, block_seconds))
    return resample_stream(raw, rate_in, sample_rate, int(round(PAD_SECONDS * rate_in)))


# -- the node ----------------------------------------------------------------------------------------------------------


def _per_ifo(value: str, ifos: Sequence[str], option: str) -> list[str]:
    """One value for every ifo, or a comma-separated value per ifo."""
    parts = [part.strip() for part in value.split(",")]
    if len(parts) == 1:
        return parts * len(ifos)
    if len(parts) != len(ifos):
        raise click.BadParameter(f"give one value or one per ifo ({len(ifos)}), got {len(parts)}",
                                 param_hint=option)
    return parts


def _channels_by_ifo(channels: str | None, ifos: Sequence[str]) -> dict[str, str]:
    if not channels:
        raise click.BadParameter("the frames source needs one channel per ifo, e.g. H1:GDS-CALIB_STRAIN",
                                 param_hint="--channels")
    found: dict[str, str] = {}
    for channel in (part.strip() for part in channels.split(",")):
        ifo = channel.split(":", 1)[0]
        if ifo not in ifos or ifo in found:
            raise click.BadParameter(f"{channel!r}: channels must be IFO:NAME, one for each of {', '.join(ifos)}",
                                     param_hint="--channels")
        found[ifo] = channel
    missing = [ifo for ifo in ifos if ifo not in found]
    if missing:
        raise click.BadParameter(f"no channel for {', '.join(missing)}", param_hint="--channels")
    return found


def _frame_types(frame_type: str | None, ifos: Sequence[str]) -> dict[str, str | None]:
    """One type is LIGO's naming, ``HOFT_C00``: ``H1_HOFT_C00`` for H1 (a type already starting with ``H1_`` is kept);
    several are each ifo's as gwdatafind names it (Virgo's ``HoftOnline`` has no prefix); empty: find them."""
    if not frame_type:
        return dict.fromkeys(ifos)
    types = _per_ifo(frame_type, ifos, "--frame-type")
    if "," in frame_type:
        return dict(zip(ifos, types, strict=True))
    return {ifo: kind if kind.startswith(f"{ifo}_") else f"{ifo}_{kind}" for ifo, kind in zip(ifos, types, strict=True)}


def generate_background(
    output: Path,
    ifos: Sequence[str],
    start: float,
    duration: float,
    sample_rate: float,
    source: str = "simulated",
    noise_psd_names: Sequence[str] = ("aLIGODesignSensitivityT1800044",),
    seed: int = 0,
    channels: str | None = None,
    frame_type: str | None = None,
    gwosc_host: str = GWOSC_HOST,
    datafind_server: str | None = None,
    block_seconds: int | None = None,
    overlap_seconds: float = OVERLAP_SECONDS,
) -> Path:
    """Write the background file of one segment (see the module doc) and return its path.

    ``block_seconds`` (default ``BLOCK_SECONDS`` simulated, ``FETCH_SECONDS`` real) and ``overlap_seconds`` (the
    simulated cross-fade) set the block structure; the defaults are what the node uses.
    """
    num_samples = duration * sample_rate
    if not float(num_samples).is_integer() or num_samples <= 0:
        raise click.BadParameter(f"duration x sample rate must be a positive whole number of samples, got "
                                 f"{num_samples:g}", param_hint="--duration")
    num_samples = int(num_samples)
    attrs: dict[str, Any] = {"source": source}
    streams: dict[str, Callable[[], Iterator[np.ndarray]]] = {}
    if source == "simulated":
        if len(noise_psd_names) not in (1, len(ifos)):
            raise click.BadParameter(f"give one PSD or one per ifo ({len(ifos)}), got {len(noise_psd_names)}",
                                     param_hint="--noise-psd")
        names = list(noise_psd_names) * (len(ifos) if len(noise_psd_names) == 1 else 1)
        for ifo, name in zip(ifos, names, strict=True):
            try:
                noise_psd(name, float(sample_rate), 4096)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--noise-psd") from None
            streams[ifo] = functools.partial(simulated_strain, ifo, name, start, num_samples, sample_rate, seed,
                                             block_seconds or BLOCK_SECONDS, overlap_seconds)
        attrs.update(noise_psd=",".join(names), seed=seed, noise_flow=NOISE_FLOW)
    else:
        if not (float(start).is_integer() and float(duration).is_integer() and float(sample_rate).is_integer()):
            raise click.BadParameter("real data need whole GPS seconds and an integer sample rate",
                                     param_hint="--start/--duration/--sample-rate")
        first, last = int(start), int(start + duration)
        if source == "gwosc":
            rate_in = 4096 if sample_rate <= 4096 else 16384
            fetches = {ifo: (_gwosc_fetch(ifo, gwosc_host, rate_in), rate_in) for ifo in ifos}
            attrs.update(gwosc_host=gwosc_host)
        else:
            by_ifo, types = _channels_by_ifo(channels, ifos), _frame_types(frame_type, ifos)
            fetches = {ifo: (_frames_fetch(ifo, by_ifo[ifo], types[ifo], datafind_server), None) for ifo in ifos}
            attrs.update(channels=",".join(by_ifo[ifo] for ifo in ifos))
        for ifo, (fetch, rate_in) in fetches.items():
            streams[ifo] = functools.partial(_real_stream, fetch, ifo, first, last, rate_in, sample_rate,
                                             block_seconds or FETCH_SECONDS[source])

    seconds = num_samples / sample_rate
    log.info("%s background for %s, GPS [%s, %s) at %g Hz -> %s", source, ",".join(ifos), _gps_key(start),
             _gps_key(start + seconds), sample_rate, output)
    with background_writer(output, ifos, start, sample_rate, num_samples, attrs) as writer, \
            Progress(num_samples * len(ifos), "samples", log) as progress:
        for ifo in ifos:
            offset = 0
            for samples in streams[ifo]():
                writer.write(ifo, offset, samples)
                offset += samples.size
                progress.update(samples.size)
            if offset != num_samples:
                raise RuntimeError(f"{ifo}: produced {offset} samples, expected {num_samples}")
    return output


def _real_stream(fetch: Fetch, ifo: str, start: int, end: int, rate_in: float | None, sample_rate: float,
                 block_seconds: int) -> Iterator[np.ndarray]:
    """Real strain of one ifo; with ``rate_in`` None (frames) the rate is that of the first block fetched."""
    if rate_in is None:
        blocks = aligned_blocks(start, end, block_seconds)
        first = fetch(*blocks[0])
        rate_in = float(first.sample_rate.value)
        cached = {blocks[0]: first}

        def reuse(a: int, b: int) -> Any:
            return cached.pop((a, b)) if (a, b) in cached else fetch(a, b)

        return real_strain(reuse, ifo, start, end, rate_in, sample_rate, block_seconds)
    return real_strain(fetch, ifo, start, end, rate_in, sample_rate, block_seconds)


@click.command()
@node_options
@data_option("ifos", required=True, help="Comma-separated interferometers, e.g. H1,L1.")
@click.option("--start", type=float, required=True, help="GPS start of the segment.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Seconds of strain to write.")
@data_option("sample_rate", positive=True, required=True, help="Sample rate of the output strain, Hz.")
@click.option("--source", type=click.Choice(SOURCES), default="simulated", show_default=True,
              help="simulated coloured Gaussian noise, GWOSC open data, or frames via gwdatafind.")
@click.option("--noise-psd", default="aLIGODesignSensitivityT1800044", show_default=True,
              help="lalsimulation PSD (SimNoisePSD<NAME>) colouring simulated noise; one, or one per ifo.")
@click.option("--channels", help="Strain channels, one per ifo, e.g. H1:GDS-CALIB_STRAIN,L1:GDS-CALIB_STRAIN "
                                 "(frames source).")
@click.option("--frame-type", help="Frame type that each ifo prefixes, e.g. HOFT_C00 (H1_HOFT_C00 for H1), or one "
                                   "per ifo as gwdatafind names them, e.g. H1_HOFT_C00,L1_HOFT_C00,HoftOnline; empty: "
                                   "the best type holding each channel (frames source).")
@click.option("--seed", type=int, default=0, show_default=True, help="Run seed; the noise depends on it, the ifo "
                                                                      "and --start.")
@device_option("Checked like every node's (cuda must exist); generation runs on the CPU.")
@click.option("--output", type=storage.PathOrUrl(), required=True,
              help="Background file to write (background-{t0}-{dur}.hdf5); an s3:// URL is written locally, then "
                   "uploaded.")
@click.option("--gwosc-host", default=GWOSC_HOST, show_default=True, help="GWOSC server (gwosc source).")
@click.option("--datafind-server", help="gwdatafind server [default: $GWDATAFIND_SERVER] (frames source).")
def main(ifos: str, start: float, duration: float, sample_rate: float, source: str, noise_psd: str,
         channels: str | None, frame_type: str | None, seed: int, device: str, output: Path | str, gwosc_host: str,
         datafind_server: str | None) -> list[Path | str]:
    """Write one segment of background strain, one float32 dataset per ifo readable by gwpy."""
    require_device(device)
    ifo_list = split(ifos)
    if not ifo_list or len(set(ifo_list)) != len(ifo_list):
        raise click.BadParameter(f"need distinct ifos, got {ifos!r}", param_hint="--ifos")
    psd_names = _per_ifo(noise_psd, ifo_list, "--noise-psd")
    with storage.writable(output) as local:
        generate_background(local, ifo_list, start, duration, sample_rate, source, psd_names, seed, channels,
                            frame_type, gwosc_host, datafind_server)
    return [output]

"""`aframe-waveforms`: a shard of training polarizations, or (``--validation``) of projected validation responses.

Training shard (DESIGN §6)
    ``--num`` draws of ``--prior`` from ``node_rng(seed, "waveforms", "train", shard)``, their polarizations from
    lalsimulation (``executables.sources.signals``; coalescence ``--right-pad`` s before the end, tapered start, no
    high-pass: training whitens with its own) written as a ``WaveformSet``: ``waveforms/plus``, ``waveforms/cross``
    (rows, duration · sample_rate) float32, every prior parameter under ``parameters/`` and the waveform settings as
    metadata; ``num_injections`` = ``--num``. Generated in blocks of ``BLOCK_ROWS`` rows into preallocated arrays, so
    the peak memory is the output plus one block.
``--validation``
    The one-sided PSD of each ifo is estimated (Welch, median, ``fftlength`` = ``--duration`` so its grid is the
    waveforms' rfft grid) from the first ``--psd-length`` s of the training background file ``--background``; draws
    of ``--prior`` from ``node_rng(seed, "waveforms", "val", shard)`` are projected onto ``--ifos`` at the fixed
    geocenter time t0 + psd_length and kept when their network SNR over [``--highpass``, Nyquist] reaches
    ``--snr-threshold``, until ``--num`` are kept (``signals.rejection_sample``). Written as a ``ResponseSet``:
    ``waveforms/<ifo>`` float32, ``parameters/snr`` (network), ``<ifo>_snr`` and the prior parameters, metadata
    with ``snr_threshold`` and ``highpass``; rejected draws are not stored but ``num_injections`` counts every draw.

Both use ``--workers`` processes (default: the CPUs this process may run on, at most ``$OMP_NUM_THREADS``); the
output bytes do not depend on it. The helpers shared with ``aframe-injections`` (the waveform options, reading a
background file into PSDs, building the ledger sets) live here too.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from executables.common import storage
from executables.common.cli import device_option, node_options, parse_ifos, require_device
from executables.common.cpus import usable_cpus
from executables.common.errors import InputError
from executables.common.logs import Progress
from executables.common.seeding import node_rng
from executables.common.shared import data_option
from executables.formats.sets import ResponseSet, WaveformSet, ifo_snr_name
from executables.formats.strain import background_info, read_background, simulated_psds
from executables.sources.priors import Prior, UnknownPrior, get_prior
from executables.sources.psds import noise_psd
from executables.sources.signals import (
    Sampled,
    UnknownApproximant,
    WaveformSettings,
    estimate_psd,
    rejection_sample,
    worker_pool,
)

log = logging.getLogger("aframe-waveforms")

#: Training waveforms generated (and logged) per step: 1024 8 s waveforms at 2048 Hz are 128 MiB of float32 each.
BLOCK_ROWS = 1024
#: Rejection sampling gives up after max(MIN_MAX_DRAWS, DRAWS_PER_ACCEPT x accepted wanted) draws by default.
DRAWS_PER_ACCEPT = 10_000
MIN_MAX_DRAWS = 100_000

#: Defaults of the validation-only options (the plan always passes them).
VALIDATION_DEFAULTS = {"ifos": "H1,L1", "highpass": 32.0, "snr_threshold": 4.0, "psd_length": 64.0}

#: Keys ``rejection_sample`` adds to the prior's parameters; stored in their own fields, not as prior parameters.
_SAMPLING_KEYS = ("snr", "ifo_snrs", "gps_time")


# -- helpers shared with aframe-injections ----------------------------------------------------------------------------


def default_max_draws(n_accept: int) -> int:
    """The draw budget of rejection sampling when ``--max-draws`` is not given."""
    return max(MIN_MAX_DRAWS, DRAWS_PER_ACCEPT * n_accept)


def load_prior(name: str) -> Prior:
    """``--prior`` by name; an unknown one is a usage error (exit 2) listing the known priors."""
    try:
        return get_prior(name)
    except UnknownPrior as exc:
        raise click.BadParameter(str(exc), param_hint="--prior") from None


def waveform_settings(approximant: str, sample_rate: float, duration: float, right_pad: float,
                      minimum_frequency: float, reference_frequency: float) -> WaveformSettings:
    """The waveform options as ``WaveformSettings``; a bad value is a usage error naming its option (exit 2)."""
    try:
        return WaveformSettings(approximant, sample_rate, duration, right_pad, minimum_frequency, reference_frequency)
    except UnknownApproximant as exc:
        raise click.BadParameter(str(exc), param_hint="--approximant") from None
    except ValueError as exc:
        text = str(exc)
        hint = ("--right-pad" if "right_pad" in text else
                "--minimum-frequency/--reference-frequency" if "frequency" in text else "--duration/--sample-rate")
        raise click.BadParameter(text, param_hint=hint) from None


def check_highpass(highpass: float, sample_rate: float) -> None:
    if not 0 < highpass < sample_rate / 2:
        raise click.BadParameter(f"{highpass:g} Hz must lie in (0, Nyquist = {sample_rate / 2:g} Hz)",
                                 param_hint="--highpass")


def design_psd(name: str, settings: WaveformSettings) -> np.ndarray:
    """lalsimulation's PSD on the waveforms' grid; its Nyquist bin, which lalsimulation leaves at zero, takes the
    value of the bin below (the SNR integral runs to Nyquist and a waveform carries no power there)."""
    psd = noise_psd(name, settings.sample_rate, settings.size).copy()
    if psd[-1] == 0:
        psd[-1] = psd[-2]
    return psd


def checked_info(path: Path, ifos: Sequence[str], settings: WaveformSettings) -> Any:
    """The background file's info; it must hold ``ifos`` at the waveforms' sample rate."""
    info = background_info(path, ifos)
    if not math.isclose(info.sample_rate, settings.sample_rate, rel_tol=1e-9):
        raise InputError(path, ifos[0], f"sample rate is {info.sample_rate:g} Hz but --sample-rate is "
                                        f"{settings.sample_rate:g} Hz")
    return info


def background_psds(path: Path, ifos: Sequence[str], settings: WaveformSettings, seconds: float, option: str,
                    highpass: float) -> tuple[dict[str, np.ndarray], Any]:
    """One-sided PSD per ifo from the first ``seconds`` of the background file ``path``, and the file's info.

    The PSDs are on the rfft grid of one waveform (Welch, median average, ``fftlength`` = the waveform duration).
    ``option`` names the command-line option that chose ``seconds``. A file that lacks an ifo, has another sample
    rate than ``settings``, is shorter than ``seconds`` or whose PSD is not positive and finite above ``highpass``
    is an ``InputError`` naming the file and dataset.
    """
    if seconds < settings.duration:
        raise click.BadParameter(f"{seconds:g} s is shorter than one PSD segment (--duration {settings.duration:g} "
                                 "s, the fftlength that puts the PSD on the waveforms' frequency grid)",
                                 param_hint=option)
    info = checked_info(path, ifos, settings)
    if seconds > info.duration + 0.5 / info.sample_rate:
        raise InputError(path, ifos[0], f"holds {info.duration:g} s of strain, less than {option} {seconds:g} s")
    strain, _, _ = read_background(path, ifos, info.t0, info.t0 + seconds, sample_rate=settings.sample_rate,
                                   psd_length=seconds)
    frequencies = np.fft.rfftfreq(settings.size, 1.0 / settings.sample_rate)
    band = frequencies >= highpass
    psds = {}
    for ifo in ifos:
        psd = estimate_psd(strain[ifo], settings.sample_rate, settings.duration)
        if not (np.all(np.isfinite(psd[band])) and np.all(psd[band] > 0)):
            raise InputError(path, ifo, f"the PSD of its first {seconds:g} s is not positive and finite above "
                                        f"--highpass {highpass:g} Hz (zero, NaN or infinite strain?)")
        psds[ifo] = psd
    return psds, info


def injection_psds(path: Path, ifos: Sequence[str], settings: WaveformSettings,
                   highpass: float) -> tuple[dict[str, np.ndarray], Any, str]:
    """The PSDs test injections' optimal SNRs are measured against, the file's info, and what the PSDs are: the
    design PSDs a simulated file was drawn from, else a Welch median over the whole file (issue 25: the 64 s the
    infer node whitens with reads SNRs about 7 % high)."""
    names = simulated_psds(path, ifos)
    info = checked_info(path, ifos, settings)
    if names is None:
        psds, info = background_psds(path, ifos, settings, info.duration, "--background", highpass)
        return psds, info, f"Welch median over the whole file ({info.duration:g} s, fftlength {settings.duration:g} s)"
    psds = {ifo: design_psd(names[ifo], settings) for ifo in ifos}
    return psds, info, "the design PSDs the noise was drawn from (" + ", ".join(
        f"{ifo} {names[ifo]}" for ifo in ifos) + ")"


def response_parameters(sampled: Sampled) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(prior parameters plus ``<ifo>_snr``, network SNR) of the accepted draws."""
    return _stored_parameters(sampled.parameters, sampled.ifos), np.asarray(sampled.parameters["snr"])


def _stored_parameters(drawn: Mapping[str, np.ndarray], ifos: Sequence[str]) -> dict[str, np.ndarray]:
    parameters = {key: value for key, value in drawn.items() if key not in _SAMPLING_KEYS}
    for index, ifo in enumerate(ifos):
        parameters[ifo_snr_name(ifo)] = np.asarray(drawn["ifo_snrs"])[:, index]
    return parameters


def rejected_parameters(sampled: Sampled) -> dict[str, np.ndarray]:
    """Every rejected draw: prior parameters, ``snr``, ``<ifo>_snr`` and ``injection_time`` (GPS it was tried at)."""
    parameters = _stored_parameters(sampled.rejected, sampled.ifos)
    parameters["snr"] = np.asarray(sampled.rejected["snr"])
    parameters["injection_time"] = np.asarray(sampled.rejected["gps_time"])
    return parameters


def responses_by_ifo(sampled: Sampled) -> dict[str, np.ndarray]:
    """``waveforms/<ifo>`` (lower case) of the accepted draws: views, so writing copies one ifo at a time."""
    return {ifo.lower(): sampled.responses[:, index] for index, ifo in enumerate(sampled.ifos)}


def settings_metadata(settings: WaveformSettings, prior: Prior) -> dict[str, Any]:
    """The metadata every ledger set of waveforms records."""
    return {"sample_rate": settings.sample_rate, "duration": settings.duration, "right_pad": settings.right_pad,
            "approximant": settings.approximant, "prior": prior.name,
            "minimum_frequency": settings.minimum_frequency, "reference_frequency": settings.reference_frequency}


def waveform_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options every waveform-making node takes (the plan's ``_waveform_options``), plus ``--workers`` and
    ``--max-draws``."""
    options = [
        click.option("--approximant", default="IMRPhenomPv2", show_default=True,
                     help="lalsimulation approximant (any with a time-domain implementation)."),
        click.option("--prior", "prior_name", default="end_o3_ratesandpops", show_default=True,
                     help="Source prior, by name (executables.sources.priors)."),
        click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True,
                     help="Seconds per waveform."),
        click.option("--right-pad", type=click.FloatRange(min=0), default=2.0, show_default=True,
                     help="Seconds from coalescence to the end of each waveform."),
        click.option("--minimum-frequency", type=click.FloatRange(min=0, min_open=True), default=20.0,
                     show_default=True, help="Hz where waveforms start (lower for heavy binaries, as aframe)."),
        click.option("--reference-frequency", type=click.FloatRange(min=0), default=50.0, show_default=True,
                     help="Hz where spins and phase are defined."),
        data_option("sample_rate", positive=True, default=2048.0, show_default=True,
                    help="Hz; must be the background file's rate where one is read."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Run seed; the draws depend on it and on this node's key."),
        device_option("Checked like every node's (cuda must exist); lalsimulation runs on the CPU."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes generating waveforms [default: usable CPUs, at most $OMP_NUM_THREADS]; the "
                          "output does not depend on it."),
        click.option("--max-draws", type=click.IntRange(min=1), default=None,
                     help=f"Draws after which rejection sampling gives up with exit 2 [default: max({MIN_MAX_DRAWS}, "
                          f"{DRAWS_PER_ACCEPT} x the number to accept)]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


# -- training shard ---------------------------------------------------------------------------------------------------


def training_waveforms(output: Path, *, num: int, shard: int, settings: WaveformSettings, prior: Prior, seed: int,
                       workers: int = 1, block_rows: int = BLOCK_ROWS) -> Path:
    """Write one training shard (a ``WaveformSet`` of ``num`` rows, see the module doc) and return its path."""
    rng = node_rng(seed, "waveforms", "train", shard)
    parameters = prior.sample(num, rng)
    plus = np.empty((num, settings.size), dtype=np.float32)
    cross = np.empty((num, settings.size), dtype=np.float32)
    workers = max(1, min(workers, num))
    log.info("training shard %d: %d %s waveforms of %g s at %g Hz (prior %s), %d worker(s)", shard, num,
             settings.approximant, settings.duration, settings.sample_rate, prior.name, workers)
    pool = worker_pool(workers) if workers > 1 else None
    try:
        with Progress(num, "waveforms", log) as progress:
            for start in range(0, num, block_rows):
                stop = min(start + block_rows, num)
                block = {key: value[start:stop] for key, value in parameters.items()}
                plus[start:stop], cross[start:stop] = settings.generate(block, workers=workers, pool=pool)
                progress.update(stop - start)
    finally:
        if pool is not None:
            pool.shutdown()
    waveforms = WaveformSet(plus=plus, cross=cross, parameters=parameters, num_injections=num,
                            **settings_metadata(settings, prior))
    return waveforms.write(output)


# -- validation shard -------------------------------------------------------------------------------------------------


def validation_waveforms(output: Path, *, num: int, shard: int, background: Path, ifos: Sequence[str],
                         highpass: float, snr_threshold: float, psd_length: float, settings: WaveformSettings,
                         prior: Prior, seed: int, workers: int = 1, max_draws: int | None = None) -> Path:
    """Write one validation shard (a ``ResponseSet`` of ``num`` rows, see the module doc) and return its path."""
    check_highpass(highpass, settings.sample_rate)
    psds, info = background_psds(background, ifos, settings, psd_length, "--psd-length", highpass)
    log.info("PSDs of %s from GPS [%s, +%g s) of %s", ",".join(ifos), info.t0, psd_length, background)
    gps_time = info.t0 + psd_length
    budget = max_draws or default_max_draws(num)
    log.info("validation shard %d: %d responses with network SNR >= %g (prior %s) at GPS %s, at most %d draws, "
             "%d worker(s)", shard, num, snr_threshold, prior.name, gps_time, budget, workers)
    sampled = rejection_sample(prior, node_rng(seed, "waveforms", "val", shard), num, psds, snr_threshold, settings,
                               highpass=highpass, gps_time=gps_time, max_draws=budget, workers=workers)
    log.info("accepted %d of %d draws (%.1f%%)", num, sampled.num_draws, 100.0 * num / max(sampled.num_draws, 1))
    parameters, network = response_parameters(sampled)
    responses = ResponseSet(waveforms=responses_by_ifo(sampled), snr=network, parameters=parameters,
                            ifos=list(ifos), highpass=highpass, snr_threshold=snr_threshold,
                            num_injections=sampled.num_draws, **settings_metadata(settings, prior))
    return responses.write(output)


# -- the node ---------------------------------------------------------------------------------------------------------


@click.command()
@node_options
@click.option("--validation", is_flag=True,
              help="Write projected validation responses above --snr-threshold instead of training polarizations.")
@click.option("--shard", type=click.IntRange(min=0), required=True, help="Index of this shard (part of its seed).")
@click.option("--num", type=click.IntRange(min=1), required=True, help="Waveforms to write (accepted ones with "
                                                                         "--validation).")
@click.option("--background", type=storage.PathOrUrl(),
              help="Training background file (local or s3://) whose PSD the SNRs are computed against "
                   "(--validation only).")
@data_option("ifos", help=f"Comma-separated interferometers to project onto (--validation only) "
                          f"[default: {VALIDATION_DEFAULTS['ifos']}].")
@data_option("highpass", help=f"Hz; lower end of the SNR integral (--validation only) "
                              f"[default: {VALIDATION_DEFAULTS['highpass']:g}].")
@click.option("--snr-threshold", type=click.FloatRange(min=0),
              help=f"Network SNR a validation waveform must reach (--validation only) "
                   f"[default: {VALIDATION_DEFAULTS['snr_threshold']:g}].")
@click.option("--psd-length", type=click.FloatRange(min=0, min_open=True),
              help=f"Seconds at the start of --background the PSD is estimated from (--validation only) "
                   f"[default: {VALIDATION_DEFAULTS['psd_length']:g}].")
@click.option("--output", type=storage.PathOrUrl(), required=True,
              help="Shard file to write (an s3:// URL is written locally, then uploaded).")
@waveform_options
def main(validation: bool, shard: int, num: int, background: Path | str | None, ifos: str | None,
         highpass: float | None, snr_threshold: float | None, psd_length: float | None, output: Path | str,
         approximant: str, prior_name: str, duration: float, right_pad: float, minimum_frequency: float,
         reference_frequency: float, sample_rate: float, seed: int, device: str, workers: int | None,
         max_draws: int | None) -> list[Path | str]:
    """Write a shard of training polarizations, or with --validation of projected responses above an SNR."""
    require_device(device)
    given = {"--background": background, "--ifos": ifos, "--highpass": highpass, "--snr-threshold": snr_threshold,
             "--psd-length": psd_length, "--max-draws": max_draws}
    if not validation:
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise click.BadParameter(f"{', '.join(extra)} only apply with --validation", param_hint=extra[0])
    elif background is None:
        raise click.BadParameter("--validation needs the training background file", param_hint="--background")
    settings = waveform_settings(approximant, sample_rate, duration, right_pad, minimum_frequency,
                                 reference_frequency)
    prior = load_prior(prior_name)
    workers = workers or usable_cpus()
    with storage.scratch() as scratch, storage.writable(output) as local:
        if not validation:
            training_waveforms(local, num=num, shard=shard, settings=settings, prior=prior, seed=seed,
                               workers=workers)
            return [output]
        assert background is not None
        pick = functools.partial(_or_default, given)
        validation_waveforms(local, num=num, shard=shard, background=storage.local_copy(background, scratch),
                             ifos=parse_ifos(pick("--ifos")), highpass=float(pick("--highpass")),
                             snr_threshold=float(pick("--snr-threshold")), psd_length=float(pick("--psd-length")),
                             settings=settings, prior=prior, seed=seed, workers=workers, max_draws=max_draws)
    return [output]


def _or_default(given: Mapping[str, Any], option: str) -> Any:
    value = given[option]
    return VALIDATION_DEFAULTS[option.lstrip("-").replace("-", "_")] if value is None else value

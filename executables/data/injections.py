"""`aframe-injections`: the test injections of one background file, accepted and rejected (DESIGN §6, §12).

For the test background file ``--background`` (t0 and duration from the file itself):

1. **PSD**: one-sided, per ifo, on the waveforms' grid, what the optimal SNRs are measured against: the design PSD
   a simulated file was drawn from, else a Welch median (``fftlength`` = ``--duration``) over the whole file, never
   the first ``--dead-time`` s the infer node whitens with (so few segments read SNRs about 7 % high). The
   ``ResponseSet``'s ``psd`` attribute says which (``waveforms.injection_psds``).
2. **Slots**: for each shift index in ``--shift-indices``, in the order given, the injection times of that branch,
   ``t0 + aframe_dag.timeslides.injection_times(duration, shifts, index, dead_time, spacing, buffer)``: every
   ``--spacing`` s inside the branch's analysed span ``[dead_time, duration - max offset)`` and ``--buffer`` s clear
   of its edges. The plan computed the same count with the same module; a different count than
   ``--expected-slots`` means the plan and the program disagree, and the node exits 2 saying so.
3. **Rejection sampling** (``signals.rejection_sample``) from ``node_rng(seed, "injections", t0, duration)``: each
   draw of ``--prior`` is tried at the geocenter time of the next unfilled slot and accepted when its network SNR over
   [``--highpass``, Nyquist] reaches ``--snr-threshold``; every draw below it is kept as rejected.
4. **Outputs**: ``--output``, a ``ResponseSet`` of the accepted draws in slot order (``waveforms/<ifo>``, ``snr``,
   ``<ifo>_snr``, the prior parameters, ``injection_time`` = the slot's GPS time, ``shift`` = the slot's per-ifo
   offsets ``timeslides.offsets(shifts, index)``); ``--rejected``, a ``RejectedSet`` of every rejected draw (prior
   parameters, ``snr``, ``<ifo>_snr`` and the ``injection_time`` it was tried at). Both record ``num_injections`` =
   every draw made, so that after merging, accepted + rejected rows = ``num_injections`` of either file.

A threshold the prior cannot reach within ``--max-draws`` draws exits 2 naming the prior and threshold.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np

from aframe_dag.timeslides import injection_times, offsets
from executables.common import storage
from executables.common.cli import node_options, parse_ifos, require_device, split
from executables.common.cpus import usable_cpus
from executables.common.seeding import node_rng
from executables.common.shared import data_option
from executables.data.waveforms import (
    check_highpass,
    default_max_draws,
    injection_psds,
    load_prior,
    rejected_parameters,
    response_parameters,
    responses_by_ifo,
    settings_metadata,
    waveform_options,
    waveform_settings,
)
from executables.formats.sets import RejectedSet, ResponseSet
from executables.sources.priors import Prior
from executables.sources.signals import WaveformSettings, rejection_sample

log = logging.getLogger("aframe-injections")


def seed_key(value: float) -> int | str:
    """A GPS time or duration as a seed key part: an int when whole, else its exact decimal text."""
    return int(value) if float(value).is_integer() else repr(float(value))


def slots(t0: float, duration: float, shifts: Sequence[float], shift_indices: Sequence[int], dead_time: float,
          spacing: float, buffer: float) -> tuple[np.ndarray, np.ndarray]:
    """(GPS time (N,), per-ifo shift (N, ifos)) of every injection slot, branch by branch in the given order."""
    times: list[float] = []
    shift_rows: list[tuple[float, ...]] = []
    for index in shift_indices:
        branch = injection_times(duration, shifts, index, dead_time, spacing, buffer)
        times += [t0 + offset for offset in branch]
        shift_rows += [offsets(shifts, index)] * len(branch)
    return np.asarray(times, dtype=np.float64), np.asarray(shift_rows, dtype=np.float64).reshape(-1, len(shifts))


def generate_injections(output: Path, rejected: Path, *, background: Path, ifos: Sequence[str],
                        shifts: Sequence[float], shift_indices: Sequence[int], dead_time: float, spacing: float,
                        buffer: float, snr_threshold: float, highpass: float, expected_slots: int,
                        settings: WaveformSettings, prior: Prior, seed: int, workers: int = 1,
                        max_draws: int | None = None) -> tuple[Path, Path]:
    """Write the accepted and the rejected injections of one test file (see the module doc); return both paths."""
    if len(shifts) != len(ifos):
        raise click.BadParameter(f"{len(shifts)} shift steps for {len(ifos)} ifos ({','.join(ifos)}); give one per "
                                 "ifo", param_hint="--shifts")
    check_highpass(highpass, settings.sample_rate)
    psds, info, psd = injection_psds(background, ifos, settings, highpass)
    log.info("SNRs against %s", psd)
    times, shift_rows = slots(info.t0, info.duration, shifts, shift_indices, dead_time, spacing, buffer)
    if len(times) != expected_slots:
        raise click.BadParameter(
            f"the plan expects {expected_slots} injection slots but {background} (GPS {info.t0} + "
            f"{info.duration:g} s) gives {len(times)} for shift indices {','.join(map(str, shift_indices))} (shifts "
            f"{','.join(f'{s:g}' for s in shifts)}, dead time {dead_time:g} s, spacing {spacing:g} s, buffer "
            f"{buffer:g} s): the plan and the program disagree", param_hint="--expected-slots")
    budget = max_draws or default_max_draws(len(times))
    rng = node_rng_for(seed, info.t0, info.duration)
    log.info("%d injection slots over shift indices %s with network SNR >= %g (prior %s), at most %d draws, "
             "%d worker(s)", len(times), ",".join(map(str, shift_indices)), snr_threshold, prior.name, budget,
             workers)
    sampled = rejection_sample(prior, rng, len(times), psds, snr_threshold, settings, highpass=highpass,
                               gps_time=times, max_draws=budget, workers=workers)
    if not np.array_equal(sampled.parameters["gps_time"], times):
        raise RuntimeError("accepted draws do not fill the injection slots in order")
    log.info("accepted %d of %d draws (%.1f%%)", len(times), sampled.num_draws,
             100.0 * len(times) / max(sampled.num_draws, 1))
    parameters, network = response_parameters(sampled)
    metadata = settings_metadata(settings, prior)
    accepted = ResponseSet(waveforms=responses_by_ifo(sampled), snr=network, injection_time=times, shift=shift_rows,
                           parameters=parameters, ifos=list(ifos), highpass=highpass, snr_threshold=snr_threshold,
                           psd=psd, num_injections=sampled.num_draws, **metadata)
    rejects = RejectedSet(parameters=rejected_parameters(sampled), num_injections=sampled.num_draws)
    return accepted.write(output), rejects.write(rejected)


def node_rng_for(seed: int, t0: float, duration: float) -> np.random.Generator:
    """The injection node's generator: ``node_rng(seed, "injections", t0, duration)`` of its background file."""
    return node_rng(seed, "injections", seed_key(t0), seed_key(duration))


def _floats(value: str, option: str) -> list[float]:
    try:
        numbers = [float(part) for part in split(value)]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}", param_hint=option) from None
    if not numbers or not all(math.isfinite(number) and number >= 0 for number in numbers):
        raise click.BadParameter(f"expected finite, non-negative numbers, got {value!r}", param_hint=option)
    return numbers


def _indices(value: str) -> list[int]:
    parts = split(value)
    if not parts or not all(part.isdigit() for part in parts):
        raise click.BadParameter(f"expected comma-separated shift indices (integers >= 0), got {value!r}",
                                 param_hint="--shift-indices")
    indices = [int(part) for part in parts]
    if len(set(indices)) != len(indices):
        raise click.BadParameter(f"a shift index is repeated in {value!r}", param_hint="--shift-indices")
    return indices


@click.command()
@node_options
@click.option("--background", type=storage.PathOrUrl(), required=True,
              help="Test background file (local or s3://) the injections are placed in (its t0 and duration set "
                   "the slots).")
@data_option("ifos", default="H1,L1", show_default=True, help="Comma-separated interferometers.")
@click.option("--shifts", default="0,1", show_default=True,
              help="Timeslide step per ifo, seconds, comma-separated (shift index i moves ifo k by i x step k).")
@click.option("--shift-indices", required=True,
              help="Comma-separated shift indices whose branches get injections, in slot order.")
@click.option("--dead-time", type=click.FloatRange(min=0, min_open=True), default=64.0, show_default=True,
              help="Seconds at the start of the file the infer node whitens with and does not analyse.")
@click.option("--spacing", type=click.FloatRange(min=0, min_open=True), default=16.0, show_default=True,
              help="Seconds between consecutive injections.")
@click.option("--buffer", type=click.FloatRange(min=0), default=16.0, show_default=True,
              help="No injection this close (s) to the edges of a branch's analysed span.")
@click.option("--snr-threshold", type=click.FloatRange(min=0), default=4.0, show_default=True,
              help="Network SNR an injection must reach; every draw below it is stored in --rejected.")
@data_option("highpass", default=32.0, show_default=True, help="Hz; lower end of the SNR integral.")
@click.option("--expected-slots", type=click.IntRange(min=0), required=True,
              help="Injection slots the plan computed for this file; the node checks its own count against it.")
@click.option("--output", type=storage.PathOrUrl(), required=True,
              help="Accepted injections to write (a ResponseSet; an s3:// URL is written locally, then uploaded).")
@click.option("--rejected", type=storage.PathOrUrl(), required=True,
              help="Rejected draws to write (a RejectedSet; an s3:// URL is written locally, then uploaded).")
@waveform_options
def main(background: Path | str, ifos: str, shifts: str, shift_indices: str, dead_time: float, spacing: float,
         buffer: float, snr_threshold: float, highpass: float, expected_slots: int, output: Path | str,
         rejected: Path | str, approximant: str, prior_name: str, duration: float, right_pad: float,
         minimum_frequency: float, reference_frequency: float, sample_rate: float, seed: int, device: str,
         workers: int | None, max_draws: int | None) -> list[Path | str]:
    """Place test injections in one background file: accepted responses at the planned times, every rejected draw."""
    require_device(device)
    if output == rejected or Path(output).absolute() == Path(rejected).absolute():
        raise click.BadParameter("--output and --rejected must be different files", param_hint="--rejected")
    settings = waveform_settings(approximant, sample_rate, duration, right_pad, minimum_frequency,
                                 reference_frequency)
    with storage.scratch() as scratch, storage.writable(output) as accepted, storage.writable(rejected) as rejects:
        generate_injections(
            accepted, rejects, background=storage.local_copy(background, scratch), ifos=parse_ifos(ifos),
            shifts=_floats(shifts, "--shifts"), shift_indices=_indices(shift_indices), dead_time=dead_time,
            spacing=spacing, buffer=buffer, snr_threshold=snr_threshold, highpass=highpass,
            expected_slots=expected_slots, settings=settings, prior=load_prior(prior_name), seed=seed,
            workers=workers or usable_cpus(), max_draws=max_draws)
    return [output, rejected]

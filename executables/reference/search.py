"""One test background file searched by the matched filter: each ifo filtered once, then every branch's events
from its timeslid coincidences, and every injection's loudest coincidence on the injected data.

A branch (file, shift index ``i``) reads ifo ``k`` ``i * shifts[k]`` s later than the analysis clock and analyses
``[t0 + psd_length, t0 + duration - max offset)`` (``aframe_dag.timeslides``, as ``aframe-infer``); its events are the
coincidences of the ifos' triggers moved back by their offsets, clustered, inside that span. Its injections
(``executables.formats.placement``, the reader ``aframe-infer`` uses) are added on the analysis clock to the
background around each one, one filtering segment centred on it per ifo, filtered with the background's PSD; the
injection's statistic is the loudest coincidence within ``+- cluster_length / 2`` of its time (0 when none).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycbc.types import TimeSeries

from aframe_dag import timeslides
from executables.common.branches import BranchNaming
from executables.common.errors import InputError
from executables.formats.events import EventSet, RecoveredInjectionSet
from executables.formats.placement import BranchInjections
from executables.formats.strain import background_info, read_background
from executables.reference.coincidence import candidates, clustered, windows
from executables.reference.conditioning import background_psd, condition
from executables.reference.templates import FilterBank
from executables.reference.triggers import Triggers, segment_triggers, stretch_triggers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """What the reference search needs of the run (s and Hz)."""

    ifos: tuple[str, ...]
    shifts: tuple[float, ...]
    sample_rate: float
    f_low: float
    psd_length: float
    psd_segment: float
    inverse_length: float
    snr_threshold: float
    trigger_window: float
    coincidence_margin: float
    cluster_length: float


@dataclass(frozen=True)
class FileBranch(BranchNaming):
    """One (file, shift index) pair: its clock, per-ifo offsets (s and samples), the GPS span it analyses on the
    analysis clock and that span's livetime."""

    path: Path
    t0: float
    duration: float
    index: int
    offsets: tuple[float, ...]
    sample_offsets: tuple[int, ...]
    span: tuple[float, float]
    livetime: float


def open_branch(path: Path, index: int, settings: Settings) -> FileBranch:
    """Check one background file against the run's settings and place shift ``index`` on it."""
    info = background_info(path, settings.ifos)
    if abs(info.sample_rate - settings.sample_rate) > 1e-9 * settings.sample_rate:
        raise InputError(path, settings.ifos[0], f"sample rate is {info.sample_rate:g} Hz, this run uses "
                                                 f"{settings.sample_rate:g} Hz")
    offsets = timeslides.offsets(settings.shifts, index)
    samples = tuple(round(offset * info.sample_rate) for offset in offsets)
    if any(abs(n - o * info.sample_rate) > 1e-6 for n, o in zip(samples, offsets, strict=True)):
        raise InputError(path, settings.ifos[0], f"shift {index} ({offsets} s) is no whole number of samples")
    livetime = timeslides.livetime(info.duration, settings.shifts, index, settings.psd_length)
    if livetime <= 0:
        raise InputError(path, settings.ifos[0], f"holds {info.duration:g} s: nothing left to analyse at shift "
                                                 f"{index} after the {settings.psd_length:g} s PSD dead time")
    start, stop = timeslides.analysed_span(info.duration, settings.shifts, index, settings.psd_length)
    return FileBranch(Path(path), info.t0, info.duration, index, offsets, samples,
                      (info.t0 + start, info.t0 + stop), livetime)


class FileSearch:
    """One background file filtered: each ifo's conditioned strain, background PSD and triggers (own clock)."""

    def __init__(self, path: Path, settings: Settings, bank: FilterBank, pad: float) -> None:
        started = time.monotonic()
        self.settings, self.bank, self.pad = settings, bank, pad
        strain, self.t0, rate = read_background(path, settings.ifos, sample_rate=settings.sample_rate,
                                                psd_length=settings.psd_length)
        self.conditioned, self.psds, self.norms, self.triggers = {}, {}, {}, {}
        for ifo in settings.ifos:
            conditioned = condition(strain[ifo], rate, self.t0, settings.f_low)
            psd = background_psd(conditioned, settings.psd_segment, 1.0 / bank.length, settings.f_low,
                                 settings.inverse_length)
            self.conditioned[ifo], self.psds[ifo], self.norms[ifo] = conditioned, psd, bank.normalise(psd)
            self.triggers[ifo] = stretch_triggers(conditioned, psd, bank, self.norms[ifo], pad,
                                                  settings.snr_threshold, settings.trigger_window)
        self.windows = windows(settings.ifos, settings.coincidence_margin)
        log.info("%s: %s triggers from %d templates (%.0f s)", Path(path).name,
                 ", ".join(f"{ifo} {len(t)}" for ifo, t in self.triggers.items()), len(bank),
                 time.monotonic() - started)

    def events(self, branch: FileBranch) -> EventSet:
        """The branch's clustered coincidences inside its analysed span, with its livetime as Tb."""
        moved = [self.triggers[ifo].moved(offset) for ifo, offset in zip(self.settings.ifos, branch.offsets,
                                                                           strict=True)]
        stat, when = clustered(*candidates(moved, self.windows), self.settings.cluster_length)
        inside = (when >= branch.span[0]) & (when < branch.span[1])
        shift = np.broadcast_to(np.asarray(branch.offsets, dtype=np.float64), (int(inside.sum()), len(moved)))
        return EventSet(detection_statistic=stat[inside], detection_time=when[inside], shift=shift,
                        Tb=branch.livetime, ifos=list(self.settings.ifos))

    def _segment(self, branch: FileBranch, injections: BranchInjections, centre: float) -> list[Triggers]:
        """Each ifo's triggers on one filtering segment of injected data centred on ``centre`` (analysis clock)."""
        rate, size = self.settings.sample_rate, round(self.bank.length * self.settings.sample_rate)
        total = len(self.conditioned[self.settings.ifos[0]])
        lo = round((centre - self.t0) * rate) - size // 2
        lo = max(lo, -min(branch.sample_offsets))
        lo = min(lo, total - size - max(branch.sample_offsets))
        signal = np.zeros((len(self.settings.ifos), size))
        injections.placed.add_to(signal, lo)
        margin = round(self.pad * rate)
        found = []
        for row, (ifo, offset) in enumerate(zip(self.settings.ifos, branch.sample_offsets, strict=True)):
            epoch = self.t0 + lo / rate
            data = self.conditioned[ifo].numpy()[lo + offset: lo + offset + size] \
                + condition(signal[row], rate, epoch, self.settings.f_low).numpy()
            segment = TimeSeries(data, delta_t=1.0 / rate, epoch=epoch)
            found.append(segment_triggers(segment, self.psds[ifo], self.bank, self.norms[ifo], (margin, size - margin),
                                          self.settings.snr_threshold, self.settings.trigger_window))
        return found

    def recovered(self, branch: FileBranch, injections: BranchInjections) -> RecoveredInjectionSet:
        """Each injection's loudest coincidence within ``+- cluster_length / 2`` of its time (0 where none)."""
        rows, half = injections.rows, self.settings.cluster_length / 2
        statistic, when = np.zeros(len(rows)), np.array(rows.injection_time, dtype=np.float64)
        for index, centre in enumerate(rows.injection_time):
            stat, times = candidates(self._segment(branch, injections, float(centre)), self.windows)
            near = np.flatnonzero(np.abs(times - centre) <= half)
            if len(near):
                best = near[np.argmax(stat[near])]
                statistic[index], when[index] = stat[best], times[best]
        return RecoveredInjectionSet(detection_statistic=statistic, detection_time=when, shift=rows.shift,
                                     injection_time=rows.injection_time, snr=rows.snr,
                                     parameters=dict(rows.parameters), Tb=0.0, ifos=list(self.settings.ifos))


def search_file(search: FileSearch, branches: Sequence[FileBranch],
                injected: Sequence[BranchInjections | None]) -> list[tuple[EventSet, RecoveredInjectionSet | None]]:
    """Every branch of one file: its events and, where it holds injections, the injections' statistics."""
    results = []
    for branch, injections in zip(branches, injected, strict=True):
        events = search.events(branch)
        found = None if injections is None else search.recovered(branch, injections)
        log.info("branch %s: %d events over %g s%s", branch.label, len(events.detection_statistic), branch.livetime,
                 "" if found is None else f", {len(found.detection_statistic)} injections")
        results.append((events, found))
    return results

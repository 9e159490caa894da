"""Vetoes at aggregation: the live time they leave the analysed branches and the event rows they remove.

The arithmetic is the plan's (``aframe_dag.vetoes``): a branch ``T0-DURATION:SHIFT`` analyses the clock span that
ends ``max_k(SHIFT * shifts[k])`` s before its file does and lasts its recorded livetime; it keeps the part where no
ifo's shifted time is vetoed. An event row is removed when ``detection_time + shift[k]`` is vetoed in some ifo k; a
foreground row when ``injection_time + shift[k]`` is: an injection placed at a vetoed moment is not part of the
experiment, so it is neither found nor missed (aframe drops vetoed injections from the sensitive volume too), and
``aframe-sv`` is told how many were dropped. Background and zero-lag ``Tb`` lose the vetoed seconds of their branches.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click
import numpy as np

from aframe_dag import timeslides
from aframe_dag.vetoes import Vetoes, VetoFileError
from executables.common.errors import InputError, PermanentError
from executables.formats.events import COUNT_RTOL, BranchRecord, Detections, EventSet, RecoveredInjectionSet

log = logging.getLogger("aframe-aggregate")

SetT = TypeVar("SetT", bound=Detections)
#: Seconds per branch by which the vetoed livetime may differ from the plan's (round-off at GPS-sized times).
SECONDS_ATOL = 1e-6


def parse_veto(value: str) -> tuple[str, Path]:
    """``--veto IFO:PATH`` -> (ifo, path)."""
    ifo, colon, path = value.partition(":")
    if not colon or not ifo or not path:
        raise click.BadParameter(f"give IFO:PATH, got {value!r}", param_hint="--veto")
    return ifo, Path(path)


def read_vetoes(ifos: Sequence[str], files: Sequence[tuple[str, Path]]) -> Vetoes:
    """The veto files for the events' ifos; an unreadable file is an ``InputError`` naming it."""
    for ifo, path in files:
        if ifo not in ifos:
            raise InputError(path, None, f"--veto names {ifo}, but the events are of {', '.join(ifos)}")
    try:
        return Vetoes.read(ifos, files)
    except VetoFileError as exc:
        raise InputError(exc.path, None, exc.message) from None


def branch_span(branch: BranchRecord, shifts: Sequence[float]) -> tuple[float, float, tuple[float, ...]]:
    """The clock span (GPS start, stop) a branch analysed and its per-ifo offsets, computed as the plan does."""
    t0, _, duration = branch.label.rpartition(":")[0].partition("-")
    offsets = timeslides.offsets(shifts, branch.shift)
    dead_time = float(duration) - max(offsets) - branch.livetime  # what the recorded livetime leaves of the file
    first, last = timeslides.analysed_span(float(duration), shifts, branch.shift, dead_time)
    return float(t0) + first, float(t0) + last, offsets


def vetoed_seconds(vetoes: Vetoes, shifts: Sequence[float], branches: Sequence[BranchRecord]) -> float:
    """Seconds of the branches' analysed spans that vetoes remove, each instant of each branch once."""
    return math.fsum(vetoes.vetoed_seconds(*branch_span(branch, shifts)) for branch in branches)


def vetoed_rows(vetoes: Vetoes, times: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Which rows lie at a vetoed moment: some ifo k with ``times + shifts[:, k]`` inside one of its intervals."""
    hit = np.zeros(len(times), dtype=bool)
    for k in range(len(vetoes.ifos)):
        starts, stops = np.asarray(vetoes.starts[k]), np.asarray(vetoes.stops[k])
        if not len(starts):
            continue
        shifted = times + shifts[:, k]
        index = np.searchsorted(starts, shifted, side="right") - 1
        hit |= (index >= 0) & (shifted < stops[np.maximum(index, 0)])
    return hit


def _kept(vetoes: Vetoes, rows: SetT, times: np.ndarray, seconds: float = 0.0) -> SetT:
    """The rows at live moments, their livetime less ``seconds``."""
    kept = rows.take(np.flatnonzero(~vetoed_rows(vetoes, times, rows.shift)))
    kept.Tb = max(rows.Tb - seconds, 0.0)  # a wholly vetoed set: round-off must not make Tb negative
    kept.vetoed = seconds
    return kept


@dataclass(frozen=True)
class VetoCheck:
    """The veto files of one aggregation, the run's shifts and what the plan says the vetoes remove."""

    files: list[tuple[str, Path]]
    shifts: tuple[float, ...]
    expected_seconds: float
    expected_injections: int

    def apply(self, branches: Sequence[BranchRecord], background: EventSet, zero_lag: EventSet,
              foreground: RecoveredInjectionSet) -> tuple[EventSet, EventSet, RecoveredInjectionSet]:
        """The three merged sets less their vetoed rows and seconds; the removal must be the plan's (else exit 2)."""
        if len(self.shifts) != len(background.ifos):
            raise PermanentError(f"--shifts gives {len(self.shifts)} steps for the {len(background.ifos)} ifos "
                                 f"{', '.join(background.ifos)} of the events")
        vetoes = read_vetoes(background.ifos, self.files)
        background_branches = [b for b in branches if b.background]
        seconds = vetoed_seconds(vetoes, self.shifts, background_branches)
        if not math.isclose(seconds, self.expected_seconds, rel_tol=COUNT_RTOL,
                            abs_tol=SECONDS_ATOL * max(1, len(background_branches))):
            raise PermanentError(f"the vetoes remove {seconds!r} s of background, the plan expects "
                                 f"{self.expected_seconds!r} s: were the veto files changed after the build?")
        zero_lag_seconds = vetoed_seconds(vetoes, self.shifts, [b for b in branches if b.shift == 0])
        kept_foreground = _kept(vetoes, foreground, foreground.injection_time)
        dropped = len(foreground) - len(kept_foreground)
        if dropped != self.expected_injections:
            raise PermanentError(f"the vetoes drop {dropped} injections, the plan expects "
                                 f"{self.expected_injections}: were the veto files changed after the build?")
        kept_foreground.vetoed_injections = dropped
        kept_background = _kept(vetoes, background, background.detection_time, seconds)
        kept_zero_lag = _kept(vetoes, zero_lag, zero_lag.detection_time, zero_lag_seconds)
        log.info("vetoes: %.6g s of background (%d events), %.6g s of zero-lag (%d events) and %d of %d injections "
                 "removed", seconds, len(background) - len(kept_background), zero_lag_seconds,
                 len(zero_lag) - len(kept_zero_lag), dropped, len(foreground))
        return kept_background, kept_zero_lag, kept_foreground

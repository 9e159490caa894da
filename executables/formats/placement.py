"""Where the test injections go: the rows of the merged ``ResponseSet`` each branch holds, placed on its stream.

One reader for every search over the test set (``aframe-infer`` and the matched-filter reference,
``aframe-reference-filter``), so both see the same injections at the same samples. A branch is any object with
``t0``, ``duration`` (s) and ``offsets`` (per-ifo shift, s); ``select_injections`` picks the rows whose injection time
lies in the branch's file and whose ``shift`` equals its offsets, and places their responses as
``executables.data.injections`` made them: coalescence (geocentre time ``injection_time``) at sample
``(duration - right_pad) * sample_rate`` of each response, which carries its own ifo's arrival delay; the response is
added on the analysis clock, so every shifted stream sees the signal at ``injection_time``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from executables.common.errors import InputError
from executables.formats.sets import ResponseSet


class Placed(Protocol):
    """What placing needs of a branch: its file's clock and its per-ifo offsets (s)."""

    t0: float
    duration: float
    offsets: tuple[float, ...]


@dataclass
class Injections:
    """The responses added to one branch's foreground stream: ``(rows, ifos, samples)`` placed at ``first``."""

    responses: np.ndarray
    first: np.ndarray

    def add_to(self, strain: np.ndarray, lo: int) -> None:
        """Add every response overlapping ``strain`` (analysis-clock samples ``[lo, lo + strain.shape[-1])``)."""
        size, hi = self.responses.shape[-1], lo + strain.shape[-1]
        for response, first in zip(self.responses, self.first, strict=True):
            a, b = max(first, lo), min(first + size, hi)
            if a < b:
                strain[:, a - lo: b - lo] += response[:, a - first: b - first]


@dataclass
class BranchInjections:
    """The accepted injections of one branch: their rows of the ResponseSet and where they go in the stream."""

    rows: ResponseSet
    placed: Injections


def select_injections(path: Path, branches: Sequence[Placed], ifos: Sequence[str],
                      sample_rate: float) -> list[BranchInjections | None]:
    """The injections of each branch (None where it has none), reading responses only for these branches' rows."""
    found = ResponseSet.read_parameters(path, ["injection_time", "shift"])
    times, shifts = found["injection_time"], np.asarray(found["shift"], dtype=np.float64)
    if shifts.ndim != 2 or shifts.shape[1] != len(ifos):
        raise InputError(path, "parameters/shift", f"has shape {shifts.shape}, expected (rows, {len(ifos)} ifos)")
    chosen = []
    for branch in branches:
        inside = (times >= branch.t0) & (times < branch.t0 + branch.duration)
        same = np.all(np.isclose(shifts, np.asarray(branch.offsets)[None, :], rtol=0, atol=1e-6), axis=1)
        chosen.append(np.flatnonzero(inside & same))
    if not sum(len(rows) for rows in chosen):
        return [None] * len(branches)
    every = np.concatenate(chosen)
    responses = ResponseSet.read(path, every)
    if [ifo.lower() for ifo in responses.ifos] != [ifo.lower() for ifo in ifos]:
        raise InputError(path, "ifos", f"responses are for {responses.ifos}, this run analyses {list(ifos)}")
    if not math.isclose(responses.sample_rate, sample_rate, rel_tol=1e-9):
        raise InputError(path, "sample_rate", f"is {responses.sample_rate:g} Hz, this run uses {sample_rate:g} Hz")
    for name in ("duration", "right_pad"):
        if getattr(responses, name) is None:
            raise InputError(path, name, "metadata attribute missing (needed to place the responses in time)")
    coalescence = round((responses.duration - responses.right_pad) * sample_rate)
    result: list[BranchInjections | None] = []
    offset = 0
    for branch, rows in zip(branches, chosen, strict=True):
        if not len(rows):
            result.append(None)
            continue
        part = _rows(responses, slice(offset, offset + len(rows)))
        offset += len(rows)
        stacked = np.stack([part.waveforms[ifo.lower()] for ifo in ifos], axis=1).astype(np.float64)
        first = np.round((part.injection_time - branch.t0) * sample_rate).astype(np.int64) - coalescence
        result.append(BranchInjections(part, Injections(stacked, first)))
    return result


def _rows(responses: ResponseSet, rows: slice) -> ResponseSet:
    """A slice of a ResponseSet read in memory, with the same metadata."""
    values = dict(responses.metadata_values())
    values.update(waveforms={name: array[rows] for name, array in responses.waveforms.items()},
                  snr=responses.snr[rows], injection_time=responses.injection_time[rows],
                  shift=responses.shift[rows], parameters={n: a[rows] for n, a in responses.parameters.items()})
    values["num_injections"] = None
    return ResponseSet(**values)

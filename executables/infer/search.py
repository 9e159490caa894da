"""Per-branch search of ``aframe-infer``: network outputs -> integrated stream -> events, and the injections found.

``select_injections`` picks the rows of the merged ``ResponseSet`` that belong to each branch (injection time in the
branch's file, ``shift`` equal to the branch's offsets) and places their responses as ``executables.data.injections``
made them: coalescence (geocentre time ``injection_time``) at sample ``(duration - right_pad) * sample_rate`` of
each response, which carries its own ifo's arrival delay; the response is added on the analysis clock, so every
shifted stream sees the signal at ``injection_time``. ``search_branch`` runs the background stream through the
backend, integrates and clusters it into events, then runs the foreground stream only where the recovered
injections need it (each injection's ``+- cluster_length / 2`` plus the integration warm-up).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from executables.common.errors import InputError
from executables.formats.events import EventSet, RecoveredInjectionSet
from executables.formats.sets import ResponseSet
from executables.infer.outputs import cluster, integrate
from executables.infer.stream import Branch, Injections, Preprocessor, prefetched, windows_near

log = logging.getLogger(__name__)


@dataclass
class BranchInjections:
    """The accepted injections of one branch: their rows of the ResponseSet and where they go in the stream."""

    rows: ResponseSet
    placed: Injections


def select_injections(path: Path, branches: Sequence[Branch], ifos: Sequence[str],
                      sample_rate: float) -> list[BranchInjections | None]:
    """The injections of each branch (None where it has none), reading responses only for this bundle's rows."""
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


def _raw_outputs(backend, batches) -> np.ndarray:
    """The backend's logits of ``batches`` as one float32 array (copied from the device once, at the end)."""
    outputs = list(backend.run(prefetched(batches)))
    if not outputs:
        return np.zeros(0, dtype=np.float32)
    if isinstance(outputs[0], np.ndarray):
        return np.concatenate(outputs)
    import torch

    return torch.cat(outputs).cpu().numpy()


@dataclass
class BranchResult:
    """What one branch found: its events and, when it had injections, the recovered injections."""

    events: EventSet
    foreground: RecoveredInjectionSet | None


def search_branch(branch: Branch, preprocessor: Preprocessor, backend, injections: BranchInjections | None,
                  ifos: Sequence[str], cluster_length: float, injections_path: Path) -> BranchResult:
    """Background events of one branch and, with ``injections``, the loudest output near each of them."""
    geo = preprocessor.geometry
    started = time.monotonic()
    raw = _raw_outputs(backend, preprocessor.batches(branch))
    integrated = integrate(raw, geo.integration)
    times = preprocessor.times(branch)
    keep = cluster(integrated, geo.cluster_half)
    shift = np.broadcast_to(np.asarray(branch.offsets, dtype=np.float64), (len(keep), len(ifos)))
    events = EventSet(detection_statistic=integrated[keep], detection_time=times[keep], shift=shift,
                      Tb=branch.livetime, ifos=list(ifos))
    elapsed = time.monotonic() - started
    log.info("branch %s: %d outputs over %g s of livetime, %d events (%.0f outputs/s)", branch.label,
             branch.outputs, branch.livetime, len(keep), branch.outputs / max(elapsed, 1e-9))
    if injections is None:
        return BranchResult(events, None)
    rows = injections.rows
    near = windows_near(times, rows.injection_time, cluster_length / 2)
    for index, indices in enumerate(near):
        if not len(indices):
            raise InputError(injections_path, "parameters/injection_time",
                             f"injection at GPS {rows.injection_time[index]} has no output of branch "
                             f"{branch.label} within {cluster_length / 2:g} s")
    needed = np.unique(np.concatenate([np.arange(k[0], k[-1] + geo.integration) for k in near]))
    raw_foreground = np.full(len(raw), np.nan)
    raw_foreground[needed] = _raw_outputs(backend, preprocessor.batches(branch, needed, injections.placed))
    foreground = integrate(raw_foreground, geo.integration)
    best = np.array([indices[np.argmax(foreground[indices])] for indices in near], dtype=np.int64)
    recovered = RecoveredInjectionSet(
        detection_statistic=foreground[best], detection_time=times[best], shift=rows.shift,
        injection_time=rows.injection_time, snr=rows.snr, parameters=dict(rows.parameters), Tb=0.0,
        ifos=list(ifos))
    log.info("branch %s: %d injections, %d foreground outputs", branch.label, len(rows), len(needed))
    return BranchResult(events, recovered)

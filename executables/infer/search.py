"""Per-branch search of ``aframe-infer``: network outputs -> integrated stream -> events, and the injections found.

Each branch's injections come from ``executables.formats.placement`` (the one reader of where they go, shared with
the matched-filter reference). ``search_branch`` runs the background stream through the
backend, integrates and clusters it into events, then runs the foreground stream only where the recovered
injections need it (each injection's ``+- cluster_length / 2`` plus the integration warm-up).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from executables.common.errors import InputError
from executables.formats.events import EventSet, RecoveredInjectionSet
from executables.formats.placement import BranchInjections
from executables.infer.outputs import cluster, integrate
from executables.infer.stream import Branch, Preprocessor, prefetched, windows_near

log = logging.getLogger(__name__)


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

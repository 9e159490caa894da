"""Coincident events across detectors: triggers of the same template within each pair's light-travel time plus a
margin, ranked by network SNR, clustered over the network's cluster length.

For any number of ifos: every trigger of every ifo is an *anchor*; each other ifo contributes its loudest trigger of
the same template within ``window[anchor, other]`` s of it; an anchor with at least one partner is a candidate whose
statistic is the quadrature sum of its own and its partners' ``|SNR|`` (the network matched-filter SNR) at the
anchor's time. Candidates are then clustered by PyCBC's ``cluster_over_time``: one event survives where it is the
loudest within ``+- cluster_length / 2``. Times are on the analysis clock (each ifo's triggers moved back by its
timeslide offset first), so the same code serves zero-lag, every timeslide and the injections.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pycbc.detector import Detector
from pycbc.events.coinc import cluster_over_time

from executables.reference.triggers import Triggers


def windows(ifos: Sequence[str], margin: float) -> np.ndarray:
    """``(ifos, ifos)`` coincidence windows (s): each pair's light-travel time plus ``margin``."""
    detectors = [Detector(ifo) for ifo in ifos]
    return np.array([[a.light_travel_time_to_detector(b) + margin for b in detectors] for a in detectors])


def _loudest_partner(anchor: Triggers, other: Triggers, window: float, span: float) -> np.ndarray:
    """For each anchor trigger, ``|SNR|`` of ``other``'s loudest trigger of its template within ``window`` s
    (0 where there is none); ``span`` s exceeds every time difference, so (template, time) sort as one key."""
    order = np.lexsort((other.time, other.template))
    keys = other.template[order] * span + other.time[order]
    wanted = anchor.template * span + anchor.time
    lo = np.searchsorted(keys, wanted - window, side="left")
    hi = np.searchsorted(keys, wanted + window, side="right")
    snr = other.snr[order]
    best = np.zeros(len(anchor))
    for index in np.flatnonzero(hi > lo):
        best[index] = snr[lo[index]:hi[index]].max()
    return best


def candidates(triggers: Sequence[Triggers], window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network SNR and time of every anchor with a partner in another ifo (see the module doc)."""
    times = [t.time for t in triggers if len(t)]
    if len(times) < 2:
        return np.zeros(0), np.zeros(0)
    every = np.concatenate(times)
    origin = every.min()
    span = float(every.max() - origin) + 2 * float(window.max()) + 1.0
    moved = [Triggers(t.time - origin, t.snr, t.template) for t in triggers]
    stats, when = [], []
    for a, anchor in enumerate(moved):
        if not len(anchor):
            continue
        power, partners = anchor.snr ** 2, np.zeros(len(anchor), dtype=np.int64)
        for b, other in enumerate(moved):
            if b == a or not len(other):
                continue
            best = _loudest_partner(anchor, other, window[a, b], span)
            power, partners = power + best ** 2, partners + (best > 0)
        found = partners > 0
        stats.append(np.sqrt(power[found]))
        when.append(anchor.time[found] + origin)
    return np.concatenate(stats), np.concatenate(when)


def clustered(stat: np.ndarray, time: np.ndarray, cluster_length: float) -> tuple[np.ndarray, np.ndarray]:
    """The candidates that are the loudest within ``+- cluster_length / 2`` of themselves, in time order."""
    if not len(stat):
        return stat, time
    keep = cluster_over_time(stat, time, cluster_length / 2)
    order = np.argsort(time[keep], kind="stable")
    return stat[keep][order], time[keep][order]

"""Event sets: what inference finds (background, zero-lag, recovered injections) and the FAR arithmetic on them.

Two ledger sets (``executables.formats.ledger``), stored in aframe's ledger layout:

    EventSet               parameters/detection_statistic, detection_time, shift (rows, ifos); attrs Tb, ifos
    RecoveredInjectionSet  the same plus parameters/injection_time, snr and the injection's source parameters

An infer node writes one file (``write_node_events``) holding a set per group, ``background/``, ``zero-lag/`` and
``foreground/``, and a ``branches`` table of ``BranchRecord`` rows (one per branch analysed), so aggregate can
check that every branch is counted exactly once. ``Tb`` is livetime in seconds; a FAR is per year of 365.25 days.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np
from scipy.constants import Julian_year

from executables.common.atomic import atomic_path
from executables.common.errors import InputError
from executables.common.hdf5 import create_dataset, open_hdf5, read
from executables.formats.ledger import (
    METADATA,
    PARAMETER,
    Ledger,
    _as_str_list,
    metadata,
    parameter,
)

PathLike = str | os.PathLike[str]
DetectionsT = TypeVar("DetectionsT", bound="Detections")

#: Seconds in the year FARs are quoted per (365.25 days).
SECONDS_PER_YEAR = Julian_year
#: Relative slack when turning a FAR into a whole number of allowed background events (float round-off).
COUNT_RTOL = 1e-9
#: Groups of a per-node events file, by ``NodeEvents`` field.
NODE_GROUPS = {"background": "background", "zero_lag": "zero-lag", "foreground": "foreground"}
BRANCHES = "branches"


@dataclass(kw_only=True, eq=False)
class Detections(Ledger):
    """What every event row has: the statistic, when it happened, the ifo shifts, and the livetime behind it."""

    detection_statistic: np.ndarray = parameter(dtype=np.float64, doc="integrated network output")
    detection_time: np.ndarray = parameter(dtype=np.float64, doc="GPS, on the first ifo's unshifted clock")
    shift: np.ndarray = parameter(dtype=np.float64, doc="(rows, ifos) seconds each ifo was shifted")
    Tb: float = metadata(merge="sum", doc="livetime, seconds")
    ifos: list[str] = metadata(_as_str_list, doc="ifos in shift-column order")
    vetoed: float | None = metadata(optional=True, doc="seconds of livetime aggregate's vetoes removed (Tb is what is "
                                                       "left); absent: no vetoes")

    def check(self) -> None:
        if self.shift.shape != (len(self), len(self.ifos)):
            raise ValueError(f"shift has shape {self.shift.shape}, expected (rows, ifos) = "
                             f"{(len(self), len(self.ifos))}")
        if not (math.isfinite(self.Tb) and self.Tb >= 0):
            raise ValueError(f"Tb must be a finite number of seconds >= 0, got {self.Tb}")

    @classmethod
    def empty(cls: type[DetectionsT], ifos: Sequence[str], Tb: float = 0.0) -> DetectionsT:
        """A set with no rows (a branch with no events, or a node with no zero-lag branch)."""
        values: dict[str, Any] = {"ifos": list(ifos), "Tb": Tb}
        for field in cls._fields(PARAMETER):
            if not field.metadata["group"]:
                values[field.name] = np.zeros((0, len(ifos)) if field.name == "shift" else 0)
        return cls(**values)

    def take(self: DetectionsT, rows: np.ndarray | slice) -> DetectionsT:
        """The rows ``rows`` (indices or a slice) as a new set with the same metadata."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.metadata["kind"] == METADATA:
                values[field.name] = value
            elif field.metadata["group"]:
                values[field.name] = {name: array[rows] for name, array in value.items()}
            elif value is not None:
                values[field.name] = value[rows]
        return type(self)(**values)


@dataclass(kw_only=True, eq=False)
class EventSet(Detections):
    """Background or zero-lag events of timeslides; ``Tb`` is the livetime they were found in."""

    def _years(self) -> float:
        if self.Tb <= 0:
            raise ValueError(f"{type(self).__name__} has Tb = {self.Tb} s: a FAR needs livetime")
        return self.Tb / SECONDS_PER_YEAR

    def counts(self, threshold: np.ndarray | float) -> np.ndarray:
        """Events with statistic >= each threshold."""
        ascending = np.sort(self.detection_statistic)
        return len(ascending) - np.searchsorted(ascending, np.asarray(threshold, dtype=np.float64), side="left")

    def far(self, threshold: np.ndarray | float) -> np.ndarray:
        """False alarms per year above each threshold: N(statistic >= threshold) / Tb."""
        return self.counts(threshold) / self._years()

    def significance(self, statistic: np.ndarray | float) -> np.ndarray:
        """The FAR (per year) of events with these statistics, as this background measures it."""
        return self.far(statistic)

    def threshold_at_far(self, far_per_year: np.ndarray | float) -> np.ndarray:
        """The lowest threshold whose FAR is at most each ``far_per_year`` (vectorised).

        A FAR allows m = floor(far · Tb) background events at or above the threshold; the lowest such threshold
        lies just above the (m+1)-th loudest event (``-inf`` when m covers every event), so ties never let more in.
        """
        fars = np.asarray(far_per_year, dtype=np.float64)
        if np.any(fars < 0) or np.any(np.isnan(fars)):
            raise ValueError(f"FARs must be >= 0, got {far_per_year}")
        descending = np.sort(self.detection_statistic)[::-1]
        allowed = np.minimum(np.floor(self._years() * fars * (1 + COUNT_RTOL)), len(descending)).astype(np.int64)
        above = np.nextafter(np.append(descending, -np.inf)[allowed], np.inf)
        return np.where(allowed >= len(descending), -np.inf, above)

    def sorted(self) -> EventSet:
        """The rows by statistic, loudest first (ties by time, so the order is deterministic)."""
        return self.take(np.lexsort((self.detection_time, -self.detection_statistic)))


@dataclass(kw_only=True, eq=False)
class RecoveredInjectionSet(Detections):
    """The foreground: one row per accepted injection, with the loudest event near it and its source parameters."""

    injection_time: np.ndarray = parameter(dtype=np.float64, doc="GPS time of coalescence")
    snr: np.ndarray = parameter(dtype=np.float64, doc="network SNR")
    parameters: dict[str, np.ndarray] = parameter(group=True, doc="source parameters from the ResponseSet")
    vetoed_injections: int | None = metadata(int, optional=True, doc="accepted injections at moments aggregate's "
                                                                     "vetoes removed, left out; absent: no vetoes")


@dataclass(frozen=True)
class BranchRecord:
    """One branch an infer node analysed: ``label`` "T0-DURATION:SHIFT", its livetime and accepted injections.

    ``background`` marks the shifted branches whose livetime the plan counts toward Tb (shifts analysed only for
    their injections are not background); shift 0 is the zero-lag.
    """

    label: str
    shift: int
    livetime: float
    background: bool
    injections: int

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("a branch needs a label")
        if self.background and self.shift == 0:
            raise ValueError(f"branch {self.label}: shift 0 is zero-lag, never background")
        if not (math.isfinite(self.livetime) and self.livetime >= 0) or self.injections < 0:
            raise ValueError(f"branch {self.label}: livetime {self.livetime} and injections {self.injections} "
                             "must be >= 0")


BRANCH_DTYPE = np.dtype([("label", h5py.string_dtype()), ("shift", np.int64), ("livetime", np.float64),
                         ("background", np.bool_), ("injections", np.int64)])


@dataclass
class NodeEvents:
    """What one infer node found: its branches and the three event sets."""

    branches: list[BranchRecord]
    background: EventSet
    zero_lag: EventSet
    foreground: RecoveredInjectionSet

    def background_livetime(self) -> float:
        """Seconds of the background branches (shifted branches the plan counts toward Tb)."""
        return math.fsum(branch.livetime for branch in self.branches if branch.background)

    def zero_lag_livetime(self) -> float:
        """Seconds of the unshifted branches."""
        return math.fsum(branch.livetime for branch in self.branches if branch.shift == 0)

    def check(self) -> None:
        """The sets agree with the branches: Tb of each set = its branches' livetime, foreground rows = injections."""
        labels = [branch.label for branch in self.branches]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"branch {repeated[0]} is listed {labels.count(repeated[0])} times")
        for name, livetime in (("background", self.background_livetime()), ("zero_lag", self.zero_lag_livetime())):
            Tb = getattr(self, name).Tb
            if not math.isclose(Tb, livetime, rel_tol=COUNT_RTOL, abs_tol=COUNT_RTOL):
                raise ValueError(f"{NODE_GROUPS[name]} Tb {Tb} s differs from its branches' livetime {livetime} s")
        injections = sum(branch.injections for branch in self.branches)
        if len(self.foreground) != injections:
            raise ValueError(f"foreground has {len(self.foreground)} rows, the branches analysed {injections} "
                             "accepted injections")
        for name in ("zero_lag", "foreground"):
            if getattr(self, name).ifos != self.background.ifos:
                raise ValueError(f"{NODE_GROUPS[name]} ifos {getattr(self, name).ifos} differ from background "
                                 f"ifos {self.background.ifos}")


def joined(cls: type[DetectionsT], sets: Sequence[DetectionsT], ifos: Sequence[str]) -> DetectionsT:
    """The sets' rows in order (Tb summed), or an empty set with Tb 0: one node's events of one kind."""
    return cls.concatenate(list(sets)) if sets else cls.empty(ifos)


# -- one ledger set inside a group of an HDF5 file ------------------------------------------------------------------


@contextmanager
def _within(path: PathLike, prefix: str) -> Iterator[None]:
    """Re-raise an ``InputError`` about a group of ``path`` with the group's name before the dataset's."""
    try:
        yield
    except InputError as exc:
        field = prefix if exc.field is None else f"{prefix}/{exc.field}"
        raise InputError(path, field, exc.message) from None


def _read_set(path: PathLike, handle: h5py.File, name: str, cls: type[DetectionsT]) -> DetectionsT:
    group = handle.get(name)
    if not isinstance(group, h5py.Group):
        raise InputError(path, name, "group missing")
    with _within(path, name):
        return cls.read_from(path, group)


# -- per-node files --------------------------------------------------------------------------------------------------


def write_node_events(path: PathLike, branches: Sequence[BranchRecord], background: EventSet, zero_lag: EventSet,
                      foreground: RecoveredInjectionSet) -> Path:
    """Write one infer node's events file atomically (checked with ``NodeEvents.check`` first); return the path."""
    events = NodeEvents(list(branches), background, zero_lag, foreground)
    events.check()
    table = np.array([dataclasses.astuple(branch) for branch in events.branches], dtype=BRANCH_DTYPE)
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        create_dataset(handle, BRANCHES, data=table)
        for field, name in NODE_GROUPS.items():
            getattr(events, field).write_to(handle.create_group(name))
    return Path(path)


def _read_branches(path: PathLike, handle: h5py.File) -> list[BranchRecord]:
    dataset = handle.get(BRANCHES)
    if not isinstance(dataset, h5py.Dataset) or dataset.dtype.names is None:
        raise InputError(path, BRANCHES, "branch table missing")
    missing = [name for name in BRANCH_DTYPE.names if name not in dataset.dtype.names]
    if missing:
        raise InputError(path, BRANCHES, f"columns {missing} missing")
    table = read(path, dataset)
    branches = []
    for row in table:
        label = row["label"]
        try:
            branches.append(BranchRecord(label.decode() if isinstance(label, bytes) else str(label), int(row["shift"]),
                                         float(row["livetime"]), bool(row["background"]), int(row["injections"])))
        except ValueError as exc:
            raise InputError(path, BRANCHES, str(exc)) from None
    return branches


def read_node_events(path: PathLike) -> NodeEvents:
    """Read and check one infer node's events file; anything wrong is an ``InputError`` naming file and dataset."""
    with open_hdf5(path) as handle:
        events = NodeEvents(_read_branches(path, handle), _read_set(path, handle, "background", EventSet),
                            _read_set(path, handle, "zero-lag", EventSet),
                            _read_set(path, handle, "foreground", RecoveredInjectionSet))
    try:
        events.check()
    except ValueError as exc:
        raise InputError(path, None, str(exc)) from None
    return events

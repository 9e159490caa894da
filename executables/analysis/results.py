"""What the run found, read from its results files: each input loads on its own, and one that is missing or unreadable
is recorded (file and why) instead of stopping the report.

The files and their layout are the analysis contract: ``background.hdf5``, ``zero-lag.hdf5`` (``EventSet``),
``foreground.hdf5`` (``RecoveredInjectionSet``) and ``sensitive_volume.h5`` in the results dir (and the same three
but zero-lag in ``reference/`` when the run has the matched-filter reference: its DAG has reference nodes, or the
directory is there), the accepted injections (``ResponseSet``) in the test data dir, ``training.png`` /
``metrics.csv`` in the train run dir. The
report draws the sensitivity figures from ``sensitive_volume.h5`` itself rather than embedding aframe-sv's PNGs: it
knows the background's source (``datasource``), which they cannot say.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from executables.analysis.efficiency import Comparison, compare
from executables.analysis.far import far_bounds, livetime_for
from executables.common import storage
from executables.common.errors import InputError, NodeError
from executables.common.hdf5 import open_hdf5, read
from executables.formats.events import SECONDS_PER_YEAR, EventSet, RecoveredInjectionSet
from executables.formats.sets import ResponseSet

log = logging.getLogger(__name__)

#: FARs the headline numbers are quoted at, per year (a month is 30 days, as in aframe's plots).
HEADLINE_FARS = {"1/month": SECONDS_PER_YEAR / (30 * 86400.0), "1/yr": 1.0}
SV_ARRAYS = ("sv", "sv_err", "distance", "distance_err")
#: The subdirectory of the results dir the matched-filter reference writes its results into.
REFERENCE_DIR = "reference"

T = TypeVar("T")


@dataclass
class Problem:
    """An input the report could not use: which file, what it is for, why, and which node writes it."""

    path: str
    what: str
    reason: str
    producer: str | None = None


@dataclass
class SensitiveVolume:
    """``sensitive_volume.h5``: SV and distance (with errors) against FAR for each mass population, with the
    population's attributes (``mass_1``, ``mass_2`` and, where recorded, ``support_fraction``)."""

    fars: np.ndarray
    populations: dict[str, dict[str, np.ndarray]]
    attrs: dict[str, float]
    population_attrs: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def lowest_far(self) -> float | None:
        """The smallest positive FAR of the grid (1 / Tb when the grid reaches down to it); None for an empty grid."""
        positive = self.fars[self.fars > 0]
        return float(positive.min()) if positive.size else None

    def at_far(self, far: float) -> dict[str, dict[str, float]] | None:
        """Each population's SV and distance at ``far`` (per year), interpolated in log FAR; None off the grid."""
        positive = self.fars > 0
        fars = self.fars[positive]
        if not fars.size or not fars.min() <= far <= fars.max():
            return None
        order = np.argsort(fars)
        x = np.log(fars[order])
        return {name: {key: float(np.interp(np.log(far), x, values[key][positive][order])) for key in SV_ARRAYS}
                for name, values in self.populations.items()}


@dataclass
class Reference:
    """The matched-filter reference's results (``reference/``), read as the network's; ``None``: not available."""

    background: EventSet | None = None
    foreground: dict[str, np.ndarray] | None = None
    sensitive_volume: SensitiveVolume | None = None


@dataclass
class Results:
    """Everything read from the results; a ``None`` field was not available (see ``problems``); ``reference`` is None
    when the run has no matched-filter reference."""

    background: EventSet | None = None
    zero_lag: EventSet | None = None
    foreground: dict[str, np.ndarray] | None = None
    vetoed_injections: int | None = None  # accepted injections the vetoes left out (None: no vetoes)
    injections: dict[str, int] | None = None
    sensitive_volume: SensitiveVolume | None = None
    training_png: bytes | None = None
    metrics: list[dict[str, str]] | None = None
    reference: Reference | None = None
    problems: list[Problem] = field(default_factory=list)

    @cached_property
    def comparison(self) -> Comparison | None:
        """The efficiency at the common FAR of the network and, when read, the matched filter (None without the
        network's background and foreground)."""
        if self.background is None or self.foreground is None:
            return None
        reference = self.reference
        read = reference is not None and reference.background is not None and reference.foreground is not None
        return compare((self.background, self.foreground), (reference.background, reference.foreground) if read
                       else None)

    def comparison_distances(self) -> dict[str, dict[str, float]] | None:
        """Per population, the sensitive distance (Mpc, with errors) of the network and the matched filter at the
        common FAR and their ratio; None where either volume, or the FAR, is not there."""
        comparison, reference = self.comparison, self.reference
        if comparison is None or comparison.far.far is None or reference is None:
            return None
        volumes = (self.sensitive_volume, reference.sensitive_volume)
        if None in volumes:
            return None
        network, matched = (volume.at_far(comparison.far.far) for volume in volumes)
        if network is None or matched is None:
            return None
        return {name: {"network": values["distance"], "network_err": values["distance_err"],
                       "reference": matched[name]["distance"], "reference_err": matched[name]["distance_err"],
                       "ratio": values["distance"] / matched[name]["distance"] if matched[name]["distance"] else None}
                for name, values in network.items() if name in matched}

    def headline(self) -> dict[str, Any]:
        """The numbers summary.json leads with (only those whose inputs were read)."""
        numbers: dict[str, Any] = {}
        if self.background is not None:
            numbers.update(Tb=self.background.Tb, Tb_years=self.background.Tb / SECONDS_PER_YEAR,
                           background_events=len(self.background))
        elif self.sensitive_volume is not None and "Tb" in self.sensitive_volume.attrs:
            numbers.update(Tb=self.sensitive_volume.attrs["Tb"],
                           Tb_years=self.sensitive_volume.attrs["Tb"] / SECONDS_PER_YEAR)
        if self.zero_lag is not None:
            numbers.update(zero_lag_events=len(self.zero_lag), zero_lag_Tb=self.zero_lag.Tb)
        if self.injections is not None:
            numbers.update(accepted_injections=self.injections["accepted"],
                           injection_draws=self.injections["draws"])
        if self.foreground is not None:
            numbers["recovered_injections"] = len(self.foreground["snr"])
        if self.background is not None and self.background.vetoed is not None:
            numbers["vetoed"] = self.background.vetoed
        if self.vetoed_injections is not None:
            numbers["vetoed_injections"] = self.vetoed_injections
        if "Tb" in numbers:
            numbers["Tb_needed"] = {label: livetime_for(far) for label, far in HEADLINE_FARS.items()}
        if self.sensitive_volume is not None:
            volume = self.sensitive_volume
            numbers["sensitive_volume"] = {label: {"far": far, "populations": volume.at_far(far)}
                                           for label, far in HEADLINE_FARS.items()}
            lowest = volume.lowest_far
            numbers["lowest_far"] = {"far": lowest, "populations": None if lowest is None else volume.at_far(lowest)}
            numbers["V0"] = volume.attrs.get("V0")
        if self.comparison is not None:
            numbers.update(self.comparison.headline())
            numbers["comparison_distance"] = self.comparison_distances()
        return numbers

    def zero_lag_table(self) -> list[tuple[float, float, float, bool]]:
        """Zero-lag events, loudest first, as (GPS time, statistic, FAR per year against the background, whether
        that FAR is an upper limit: louder than every background event); NaN FARs without a background."""
        if self.zero_lag is None:
            return []
        events = self.zero_lag.sorted()
        if self.background is not None and self.background.Tb > 0:
            fars, upper_limits = far_bounds(self.background.significance(events.detection_statistic),
                                            self.background.Tb)
        else:
            fars, upper_limits = np.full(len(events), np.nan), np.zeros(len(events), dtype=bool)
        return list(zip(events.detection_time.tolist(), events.detection_statistic.tolist(), fars.tolist(),
                        upper_limits.tolist(), strict=True))


def write_zero_lag_csv(rows: list[tuple[float, float, float, bool]], handle: io.TextIOBase) -> None:
    """The unblinded zero-lag table: one line per event, loudest first (``far_upper_limit``: the FAR is only known to
    lie below ``far_per_year``, 1 / Tb)."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["time", "detection_statistic", "far_per_year", "far_upper_limit"])
    writer.writerows((f"{time:.6f}", repr(statistic), repr(far), upper) for time, statistic, far, upper in rows)


# -- readers --------------------------------------------------------------------------------------------------------


def _foreground(path: Path) -> dict[str, np.ndarray]:
    return RecoveredInjectionSet.read_parameters(path, ["snr", "detection_statistic", "injection_time", "mass_1",
                                                        "mass_2"])


def _vetoed_injections(path: Path) -> int | None:
    return RecoveredInjectionSet.read(path, slice(0, 0)).vetoed_injections


def _injections(path: Path) -> dict[str, int]:
    accepted = ResponseSet.length(path)
    draws = ResponseSet.read(path, slice(0, 0)).num_injections
    return {"accepted": accepted, "draws": int(draws)}


def _dataset(path: Path, handle: h5py.Group, name: str) -> np.ndarray:
    item = handle.get(name)
    if not isinstance(item, h5py.Dataset):
        raise InputError(path, name, "dataset missing")
    return np.asarray(read(path, item), dtype=np.float64)


def _sensitive_volume(path: Path) -> SensitiveVolume:
    with open_hdf5(path) as handle:
        fars = _dataset(path, handle, "fars")
        group = handle.get("populations")
        if not isinstance(group, h5py.Group) or not len(group):
            raise InputError(path, "populations", "group missing or empty")
        populations, population_attrs = {}, {}
        for name in _population_order(handle.attrs.get("populations"), list(group)):
            populations[name] = {key: _dataset(path, handle, f"populations/{name}/{key}") for key in SV_ARRAYS}
            for key, values in populations[name].items():
                if values.shape != fars.shape:
                    raise InputError(path, f"populations/{name}/{key}",
                                     f"has shape {values.shape}, fars has {fars.shape}")
            population_attrs[name] = _attrs(path, group[name], f"populations/{name}", ("mass_1", "mass_2"),
                                            ("support_fraction",))
        attrs = _attrs(path, handle, "", (), ("Tb", "V0", "num_injections", "num_accepted"))
    return SensitiveVolume(fars, populations, attrs, population_attrs)


def _population_order(recorded, names: list[str]) -> list[str]:
    """The groups in the order aframe-sv was given them (its ``populations`` attribute), else HDF5's."""
    order = [str(name) for name in recorded] if recorded is not None else []
    return order if sorted(order) == sorted(names) else names


def _attrs(path: Path, item: h5py.Group, name: str, required: tuple[str, ...],
           optional: tuple[str, ...]) -> dict[str, float]:
    """Numeric attributes of ``item``: every ``required`` one (a missing one names the file and group), and those of
    ``optional`` that it has."""
    for key in required:
        if key not in item.attrs:
            raise InputError(path, f"{name}.attrs[{key}]", "attribute missing")
    return {key: float(item.attrs[key]) for key in (*required, *optional) if key in item.attrs}


def _metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "epoch" not in rows[0]:
        raise InputError(path, "epoch", "no rows with an epoch column")
    return rows


def _load(results: Results, path: str | Path, what: str, producer: str | None, reader: Callable[[Path], T],
          scratch: Path, record: bool = True) -> T | None:
    """``reader(path)``, or None with the problem recorded (a missing file, or one the reader rejects) when
    ``record``."""
    try:
        if storage.is_remote(path):
            if not storage.exists(path):
                raise FileNotFoundError(path)
            return reader(storage.local_copy(path, scratch))
        if not Path(path).exists():
            raise FileNotFoundError(path)
        return reader(Path(path))
    except FileNotFoundError:
        problem = Problem(str(path), what, "missing", producer)
    except (NodeError, OSError, ValueError, KeyError) as exc:  # InputError, or a TransientError from S3
        log.warning("%s (%s) cannot be used: %s", path, what, exc)
        problem = Problem(str(path), what, f"unreadable: {exc}", producer)
    if record:
        results.problems.append(problem)
    return None


def read_results(results_dir: Path, train_run_dir: str, injections: str,
                 producers: Callable[[str], str | None]) -> Results:
    """Read every input the report shows; ``producers(kind)`` names the DAG node that writes each kind of file."""
    results = Results()
    with tempfile.TemporaryDirectory(prefix="aframe-summary-") as scratch:
        def load(path, what, kind, reader, record=True):
            return _load(results, path, what, producers(kind), reader, Path(scratch), record)

        results.background = load(results_dir / "background.hdf5", "background events", "events", EventSet.read)
        results.zero_lag = load(results_dir / "zero-lag.hdf5", "zero-lag events", "events", EventSet.read)
        results.foreground = load(results_dir / "foreground.hdf5", "recovered injections", "events", _foreground)
        if results.foreground is not None:
            results.vetoed_injections = load(results_dir / "foreground.hdf5", "recovered injections", "events",
                                             _vetoed_injections)
        results.injections = load(injections, "accepted injections", "injections", _injections)
        results.sensitive_volume = load(results_dir / "sensitive_volume.h5", "sensitive volume", "sv",
                                        _sensitive_volume)
        if producers("reference-events") is not None or (results_dir / REFERENCE_DIR).is_dir():
            results.reference = _read_reference(results_dir / REFERENCE_DIR, load)
        results.training_png = load(storage.join(train_run_dir, "training.png"), "training curve", "train",
                                     Path.read_bytes, False)
        if results.training_png is None:  # no plot: draw one from the metrics, or say that both are missing
            results.metrics = load(storage.join(train_run_dir, "metrics.csv"), "training curve", "train", _metrics)
    return results


def _read_reference(directory: Path, load: Callable) -> Reference:
    """The matched-filter reference's background, recovered injections and sensitive volume (each missing one a
    problem, as the network's)."""
    return Reference(
        background=load(directory / "background.hdf5", "matched-filter background events", "reference-events",
                        EventSet.read),
        foreground=load(directory / "foreground.hdf5", "matched-filter recovered injections", "reference-events",
                        _foreground),
        sensitive_volume=load(directory / "sensitive_volume.h5", "matched-filter sensitive volume", "reference-sv",
                              _sensitive_volume))

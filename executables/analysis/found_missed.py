"""The found-missed table: every accepted injection with its source parameters, SNR, statistic and FAR.

One row per foreground row, the same columns in both files: ``injection_time``, the source parameters in
``priors.PARAMETERS`` order then any other stored ones (``h1_snr``, ...), ``snr``, ``detection_statistic``,
``detection_time``, ``far`` (per year, the background's ``significance`` of the statistic), ``far_upper_limit``
(bool: true where the injection is louder than every background event, whose FAR is then only known to lie below
1 / Tb, the value ``far`` gives) and ``shift_<ifo>`` (seconds). The CSV has a header row and full-precision numbers
(``True``/``False`` for the bool); the HDF5 file holds one 1-D dataset per column and the column order in the root
attribute ``columns``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np

from executables.analysis.far import far_bounds
from executables.common.atomic import atomic_file, atomic_path
from executables.common.hdf5 import create_dataset
from executables.formats.events import EventSet, RecoveredInjectionSet
from executables.sources.priors import PARAMETERS


def columns(foreground: RecoveredInjectionSet, background: EventSet) -> dict[str, np.ndarray]:
    """The table's columns in order (see the module doc)."""
    stored = foreground.parameters
    ordered = [name for name in PARAMETERS if name in stored] + sorted(set(stored) - set(PARAMETERS))
    table = {"injection_time": foreground.injection_time}
    table.update((name, stored[name]) for name in ordered)
    far, upper_limit = far_bounds(background.significance(foreground.detection_statistic), background.Tb)
    table.update(snr=foreground.snr, detection_statistic=foreground.detection_statistic,
                 detection_time=foreground.detection_time, far=far, far_upper_limit=upper_limit)
    table.update((f"shift_{ifo.lower()}", foreground.shift[:, index]) for index, ifo in enumerate(foreground.ifos))
    return {name: np.asarray(values) for name, values in table.items()}


def write_csv(path: Path, table: dict[str, np.ndarray]) -> Path:
    """The table as CSV, atomically."""
    names = list(table)
    rows = zip(*(table[name].tolist() for name in names), strict=True)
    with atomic_file(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
    return Path(path)


def write_hdf5(path: Path, table: dict[str, np.ndarray], attrs: dict[str, object]) -> Path:
    """The table as HDF5 (one dataset per column, ``columns`` attribute for the order), atomically."""
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        for name, values in table.items():
            create_dataset(handle, name, data=values)
        handle.attrs["columns"] = list(table)
        for name, value in attrs.items():
            handle.attrs[name] = value
    return Path(path)

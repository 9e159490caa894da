"""The GWTC-3 search pipelines' sensitive volumes, the comparison lines of the SV plots.

Source: the ``catalog_results`` table of ML4GW/aframe, ``projects/plots/plots/core/gwtc3.py`` (also
``projects/plots/plots/vizapp/pages/summary/gwtc3.py``): VT in Gpc³·yr of GstLAL, PyCBC-BBH, cWB and MBTA for the
log-normal populations (35, 35), (35, 20), (20, 20), (20, 10) and (1.5, 1.5) Msun over Tb = 149.3747 days, which
aframe attributes to GWTC-3 and draws as horizontal lines. That livetime is the O3b injection campaign's
(``endo3_mixture``, GPS 1256655642 + 12905976 s, the file aframe's same module reads): the numbers were measured on
real O3b LIGO-Virgo data. aframe's file records neither the FAR threshold nor the exact table of the GWTC-3 paper
they come from, so neither is claimed here: the figures say that the threshold is not recorded. aframe turns VT
into V with V = VT · 365 / Tb[days]; here a year is 365.25 days (as every FAR in this package), 0.07 % apart.
A zero in the table (PyCBC-BBH and cWB at 1.5 + 1.5 Msun, outside those searches) is kept out of the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # aframe-sv draws the lines without knowing the run's data source
    from executables.analysis.datasource import DataSource

#: Days in the year FARs and VTs are quoted per.
DAYS_PER_YEAR = 365.25
#: The data the pipelines' volumes were measured on (see the module doc).
DATA_SET = "O3b real data"


@dataclass(frozen=True)
class Pipeline:
    """One GWTC-3 pipeline's VT (Gpc³·yr) per (m1, m2) population over ``livetime_days``, and its line style."""

    name: str
    livetime_days: float
    vt: dict[tuple[float, float], float]
    linestyle: tuple[int, tuple[int, ...]] | str

    def volume(self, mass_1: float, mass_2: float) -> float | None:
        """SV in Gpc³ for a population, or ``None`` when the table has no (non-zero) entry for it."""
        vt = self.vt.get((float(mass_1), float(mass_2)))
        if not vt:
            return None
        return vt * DAYS_PER_YEAR / self.livetime_days


LIVETIME_DAYS = 149.3747

PIPELINES = (
    Pipeline("GstLAL", LIVETIME_DAYS,
             {(35.0, 35.0): 4.1, (35.0, 20.0): 2.3, (20.0, 20.0): 1.34, (20.0, 10.0): 0.6, (1.5, 1.5): 2.7e-3},
             (0, (2, 2))),
    Pipeline("PyCBC-BBH", LIVETIME_DAYS,
             {(35.0, 35.0): 4.3, (35.0, 20.0): 2.5, (20.0, 20.0): 1.42, (20.0, 10.0): 0.65, (1.5, 1.5): 0.0},
             (0, (2, 4))),
    Pipeline("cWB", LIVETIME_DAYS,
             {(35.0, 35.0): 2.6, (35.0, 20.0): 1.35, (20.0, 20.0): 0.56, (20.0, 10.0): 0.24, (1.5, 1.5): 0.0},
             (0, (4, 2))),
    Pipeline("MBTA", LIVETIME_DAYS,
             {(35.0, 35.0): 3.3, (35.0, 20.0): 1.8, (20.0, 20.0): 1.1, (20.0, 10.0): 0.51, (1.5, 1.5): 3.4e-3},
             "dashdot"),
)


def comparison_volumes(mass_1: float, mass_2: float) -> dict[str, float]:
    """{pipeline: SV in Gpc³} of the GWTC-3 pipelines with an entry for this population (may be empty)."""
    volumes = {pipeline.name: pipeline.volume(mass_1, mass_2) for pipeline in PIPELINES}
    return {name: volume for name, volume in volumes.items() if volume is not None}


def label(pipeline: Pipeline) -> str:
    """A pipeline's legend entry: its name and the data its volume was measured on."""
    return f"{pipeline.name} (GWTC-3, {DATA_SET})"


def comparison_note(data: DataSource | None) -> str:
    """What the GWTC-3 lines are and whether this run's curve may be held against them (``data``: its background;
    None when the drawing program does not know it)."""
    note = (f"GWTC-3 lines: each pipeline's sensitive volume on LIGO-Virgo {DATA_SET} ({LIVETIME_DAYS:.1f} days), "
            "drawn flat: their FAR threshold is not recorded in the table they come from.")
    if data is None or data.source is None:
        return note + " Comparable only with a curve measured on real data."
    if data.simulated:
        return note + f" NOT COMPARABLE with this curve: this run's background is {data.describe()}."
    return note + f" This run's background is {data.describe()}: other data, other FAR threshold; compare with care."

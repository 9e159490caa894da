"""The GWTC-3 search pipelines' sensitive volumes, the comparison lines of the SV plots.

Source: the ``catalog_results`` table of ML4GW/aframe, ``projects/plots/plots/core/gwtc3.py`` (also
``projects/plots/plots/vizapp/pages/summary/gwtc3.py``): VT in Gpc³·yr of GstLAL, PyCBC-BBH, cWB and MBTA for the
log-normal populations (35, 35), (35, 20), (20, 20), (20, 10) and (1.5, 1.5) Msun over Tb = 149.3747 days, which
aframe attributes to GWTC-3 and draws as horizontal lines. aframe's file records neither the FAR threshold nor the
exact table of the GWTC-3 paper they come from, so neither is claimed here. aframe turns VT into V with
V = VT · 365 / Tb[days]; here a year is 365.25 days (as every FAR in this package), 0.07 % apart.
A zero in the table (PyCBC-BBH and cWB at 1.5 + 1.5 Msun, outside those searches) is kept out of the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Days in the year FARs and VTs are quoted per.
DAYS_PER_YEAR = 365.25


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

"""The report's figures, drawn with matplotlib's object API (Agg, no pyplot state) and returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from executables.formats.events import SECONDS_PER_YEAR, EventSet

#: Points of the FAR curve drawn (log-spaced in rank), however many background events there are.
CURVE_POINTS = 2000
#: Colour map of FARs: the more significant, the darker.
FAR_COLOURS = "viridis"


def png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (laid out tightly unless it has a layout engine of its own)."""
    buffer = io.BytesIO()
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def background_figure(background: EventSet, fars: dict[str, float]) -> bytes:
    """Histogram of the background statistic, and FAR against threshold with the headline FARs marked."""
    figure = Figure(figsize=(10, 4))
    histogram, curve = figure.subplots(1, 2)
    statistics = np.sort(background.detection_statistic)[::-1]
    histogram.hist(statistics, bins=min(100, max(10, len(statistics) // 20)), histtype="step", log=True)
    histogram.set(xlabel="detection statistic", ylabel="background events",
                  title=f"{len(statistics)} events in {background.Tb / SECONDS_PER_YEAR:.3g} yr")
    if len(statistics) and background.Tb > 0:
        ranks = np.unique(np.geomspace(1, len(statistics), min(CURVE_POINTS, len(statistics))).astype(int))
        curve.step(statistics[ranks - 1], background.far(statistics[ranks - 1]), where="post")
        curve.set_yscale("log")
        for label, far in fars.items():
            curve.axhline(far, color="grey", ls="--", lw=0.8)
            curve.annotate(f"FAR {label}", (curve.get_xlim()[0], far), fontsize=8, va="bottom")
    curve.set(xlabel="detection statistic threshold", ylabel="false alarms per year", title="false-alarm rate")
    return png(figure)


def chirp_mass(mass_1: np.ndarray, mass_2: np.ndarray) -> np.ndarray:
    """Chirp mass of component masses (same frame as the inputs)."""
    return (mass_1 * mass_2) ** 0.6 / (mass_1 + mass_2) ** 0.2


def found_missed_figure(snr: np.ndarray, mass: np.ndarray, far: np.ndarray, upper_limit: np.ndarray,
                        found_at: float, floor: float) -> bytes:
    """Network SNR against chirp mass for every accepted injection, each coloured by its FAR (per year): found ones
    (FAR at most ``found_at``) as dots, those louder than every background event (FAR only known to lie below
    ``floor`` = 1 / Tb, coloured at it) as triangles, missed ones as crosses."""
    figure = Figure(figsize=(7, 5))
    axes = figure.subplots()
    norm = LogNorm(vmin=floor, vmax=max(float(far.max(initial=floor)), 10 * floor))
    missed = far > found_at
    kinds = ((~missed & ~upper_limit, "o", f"found: FAR ≤ {found_at:.4g}/yr"),
             (upper_limit, "v", f"found: FAR < 1/Tb = {floor:.4g}/yr (upper limit: louder than all background)"),
             (missed, "x", f"missed: FAR > {found_at:.4g}/yr"))
    for selected, marker, label in kinds:
        axes.scatter(mass[selected], snr[selected], c=far[selected], marker=marker, s=14, cmap=FAR_COLOURS,
                     norm=norm, label=f"{label} ({selected.sum()})")
    figure.colorbar(ScalarMappable(norm=norm, cmap=FAR_COLOURS), ax=axes, label="FAR (per year)")
    axes.set(xlabel="detector-frame chirp mass (Msun)", ylabel="network SNR", yscale="log",
             title=f"{(~missed).sum()} found, {missed.sum()} missed of {len(snr)} accepted injections")
    axes.legend(loc="upper left", fontsize=8)
    return png(figure)


def training_figure(rows: list[dict[str, str]]) -> bytes:
    """Validation score per epoch from metrics.csv (used when training.png is missing)."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    scored = [row for row in rows if row.get("valid_auroc") not in (None, "")]
    axes.plot([float(row["epoch"]) for row in scored], [float(row["valid_auroc"]) for row in scored], marker="o")
    axes.set(xlabel="epoch", ylabel="partial AUROC", title="validation")
    return png(figure)

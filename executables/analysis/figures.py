"""The report's figures, drawn with matplotlib's object API (Agg, no pyplot state) and returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from executables.infer.events import SECONDS_PER_YEAR, EventSet

#: Points of the FAR curve drawn (log-spaced in rank), however many background events there are.
CURVE_POINTS = 2000


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
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


def found_missed_figure(snr: np.ndarray, mass: np.ndarray, far: np.ndarray, missed_above: float,
                        floor: float) -> bytes:
    """Network SNR against chirp mass for every accepted injection, coloured by FAR (a FAR of 0 drawn at ``floor``,
    the background's resolution); missed ones (FAR above ``missed_above``) drawn as grey crosses."""
    figure = Figure(figsize=(7, 5))
    axes = figure.subplots()
    missed = far > missed_above
    axes.scatter(mass[missed], snr[missed], marker="x", c="grey", s=12, label=f"missed (FAR > {missed_above:.3g}/yr)")
    found = ~missed
    if found.any():
        norm = LogNorm(vmin=floor, vmax=max(missed_above, 10 * floor))
        points = axes.scatter(mass[found], snr[found], c=np.maximum(far[found], floor), s=12, cmap="viridis_r",
                              norm=norm, label="found")
        figure.colorbar(points, ax=axes, label="FAR (per year)")
    axes.set(xlabel="detector-frame chirp mass (Msun)", ylabel="network SNR", yscale="log",
             title=f"{found.sum()} found, {missed.sum()} missed of {len(snr)} accepted injections")
    axes.legend(loc="upper left", fontsize=8)
    return png(figure)


def sensitivity_figure(fars: np.ndarray, populations: dict[str, dict[str, np.ndarray]], key: str,
                       label: str) -> bytes:
    """``key`` (sv or distance) against FAR for each population, with its one-sigma band (a redraw of what
    aframe-sv plots, used when its PNG is missing)."""
    figure = Figure(figsize=(7, 5))
    axes = figure.subplots()
    order = np.argsort(fars)
    for name, values in populations.items():
        value, error = values[key][order], values[f"{key}_err"][order]
        axes.plot(fars[order], value, label=name.replace("-", "/") + " Msun")
        axes.fill_between(fars[order], value - error, value + error, alpha=0.3)
    axes.set(xscale="log", xlabel="false alarms per year", ylabel=label)
    axes.legend(fontsize=8)
    return png(figure)


def training_figure(rows: list[dict[str, str]]) -> bytes:
    """Validation score per epoch from metrics.csv (used when training.png is missing)."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    scored = [row for row in rows if row.get("valid_auroc") not in (None, "")]
    axes.plot([float(row["epoch"]) for row in scored], [float(row["valid_auroc"]) for row in scored], marker="o")
    axes.set(xlabel="epoch", ylabel="partial AUROC", title="validation")
    return png(figure)

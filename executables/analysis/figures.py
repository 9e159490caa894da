"""The report's figures, drawn with matplotlib's object API (Agg, no pyplot state) and returned as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from executables.analysis.efficiency import Comparison, ComparisonFar
from executables.analysis.results import SensitiveVolume
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


#: How each search is drawn in the comparison figure: line style and, in the efficiency panel, colour and marker.
SEARCH_STYLES = {"network": ("-", "black", "o"), "matched filter": ("--", "tab:red", "s")}


def comparison_figure(comparison: Comparison, volumes: Sequence[tuple[str, SensitiveVolume | None]]) -> bytes:
    """Left, sensitive distance against FAR for each search (line style) and population (colour) with ±1σ bands and
    the common FAR marked; right, each search's efficiency against optimal network SNR at that FAR (binned, with
    binomial intervals, and the logistic fit) with its 50 % SNR marked."""
    figure = Figure(figsize=(13, 6), layout="constrained")
    distance, efficiency = figure.subplots(1, 2)
    _distance_panel(distance, volumes, comparison.far)
    _efficiency_panel(efficiency, comparison)
    if comparison.ratio is not None:
        figure.suptitle(f"50 %-efficiency SNR, network / matched filter: {comparison.ratio:.3g} ± "
                        f"{comparison.ratio_err:.2g} at FAR {comparison.far.label} = {comparison.far.far:.4g}/yr")
    return png(figure)


def _distance_panel(axes, volumes: Sequence[tuple[str, SensitiveVolume | None]], far: ComparisonFar) -> None:
    handles = []
    for name, volume in volumes:
        if volume is None:
            continue
        style = SEARCH_STYLES[name][0]
        positive = volume.fars > 0
        fars = volume.fars[positive]
        for index, (population, values) in enumerate(volume.populations.items()):
            colour = f"C{index}"
            value, error = values["distance"][positive], values["distance_err"][positive]
            axes.fill_between(fars, np.maximum(value - error, 0), value + error, color=colour, alpha=0.2, linewidth=0)
            axes.plot(fars, value, color=colour, linestyle=style, linewidth=1.6)
            attrs = volume.population_attrs.get(population, {})
            if name == volumes[0][0]:
                handles.append(Line2D([], [], color=colour, label=f"{attrs.get('mass_1', 0):g}+"
                                                                  f"{attrs.get('mass_2', 0):g} M☉ ({population})"))
        handles.append(Line2D([], [], color="grey", linestyle=style, label=name))
    if far.far is not None:
        axes.axvline(far.far, color="grey", linestyle=":", linewidth=1)
        handles.append(Line2D([], [], color="grey", linestyle=":", label=f"FAR {far.label} = {far.far:.4g}/yr"))
    axes.set(xscale="log", xlabel="false-alarm rate [1/yr]", ylabel="sensitive distance [Mpc]",
             title="sensitive distance (±1σ)")
    axes.set_ylim(bottom=0)
    axes.grid(True, which="both", alpha=0.3)
    if handles:
        axes.legend(handles=handles, fontsize="small")


def _efficiency_panel(axes, comparison: Comparison) -> None:
    for search in comparison.searches:
        style, colour, marker = SEARCH_STYLES[search.name]
        fraction = np.divide(search.hits, search.total, out=np.zeros(len(search.total)), where=search.total > 0)
        axes.errorbar(search.centres, fraction, yerr=[fraction - search.low, search.high - fraction],
                      xerr=[search.centres - search.bins[:, 0], search.bins[:, 1] - search.centres], color=colour,
                      marker=marker, linestyle="none", markersize=4,
                      label=f"{search.name}, {len(search.snr)} injections (68 % binomial intervals)")
        if search.fit is None:
            continue
        grid = np.geomspace(search.snr.min(), search.snr.max(), 200)
        axes.plot(grid, search.fit.efficiency(grid), color=colour, linestyle=style, linewidth=1.4)
        error = "" if search.fit.snr50_err is None else f" ± {search.fit.snr50_err:.2g}"
        axes.axvline(search.fit.snr50, color=colour, linestyle=style, linewidth=0.8,
                     label=f"{search.name}: 50 % at SNR {search.fit.snr50:.3g}{error} (logistic fit)")
    axes.axhline(0.5, color="grey", linestyle=":", linewidth=0.8)
    axes.set(xscale="log", ylim=(-0.02, 1.05), xlabel="optimal network SNR", ylabel="fraction found",
             title=f"efficiency at FAR {comparison.far.label} = {comparison.far.far:.4g}/yr")
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.13))

"""Sensitive volume or distance against FAR, one panel per population, with the GWTC-3 lines: the PNGs of ``aframe-sv``
and the report's figures."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from executables.analysis import gwtc3
from executables.analysis.figures import png
from executables.analysis.volume import distance
from executables.common.atomic import atomic_file


@dataclass(frozen=True)
class Curve:
    """One population's curve: values and standard errors at each FAR of the grid."""

    mass_1: float
    mass_2: float
    values: np.ndarray
    errors: np.ndarray


#: Resolution of aframe-sv's PNGs.
DPI = 110
#: The legend entry of this run's curve.
AFRAME = "aframe (this run)"
#: Per number of panel columns: legend columns and the figure height (inches) added for the legend and its note.
LEGEND_LAYOUT = {1: (1, 2.2), 2: (3, 1.2)}
#: Characters per line of the legend's note, per column of panels.
NOTE_WIDTH = 60
#: How the GWTC-3 lines are drawn: (opacity, width) as the comparison, and as secondary to the matched filter.
GWTC3_LINES = {False: (1.0, 1.4), True: (0.35, 0.9)}
#: What each figure shows: y-axis label, and how a GWTC-3 volume (Gpc³) becomes the plotted quantity.
QUANTITIES = {
    "sv": ("sensitive volume [Gpc³]", lambda volume: volume),
    "distance": ("sensitive distance [Mpc]", lambda volume: float(distance(np.array([volume]), np.zeros(1))[0][0])),
}


def curves_figure(fars: np.ndarray, curves: Sequence[Curve], quantity: str, title: str, note: str,
                  secondary: bool = False) -> Figure:
    """A panel per curve against FAR (log axis) with its error band and the GWTC-3 pipeline lines, whose legend
    carries ``note`` (what the lines are, and whether they compare: ``gwtc3.comparison_note``); ``secondary`` draws
    the lines faint (the run has the matched-filter reference, the comparison that counts)."""
    label, convert = QUANTITIES[quantity]
    columns = 1 if len(curves) == 1 else 2
    rows = max(1, math.ceil(len(curves) / columns))
    legend_columns, legend_height = LEGEND_LAYOUT[columns]
    figure = Figure(figsize=(5.5 * columns, 3.8 * rows + legend_height), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat[len(curves):]:
        axis.set_visible(False)
    for axis, curve in zip(axes.flat, curves, strict=False):
        _panel(axis, np.asarray(fars), curve, convert, GWTC3_LINES[secondary])
        axis.set_ylabel(label)
    legend = {}
    for axis in axes.flat:
        for handle, text in zip(*axis.get_legend_handles_labels(), strict=True):
            legend.setdefault(text, handle)
    if legend:
        compared = set(legend) != {AFRAME}
        figure.legend(list(legend.values()), list(legend), loc="outside lower center",
                      ncols=min(len(legend), legend_columns),
                      fontsize="small", title=textwrap.fill(note, NOTE_WIDTH * columns) if compared else None,
                      title_fontsize="small")
    figure.suptitle(title)
    return figure


def plot_curves(path: Path, fars: np.ndarray, curves: Sequence[Curve], quantity: str, title: str,
                note: str) -> Path:
    """``curves_figure`` written to ``path`` as PNG, atomically."""
    with atomic_file(path, "wb") as handle:
        handle.write(png(curves_figure(fars, curves, quantity, title, note), dpi=DPI))
    return Path(path)


def _panel(axis, fars: np.ndarray, curve: Curve, convert, lines: tuple[float, float]) -> None:
    axis.set_title(f"m₁ = {curve.mass_1:g}, m₂ = {curve.mass_2:g} M☉ (source frame)", fontsize="medium")
    axis.set_xlabel("false-alarm rate [1/yr]")
    axis.grid(True, which="both", alpha=0.3)
    if fars.size == 0:
        axis.text(0.5, 0.5, "no background event within the FAR range", ha="center", va="center",
                  transform=axis.transAxes)
        return
    axis.set_xscale("log")
    lower, upper = np.maximum(curve.values - curve.errors, 0.0), curve.values + curve.errors
    axis.fill_between(fars, lower, upper, color="C0", alpha=0.3, linewidth=0)
    axis.plot(fars, curve.values, color="C0", linewidth=1.8, label=AFRAME, marker="o" if fars.size < 20 else None,
              markersize=4)
    for index, pipeline in enumerate(gwtc3.PIPELINES):
        volume = pipeline.volume(curve.mass_1, curve.mass_2)
        if volume is not None:
            axis.axhline(convert(volume), color=f"C{index + 1}", linestyle=pipeline.linestyle, alpha=lines[0],
                         linewidth=lines[1], label=gwtc3.label(pipeline))
    axis.set_ylim(bottom=0)
    if fars.size == 1:
        axis.set_xlim(fars[0] / 3, fars[0] * 3)

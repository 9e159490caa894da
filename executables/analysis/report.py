"""report.html: one self-contained page (figures embedded as base64 PNG, no scripts, no links to fetch) that shows
what a run found and, after a failure, what is missing and which node is to blame."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from aframe_dag.render import RESOLVED
from aframe_dag.status import duration
from executables.analysis import figures
from executables.analysis.results import HEADLINE_FARS, Results
from executables.analysis.runstate import RunState
from executables.infer.events import SECONDS_PER_YEAR, EventSet

#: Packages whose versions the report lists (read from their metadata: nothing is imported).
PACKAGES = ("aframe-dag", "numpy", "h5py", "matplotlib", "torch", "ml4gw", "lightning", "onnxruntime",
            "tritonclient", "gwpy", "lalsuite", "htcondor")
#: Zero-lag candidates listed in the report when unblinded (zero-lag.csv holds them all).
CANDIDATES = 20
#: Nodes listed in the timing table, longest first.
SLOWEST = 10
MISSED_AT = "1/month"


@dataclass
class Section:
    """One part of the page: notes (plain sentences), figures, an optional table and an optional text block."""

    title: str
    anchor: str
    notes: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    text: str | None = None

    def image(self, caption: str, png: bytes) -> None:
        self.images.append((caption, "data:image/png;base64," + base64.b64encode(png).decode("ascii")))


@cache
def environment() -> jinja2.Environment:
    """The report's template, HTML-escaped, with undefined names an error."""
    return jinja2.Environment(loader=jinja2.PackageLoader("executables.analysis", "templates"),
                              undefined=jinja2.StrictUndefined, autoescape=True, trim_blocks=True,
                              lstrip_blocks=True)


def _number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"


def _missing_notes(results: Results, state: RunState, whats: tuple[str, ...] | None = None) -> list[str]:
    """One sentence per problem input (those whose ``what`` is in ``whats``, or all): the file, and why."""
    return [f"Not available: {problem.what} ({problem.path}): {problem.reason}"
            + ("" if problem.reason != "missing" else f": {state.why_missing(problem.producer)}")
            for problem in results.problems if whats is None or problem.what in whats]


def _resolution_notes(background: EventSet | None) -> list[str]:
    """A sentence when the background is too short to measure the headline FARs (the smallest FAR is 1 / Tb)."""
    if background is None or background.Tb <= 0:
        return []
    smallest = SECONDS_PER_YEAR / background.Tb
    unreachable = [label for label, far in HEADLINE_FARS.items() if far < smallest]
    if not unreachable:
        return []
    return [f"With Tb = {background.Tb / SECONDS_PER_YEAR:.3g} yr the smallest measurable FAR is {smallest:.3g}/yr: "
            f"FAR {' and '.join(unreachable)} cannot be reached (more timeslides or data are needed)."]


def status_section(state: RunState, results: Results, dag_status: int, failed_count: int) -> Section:
    """Whether the DAG succeeded, every failed or held node with its reason and stderr, every input missing."""
    section = Section("Run status", "status")
    if dag_status == 0:
        section.notes.append("Every node succeeded.")
    else:
        section.notes.append(f"The DAG failed (DAG_STATUS {dag_status}, {failed_count} failed nodes): what follows "
                             "is what the finished nodes produced.")
    section.notes += _missing_notes(results, state)
    problems = state.problems
    section.header = ["node", "stage", "state", "reason", "retries"]
    section.rows = [[p["node"], p["stage"], p["status"], p["reason"], str(p["retries"])] for p in problems]
    section.text = "\n\n".join(p["why"] or "\n".join([f"{p['node']}: {p['reason']}", *p["stderr"]])
                                 for p in problems) or None
    return section


def headline_section(results: Results) -> Section:
    """Livetime, event and injection counts, and SV / distance at the headline FARs for each population."""
    numbers = results.headline()
    section = Section("Headline numbers", "headline", notes=_resolution_notes(results.background))
    section.header = ["quantity", "value"]
    if "Tb" in numbers:
        section.rows.append(["background livetime Tb", f"{numbers['Tb']:.6g} s ({numbers['Tb_years']:.4g} yr)"])
    for key, label in (("background_events", "background events"), ("zero_lag_events", "zero-lag events"),
                       ("accepted_injections", "accepted injections"), ("injection_draws", "injection draws "
                        "(accepted + rejected)"), ("recovered_injections", "injections analysed (foreground)")):
        if key in numbers:
            section.rows.append([label, str(numbers[key])])
    for label, entry in numbers.get("sensitive_volume", {}).items():
        if entry["populations"] is None:
            section.notes.append(f"FAR {label} lies outside the FARs the sensitive volume was computed at.")
            continue
        for population, values in entry["populations"].items():
            section.rows.append([f"{population} Msun at FAR {label}",
                                 f"SV {_number(values['sv'])} ± {_number(values['sv_err'], 2)} Gpc³, distance "
                                 f"{_number(values['distance'])} ± {_number(values['distance_err'], 2)} Mpc"])
    return section


def sensitivity_section(results: Results, state: RunState) -> Section:
    """SV and distance against FAR per population: aframe-sv's plots, or a redraw from sensitive_volume.h5."""
    section = Section("Sensitive volume and distance", "sensitivity")
    volume = results.sensitive_volume
    for name, key, label in (("sensitive_volume.png", "sv", "sensitive volume (Gpc³)"),
                             ("sensitive_distance.png", "distance", "sensitive distance (Mpc)")):
        if name in results.images:
            section.image(f"{label} against FAR (aframe-sv)", results.images[name])
        elif volume is not None:
            section.image(f"{label} against FAR (redrawn from sensitive_volume.h5, without the GWTC-3 lines)",
                          figures.sensitivity_figure(volume.fars, volume.populations, key, label))
    section.notes += _missing_notes(results, state, ("sensitive volume",))
    return section


def background_section(results: Results, state: RunState) -> Section:
    """Background statistic histogram and FAR curve."""
    section = Section("Background", "background")
    if results.background is not None:
        section.image("background statistic and false-alarm rate",
                      figures.background_figure(results.background, HEADLINE_FARS))
    section.notes += _missing_notes(results, state, ("background events",))
    return section


def found_missed_section(results: Results, state: RunState) -> Section:
    """Accepted injections: SNR against chirp mass, coloured by the FAR they were recovered at."""
    section = Section("Found and missed injections", "found-missed", notes=_resolution_notes(results.background))
    background, foreground = results.background, results.foreground
    if background is not None and foreground is not None and background.Tb > 0:
        far = background.significance(foreground["detection_statistic"])
        mass = figures.chirp_mass(foreground["mass_1"], foreground["mass_2"])
        floor = SECONDS_PER_YEAR / background.Tb
        section.image(f"found (FAR ≤ {MISSED_AT}) and missed injections",
                      figures.found_missed_figure(foreground["snr"], mass, far, HEADLINE_FARS[MISSED_AT], floor))
    elif background is not None and background.Tb <= 0:
        section.notes.append("The background has no livetime (Tb = 0): no FAR can be assigned.")
    section.notes += _missing_notes(results, state, ("background events", "recovered injections"))
    return section


def training_section(results: Results, state: RunState) -> Section:
    """The training curve aframe-train drew, or the validation score from metrics.csv."""
    section = Section("Training", "training")
    if "training.png" in results.images:
        section.image("training loss and validation score", results.images["training.png"])
    elif results.metrics is not None:
        section.image("validation score per epoch (from metrics.csv)", figures.training_figure(results.metrics))
    section.notes += _missing_notes(results, state, ("training curve",))
    return section


def zero_lag_section(results: Results, state: RunState, unblind: bool, table: str | None) -> Section:
    """Zero-lag candidates with their FARs when unblinded; their number only when blinded."""
    section = Section("Zero-lag candidates", "zero-lag")
    if results.zero_lag is None:
        section.notes += _missing_notes(results, state, ("zero-lag events",))
        return section
    count = len(results.zero_lag)
    if not unblind:
        section.notes.append(f"{count} zero-lag events in {results.zero_lag.Tb:.6g} s. Blinded: set "
                             "[sv] unblind = true to list them.")
        return section
    rows = results.zero_lag_table()
    section.notes.append(f"{count} zero-lag events in {results.zero_lag.Tb:.6g} s; the loudest "
                         f"{min(count, CANDIDATES)} below, all of them in {table}.")
    section.header = ["GPS time", "detection statistic", "FAR (per year)"]
    section.rows = [[f"{time:.3f}", f"{statistic:.6g}", _number(far)] for time, statistic, far in rows[:CANDIDATES]]
    return section


def timing_section(state: RunState) -> Section:
    """Per stage: nodes done of total, retries, wall-clock span and summed node time; then the slowest nodes."""
    section = Section("Stages and node timings", "timings")
    section.header = ["stage", "done / total", "failed", "held", "retries", "wall clock", "node time"]
    for stage, row in state.stages().items():
        section.rows.append([stage, f"{row['done']} / {row['total']}", str(row["failed"]), str(row["held"]),
                             str(row["retries"]), duration(row["elapsed"]), duration(row["node_seconds"])])
    slowest = sorted((node for node in state.nodes.values() if node.elapsed), key=lambda n: -n.elapsed)[:SLOWEST]
    section.notes = [f"slowest: {node.name} {duration(node.elapsed)} ({node.status})" for node in slowest]
    return section


def metadata_section(condor_dir: Path) -> Section:
    """The resolved config (with the versions `build` recorded) and the versions in this node's environment."""
    section = Section("Run metadata", "metadata")
    section.header = ["package (this node's environment)", "version"]
    for name in PACKAGES:
        try:
            section.rows.append([name, metadata.version(name)])
        except metadata.PackageNotFoundError:
            section.rows.append([name, "not installed"])
    config = condor_dir / RESOLVED
    try:
        section.text = config.read_text(encoding="utf-8")
        section.notes.append(f"{config} (its header lists the versions `aframe-dag build` ran with):")
    except OSError as exc:
        section.notes.append(f"{config} cannot be read: {exc.strerror or exc}")
    return section


def render(state: RunState, results: Results, *, dag_status: int, failed_count: int, unblind: bool,
           zero_lag_table: str | None) -> str:
    """The whole page as HTML text."""
    sections = [status_section(state, results, dag_status, failed_count), headline_section(results),
                sensitivity_section(results, state), background_section(results, state),
                found_missed_section(results, state), training_section(results, state),
                zero_lag_section(results, state, unblind, zero_lag_table), timing_section(state),
                metadata_section(state.status.condor_dir)]
    return environment().get_template("report.html.j2").render(
        name=state.status.name or state.status.condor_dir.name, succeeded=dag_status == 0,
        generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), sections=sections,
        blinded=not unblind)


def describe(results: Results, state: RunState) -> list[dict[str, Any]]:
    """The problem inputs for summary.json: path, what, reason and, for a missing one, why."""
    return [{"path": p.path, "what": p.what, "reason": p.reason, "producer": p.producer,
             "why": state.why_missing(p.producer) if p.reason == "missing" else None} for p in results.problems]

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

from aframe_dag.names import RESOLVED
from aframe_dag.status.model import NodeState
from aframe_dag.status.text import duration
from executables.analysis import figures, gwtc3
from executables.analysis.datasource import DataSource
from executables.analysis.efficiency import BOOTSTRAP, Comparison, Efficiency
from executables.analysis.far import far_bounds, livetime_for, smallest_far
from executables.analysis.plots import Curve, curves_figure
from executables.analysis.results import HEADLINE_FARS, Results, SensitiveVolume
from executables.analysis.runstate import RunState
from executables.analysis.volume import SUPPORT_WARNING
from executables.formats.events import SECONDS_PER_YEAR, EventSet

#: Packages whose versions the report lists (read from their metadata: nothing is imported).
PACKAGES = ("aframe-dag", "numpy", "h5py", "matplotlib", "torch", "ml4gw", "lightning", "onnxruntime",
            "tritonclient", "gwpy", "lalsuite", "htcondor")
#: Zero-lag candidates listed in the report when unblinded (zero-lag.csv holds them all).
CANDIDATES = 20
#: The headline FAR that separates found from missed injections, where the run reaches it.
MISSED_AT = "1/month"
#: The inputs of the matched-filter reference, as ``results`` names them.
REFERENCE_INPUTS = ("matched-filter background events", "matched-filter recovered injections",
                    "matched-filter sensitive volume")
#: What a run on simulated noise without the reference is told.
REFERENCE_ADVICE = ("This run's background is simulated noise: the meaningful comparison is the matched-filter "
                    "reference on the same data (the optimal search, same injections, same Tb: the report then leads "
                    "with the ratio of the 50 %-efficiency SNRs), not the GWTC-3 lines measured on O3b real data. "
                    "Turn it on with [reference] matched_filter = true in run.ini (`make reference` builds its PyCBC "
                    "environment, .venv-reference; point [reference] environment at it) and build the run again "
                    "([run] reuse = this run's condor dir keeps the nodes already done).")


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
    """A sentence when the background is too short to measure the headline FARs (the smallest FAR is 1 / Tb), with
    the livetime each would need."""
    if background is None or background.Tb <= 0:
        return []
    smallest = smallest_far(background.Tb)
    unreachable = {label: far for label, far in HEADLINE_FARS.items() if far < smallest}
    if not unreachable:
        return []
    needed = "; ".join(f"FAR {label} needs Tb ≥ {livetime_for(far):.4g} s ({livetime_for(far) / background.Tb:.4g}"
                       " times this run's)" for label, far in unreachable.items())
    return [f"With Tb = {background.Tb:.6g} s ({background.Tb / SECONDS_PER_YEAR:.3g} yr) the smallest measurable FAR "
            f"is 1/Tb = {smallest:.4g}/yr: FAR {' and '.join(unreachable)} cannot be reached. {needed}: raise "
            "[testing] Tb (more timeslides) or analyse more data."]


def _sv_cell(values: dict[str, float]) -> str:
    return (f"SV {_number(values['sv'])} ± {_number(values['sv_err'], 2)} Gpc³, distance "
            f"{_number(values['distance'])} ± {_number(values['distance_err'], 2)} Mpc")


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


def headline_section(results: Results, data: DataSource) -> Section:
    """Livetime, event and injection counts, and SV / distance at the headline FARs for each population (at the
    lowest FAR the run measures where a headline FAR is out of its reach)."""
    numbers = results.headline()
    section = Section("Headline numbers", "headline")
    section.header = ["quantity", "value"]
    _comparison_headline(section, results)
    if results.reference is None and data.simulated:
        section.notes.append(REFERENCE_ADVICE)
    section.notes.append(f"Background: {data.describe()}.")
    section.notes += _resolution_notes(results.background)
    if "Tb" in numbers:
        section.rows.append(["background livetime Tb", f"{numbers['Tb']:.6g} s ({numbers['Tb_years']:.4g} yr)"])
    if "vetoed" in numbers:
        analysed = numbers.get("Tb", 0.0) + numbers["vetoed"]
        share = f" ({numbers['vetoed'] / analysed:.2%} of {analysed:.6g} s analysed)" if analysed > 0 else ""
        section.rows.append(["background livetime vetoed", f"{numbers['vetoed']:.6g} s{share}"])
    if "vetoed_injections" in numbers:
        section.rows.append(["injections at vetoed moments (left out)", str(numbers["vetoed_injections"])])
    for key, label in (("background_events", "background events"), ("zero_lag_events", "zero-lag events"),
                       ("accepted_injections", "accepted injections"), ("injection_draws", "injection draws "
                        "(accepted + rejected)"), ("recovered_injections", "injections analysed (foreground)")):
        if key in numbers:
            section.rows.append([label, str(numbers[key])])
    headline = numbers.get("sensitive_volume", {})
    for label, entry in headline.items():
        for population, values in (entry["populations"] or {}).items():
            section.rows.append([f"{population} Msun at FAR {label}", _sv_cell(values)])
    outside = [label for label, entry in headline.items() if entry["populations"] is None]
    lowest = numbers.get("lowest_far", {})
    if outside and lowest.get("populations"):
        section.notes.append(f"No sensitive volume at FAR {' or '.join(outside)}: it lies outside the FARs "
                             f"sensitive_volume.h5 was computed at. In its place, the lowest FAR there, "
                             f"{lowest['far']:.4g}/yr:")
        for population, values in lowest["populations"].items():
            section.rows.append([f"{population} Msun at FAR {lowest['far']:.4g}/yr (the lowest measured)",
                                 _sv_cell(values)])
    elif outside:
        section.notes.append(f"No sensitive volume at FAR {' or '.join(outside)}, nor at any FAR: the curves of "
                             "sensitive_volume.h5 are empty.")
    return section


def _snr50(search: Efficiency) -> str:
    if search.fit is None:
        return f"n/a: {search.note}"
    error = "" if search.fit.snr50_err is None else f" ± {_number(search.fit.snr50_err, 2)}"
    return f"{_number(search.fit.snr50)}{error}"


def _at(comparison: Comparison) -> str:
    return f"FAR {comparison.far.label} = {comparison.far.far:.4g}/yr"


def _comparison_headline(section: Section, results: Results) -> None:
    """With the reference, the ratio of the 50 %-efficiency SNRs first (then each, and the distances at the common
    FAR); without it, the network's 50 % SNR."""
    comparison = results.comparison
    if results.reference is not None and (comparison is None or comparison.ratio is None):
        section.notes.append("The matched-filter reference is on, but no ratio of 50 %-efficiency SNRs can be given: "
                             + _no_ratio(results, comparison) + " (see the comparison section).")
    if comparison is None or comparison.far.far is None:
        return
    if comparison.ratio is not None:
        network, matched = comparison.searches
        section.notes.append(
            f"Network against the matched-filter reference on the same data and injections: at {_at(comparison)} the "
            f"network finds half the injections at optimal network SNR {_snr50(network)}, the matched filter at "
            f"{_snr50(matched)}; the ratio network / matched filter is {comparison.ratio:.4g} ± "
            f"{comparison.ratio_err:.2g} (1 would match the optimal search).")
        section.rows.append([f"50 %-efficiency SNR, network / matched filter, at {_at(comparison)}",
                             f"{comparison.ratio:.4g} ± {comparison.ratio_err:.2g}"])
    for search in comparison.searches:
        section.rows.append([f"50 %-efficiency SNR, {search.name}, at {_at(comparison)}", _snr50(search)])
    for population, values in (results.comparison_distances() or {}).items():
        ratio = "" if values["ratio"] is None else f" (ratio {values['ratio']:.3g})"
        section.rows.append([f"{population} Msun sensitive distance at {_at(comparison)}, network / matched filter",
                             f"{_number(values['network'])} ± {_number(values['network_err'], 2)} Mpc / "
                             f"{_number(values['reference'])} ± {_number(values['reference_err'], 2)} Mpc{ratio}"])


def _no_ratio(results: Results, comparison: Comparison | None) -> str:
    """Why the ratio is missing, in words."""
    missing = [problem.what for problem in results.problems if problem.what in REFERENCE_INPUTS[:2]]
    if missing:
        return f"{' and '.join(missing)} not available"
    if comparison is None:
        return "the network's background or recovered injections are not available"
    if comparison.far.far is None:
        return comparison.far.note or "no common FAR"
    return "; ".join(f"{search.name}: {search.note}" for search in comparison.searches if search.fit is None)


def comparison_section(results: Results, state: RunState) -> Section:
    """Efficiency against optimal network SNR at the common FAR (and sensitive distance against FAR) of the network
    and, when it ran, the matched-filter reference, on one figure."""
    reference = results.reference
    section = Section("Network and matched filter" if reference is not None else "Detection efficiency",
                      "comparison")
    comparison = results.comparison
    if comparison is not None and comparison.far.note:
        prefix = "Not at 10/Tb" if comparison.far.far is not None else "No efficiency at a common FAR"
        section.notes.append(f"{prefix}: {comparison.far.note}.")
    if comparison is not None and comparison.far.far is not None:
        section.notes.append(
            f"Found: detection statistic at or above the threshold each search's own background sets at "
            f"{_at(comparison)} (Tb = {comparison.far.Tb:.6g} s). 50 % SNR: maximum-likelihood logistic fit of found "
            f"against ln(optimal network SNR) over the injections; ± is the standard deviation over {BOOTSTRAP} "
            "bootstrap resamples of the injections" + (", the same injections for both searches (paired)."
                                                       if comparison.paired else "."))
        section.notes += [f"{search.name}: no 50 % SNR: {search.note}." for search in comparison.searches
                          if search.fit is None]
        volumes = [("network", results.sensitive_volume)]
        if reference is not None:
            volumes.append(("matched filter", reference.sensitive_volume))
        section.image(f"sensitive distance against FAR and efficiency against optimal network SNR at "
                      f"{_at(comparison)}: " + " and ".join(search.name for search in comparison.searches),
                      figures.comparison_figure(comparison, volumes))
        section.header = ["search", "threshold", "injections", f"found at {comparison.far.label}", "50 % SNR"]
        section.rows = [[search.name, _number(search.threshold), str(len(search.snr)), str(int(search.found.sum())),
                         _snr50(search)] for search in comparison.searches]
    section.notes += _missing_notes(results, state, REFERENCE_INPUTS)
    return section


def _curves(volume: SensitiveVolume, key: str) -> list[Curve]:
    return [Curve(volume.population_attrs[name]["mass_1"], volume.population_attrs[name]["mass_2"], values[key],
                  values[f"{key}_err"]) for name, values in volume.populations.items()]


def sensitivity_section(results: Results, state: RunState, data: DataSource) -> Section:
    """SV and distance against FAR per population from sensitive_volume.h5, with the GWTC-3 lines said to be what
    they are (and not comparable when this run's background is simulated)."""
    section = Section("Sensitive volume and distance", "sensitivity")
    volume = results.sensitive_volume
    if volume is not None:
        pairs = [(attrs["mass_1"], attrs["mass_2"]) for attrs in volume.population_attrs.values()]
        section.notes.append("Mass pairs ([sv] mass_combos of this run), source frame: "
                             + ", ".join(f"{m1:g}+{m2:g}" for m1, m2 in pairs) + " Msun.")
        section.notes += [f"Only {100 * attrs['support_fraction']:.1f}% of population {name} lies inside the "
                          "injection prior's support: its sensitive volume is an underestimate."
                          for name, attrs in volume.population_attrs.items()
                          if attrs.get("support_fraction", 1.0) < SUPPORT_WARNING]
        secondary = results.reference is not None
        note = ("Secondary: the matched-filter reference on the same data (above) is the comparison that counts. "
                if secondary else "") + gwtc3.comparison_note(data)
        section.notes.append(note)
        livetime = f" (Tb = {volume.attrs['Tb'] / SECONDS_PER_YEAR:.3g} yr)" if "Tb" in volume.attrs else ""
        for key, label in (("sv", "sensitive volume (Gpc³)"), ("distance", "sensitive distance (Mpc)")):
            figure = curves_figure(volume.fars, _curves(volume, key), key, f"aframe {label}{livetime}", note,
                                   secondary)
            section.image(f"{label} against FAR, with the GWTC-3 pipelines ({gwtc3.DATA_SET})", figures.png(figure))
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
    """Accepted injections: SNR against chirp mass, coloured by the FAR they were recovered at (an upper limit where
    louder than all background), found at FAR 1/month or, out of reach, at the lowest FAR the run measures."""
    section = Section("Found and missed injections", "found-missed", notes=_resolution_notes(results.background))
    background, foreground = results.background, results.foreground
    if background is not None and foreground is not None and background.Tb > 0:
        far, upper_limit = far_bounds(background.significance(foreground["detection_statistic"]), background.Tb)
        mass = figures.chirp_mass(foreground["mass_1"], foreground["mass_2"])
        floor = smallest_far(background.Tb)
        found_at = max(HEADLINE_FARS[MISSED_AT], floor)
        threshold = (MISSED_AT if found_at == HEADLINE_FARS[MISSED_AT] else
                     f"1/Tb = {floor:.4g}/yr, the lowest FAR this run measures; {MISSED_AT} is out of its reach")
        section.image(f"found (FAR ≤ {threshold}) and missed injections; triangles: louder than every background "
                      "event, their FAR only known to lie below 1/Tb",
                      figures.found_missed_figure(foreground["snr"], mass, far, upper_limit, found_at, floor))
    elif background is not None and background.Tb <= 0:
        section.notes.append("The background has no livetime (Tb = 0): no FAR can be assigned.")
    section.notes += _missing_notes(results, state, ("background events", "recovered injections"))
    return section


def training_section(results: Results, state: RunState) -> Section:
    """The training curve aframe-train drew, or the validation score from metrics.csv."""
    section = Section("Training", "training")
    if results.training_png is not None:
        section.image("training loss and validation score", results.training_png)
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
    section.rows = [[f"{time:.3f}", f"{statistic:.6g}", ("< " if upper else "") + _number(far)]
                    for time, statistic, far, upper in rows[:CANDIDATES]]
    return section


def timing_section(state: RunState) -> Section:
    """Per stage: nodes done of total, retries, wall-clock span, summed node time and its slowest node."""
    section = Section("Stages and node timings", "timings")
    section.header = ["stage", "done / total", "failed", "held", "retries", "wall clock", "node time", "slowest node"]
    slowest: dict[str, NodeState] = {}
    for node in state.nodes.values():
        if node.elapsed and node.elapsed > getattr(slowest.get(node.stage), "elapsed", 0.0):
            slowest[node.stage] = node
    for stage, row in state.stages().items():
        node = slowest.get(stage)
        longest = "" if node is None else f"{node.name} {duration(node.elapsed)}" + (
            "" if node.status == "done" else f" ({node.status})")
        section.rows.append([stage, f"{row['done']} / {row['total']}", str(row["failed"]), str(row["held"]),
                             str(row["retries"]), duration(row["elapsed"]), duration(row["node_seconds"]), longest])
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


def render(state: RunState, results: Results, data: DataSource, *, dag_status: int, failed_count: int, unblind: bool,
           zero_lag_table: str | None) -> str:
    """The whole page as HTML text."""
    sections = [status_section(state, results, dag_status, failed_count), headline_section(results, data),
                comparison_section(results, state), sensitivity_section(results, state, data),
                background_section(results, state), found_missed_section(results, state),
                training_section(results, state), zero_lag_section(results, state, unblind, zero_lag_table),
                timing_section(state),
                metadata_section(state.status.condor_dir)]
    return environment().get_template("report.html.j2").render(
        name=state.status.name or state.status.condor_dir.name, succeeded=dag_status == 0,
        generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), sections=sections,
        blinded=not unblind)


def describe(results: Results, state: RunState) -> list[dict[str, Any]]:
    """The problem inputs for summary.json: path, what, reason and, for a missing one, why."""
    return [{"path": p.path, "what": p.what, "reason": p.reason, "producer": p.producer,
             "why": state.why_missing(p.producer) if p.reason == "missing" else None} for p in results.problems]

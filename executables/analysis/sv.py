"""`aframe-sv`: sensitive volume and distance against false-alarm rate for target mass populations (issue 11).

Inputs: the aggregated background (``EventSet``: FARs) and foreground (``RecoveredInjectionSet``: the accepted
injections with their statistics) and the rejected draws (``RejectedSet``). The FAR grid is geometric in the number
k of background events allowed, FAR = k / Tb from 1 / Tb up to ``--max-far``; at each FAR the threshold is the
background's ``threshold_at_far``, so an injection counts as found exactly when its own FAR (``significance``) is at
most the grid's. Weights, V0 and errors: ``executables.analysis.volume``. Rejected draws are read in chunks and enter
only through Σw and Σw², so their number does not bound memory.

Vetoes (``[testing] vetoes``) were applied by aggregate: the background's Tb is live time and the foreground lacks
the ``--vetoed-injections`` accepted injections placed at vetoed moments. Those are neither found nor missed; they
still count among the draws, and the rejected draws (which carry no time) enter Σw and Σw² scaled by the share of
accepted injections kept, the estimate of how many of them were made for live moments.

Outputs, each written atomically: ``--output`` (``sensitive_volume.h5``: ``thresholds``, ``fars``,
``populations/<m1>-<m2>/{sv, sv_err, distance, distance_err}`` with attrs ``mass_1``, ``mass_2``,
``effective_samples``, ``support_fraction``; root attrs ``Tb``, ``V0``, ``num_injections``, ``num_accepted``,
``source_prior``, ``sigma``, ``max_far``), and beside it ``sensitive_volume.png``, ``sensitive_distance.png``,
``found-missed.csv`` and ``found-missed.hdf5`` (``executables.analysis.found_missed``); the h5 is written last.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import h5py
import numpy as np

from aframe_dag.plan.layout import SV_BESIDE
from executables.analysis import found_missed, gwtc3
from executables.analysis.plots import Curve, plot_curves
from executables.analysis.volume import (
    MASS_KEYS,
    SIGMA,
    SUPPORT_WARNING,
    Population,
    WeightSums,
    astrophysical_volume,
    distance,
    far_counts,
    log_weights,
    parse_population,
    sensitive_volume,
    support_fraction,
)
from executables.common.atomic import atomic_path
from executables.common.cli import device_option, node_options, require_device
from executables.common.errors import InputError
from executables.common.hdf5 import create_dataset, open_hdf5
from executables.formats.events import SECONDS_PER_YEAR, EventSet, RecoveredInjectionSet
from executables.formats.sets import RejectedSet
from executables.sources.priors import Prior, get_prior

log = logging.getLogger("aframe-sv")

#: Rejected draws read at a time.
CHUNK_ROWS = 1_000_000
#: Target draws that estimate each population's share inside the source prior's support; fixed seed (no --seed).
SUPPORT_DRAWS, SUPPORT_SEED = 20000, 11
#: Parameters the weights may need (masses of either frame and the distance to convert between them).
WEIGHT_KEYS = ("mass_1", "mass_2", "mass_1_source", "mass_2_source", "redshift", "luminosity_distance")


@dataclass(frozen=True)
class Result:
    """What ``sensitive_volume.h5`` holds."""

    thresholds: np.ndarray
    fars: np.ndarray
    populations: list[Population]
    sv: np.ndarray
    sv_err: np.ndarray
    distance: np.ndarray
    distance_err: np.ndarray
    effective_samples: np.ndarray
    support: list[float]
    Tb: float
    v0: float
    num_injections: int
    num_accepted: int


def parse_populations(text: str) -> list[Population]:
    """``--mass-combos`` 35:35,35:20 -> populations, in the order given."""
    try:
        populations = [parse_population(item) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mass-combos") from None
    keys = [population.key for population in populations]
    if not populations or len(set(keys)) != len(keys):
        raise click.BadParameter(f"give distinct m1:m2 pairs, comma-separated; got {text!r}",
                                 param_hint="--mass-combos")
    return populations


def _parameter_names(path: Path) -> list[str]:
    """The names under ``parameters/`` of a ledger file."""
    with open_hdf5(path) as handle:
        group = handle.get("parameters")
        if not isinstance(group, h5py.Group):
            raise InputError(path, "parameters", "group missing")
        return list(group)


def _weight_parameters(path: Path, params: dict[str, np.ndarray], prior: Prior) -> dict[str, np.ndarray]:
    """``params`` completed by the prior's conversions; a missing mass or distance names the file and dataset."""
    complete = prior.complete(params)
    needed = [*MASS_KEYS["source"], *MASS_KEYS[prior.frame]] + (["redshift"] if prior.frame == "detector" else [])
    missing = [name for name in needed if name not in complete]
    if missing:
        raise InputError(path, f"parameters/{missing[0]}", "dataset missing (the weights need source-frame masses, "
                                                           "or detector-frame masses and a distance)")
    return complete


def _checked_log_weights(path: Path, prior: Prior, populations: Sequence[Population],
                         params: dict[str, np.ndarray]) -> np.ndarray:
    """(populations, rows) log weights; draws the source prior cannot produce are an ``InputError``."""
    complete = _weight_parameters(path, params, prior)
    log_w = np.stack([log_weights(prior, population, complete) for population in populations])
    outside = np.isposinf(log_w[0])
    if outside.any():
        row = int(np.argmax(outside))
        example = ", ".join(f"{key} = {complete[key][row]:g}" for key in MASS_KEYS[prior.frame])
        raise InputError(path, "parameters", f"{int(outside.sum())} of {outside.size} draws lie outside prior "
                                             f"{prior.name}'s mass support (row {row}: {example}); were they drawn "
                                             "from --source-prior?")
    return log_w


def _add_rejected(path: Path, prior: Prior, populations: Sequence[Population], sums: WeightSums,
                  kept: float = 1.0) -> None:
    """Add the rejected draws' weights, times ``kept``, to ``sums``, ``CHUNK_ROWS`` at a time (they are never found).

    ``kept`` is the share of the accepted injections the vetoes left: rejected draws carry no time, so the share of
    them made for live moments is estimated by it (placement times do not depend on the parameters drawn).
    """
    names = [name for name in WEIGHT_KEYS if name in _parameter_names(path)]
    rows = RejectedSet.length(path)
    for start in range(0, rows, CHUNK_ROWS):
        chunk = RejectedSet.read_parameters(path, names, slice(start, min(start + CHUNK_ROWS, rows)))
        sums.add(_checked_log_weights(path, prior, populations, chunk) + np.log(kept))


def _read_inputs(background: Path, foreground: Path, rejected: Path,
                 vetoed: int = 0) -> tuple[EventSet, RecoveredInjectionSet, int]:
    """The two event sets and ``num_injections`` (every draw), checked against each other and the rejected rows
    (the foreground lacks the ``vetoed`` accepted injections aggregate dropped)."""
    for path in (background, foreground, rejected):
        if not path.is_file():
            raise InputError(path, None, "no such file")
    events = EventSet.read(background)
    injections = RecoveredInjectionSet.read(foreground)
    num_rejected = RejectedSet.length(rejected)
    num_injections = RejectedSet.recorded_draws(rejected)
    if num_injections is None:  # aframe's rejected draws record no total: it is accepted + rejected, as in aframe
        num_injections = len(injections) + vetoed + num_rejected
    if not events.Tb > 0:
        raise InputError(background, "Tb", f"background livetime is {events.Tb} s: no FAR can be measured")
    if events.ifos != injections.ifos:
        raise InputError(foreground, "ifos", f"{','.join(injections.ifos)} differ from the background's "
                                             f"{','.join(events.ifos)} in {background}")
    if len(injections) == 0:
        raise InputError(foreground, None, "no recovered injections: the foreground is empty")
    if not np.all(np.isfinite(injections.detection_statistic) | np.isneginf(injections.detection_statistic)):
        raise InputError(foreground, "parameters/detection_statistic", "holds NaN or +inf")
    if len(injections) + vetoed + num_rejected != num_injections:
        raise InputError(rejected, "num_injections",
                         f"{num_injections} draws recorded, but {foreground} has {len(injections)} accepted (and "
                         f"{vetoed} vetoed) and this file {num_rejected} rejected rows "
                         f"({len(injections) + vetoed + num_rejected} in all): some draws are missing or counted twice")
    return events, injections, num_injections


def compute(background: EventSet, foreground: RecoveredInjectionSet, rejected: Path, num_injections: int,
            prior: Prior, v0: float, populations: Sequence[Population], max_far: float,
            foreground_path: Path, vetoed: int = 0) -> Result:
    """Sensitive volume and distance of every population on the FAR grid (see the module doc); ``vetoed`` accepted
    injections were dropped from the foreground by vetoes."""
    sums = WeightSums.empty(len(populations))
    log_w = _checked_log_weights(foreground_path, prior, populations,
                                 {k: v for k, v in foreground.parameters.items() if k in WEIGHT_KEYS})
    sums.add(log_w)
    _add_rejected(rejected, prior, populations, sums, len(foreground) / (len(foreground) + vetoed))
    years = background.Tb / SECONDS_PER_YEAR
    counts = far_counts(years, max_far, len(background))
    thresholds = background.threshold_at_far(counts / years) if counts.size else np.zeros(0)
    fars = np.asarray(background.far(thresholds), dtype=np.float64)
    sv, sv_err = sensitive_volume(foreground.detection_statistic, sums.normalised(log_w), thresholds, v0,
                                  total=np.ones(len(populations)), total_sq=sums.normalised_sq)
    d, d_err = distance(sv, sv_err)
    rng = np.random.default_rng(SUPPORT_SEED)
    support = [support_fraction(prior, population, rng, SUPPORT_DRAWS) for population in populations]
    return Result(thresholds, fars, list(populations), sv, sv_err, d, d_err, sums.effective_samples, support,
                  background.Tb, v0, num_injections, len(foreground))


def _log_result(result: Result, prior: Prior) -> None:
    log.info("V0 = %.4g Gpc³ (prior %s), Tb = %.6g s, %d draws (%d accepted), %d FAR points in [%s] /yr",
             result.v0, prior.name, result.Tb, result.num_injections, result.num_accepted, result.fars.size,
             f"{result.fars[0]:.4g}, {result.fars[-1]:.4g}" if result.fars.size else "")
    if result.fars.size == 0:
        log.warning("no background event lies within FAR <= --max-far: the curves are empty")
    for index, population in enumerate(result.populations):
        at_max = (f"SV {result.sv[index, -1]:.4g} ± {result.sv_err[index, -1]:.2g} Gpc³, distance "
                  f"{result.distance[index, -1]:.4g} Mpc at {result.fars[-1]:.4g}/yr") if result.fars.size else ""
        log.info("population %s: %.1f effective draws, %.1f%% inside the prior's support; %s", population.key,
                 result.effective_samples[index], 100 * result.support[index], at_max)
        if result.support[index] < SUPPORT_WARNING:
            log.warning("population %s: only %.1f%% of it lies inside prior %s's support; its SV is an "
                        "underestimate", population.key, 100 * result.support[index], prior.name)


def write_result(path: Path, result: Result, prior: Prior, max_far: float) -> Path:
    """``sensitive_volume.h5`` (the contract in the module doc), atomically."""
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        create_dataset(handle, "thresholds", data=result.thresholds)
        create_dataset(handle, "fars", data=result.fars)
        group = handle.create_group("populations")
        for index, population in enumerate(result.populations):
            entry = group.create_group(population.key)
            for name in ("sv", "sv_err", "distance", "distance_err"):
                create_dataset(entry, name, data=getattr(result, name)[index])
            entry.attrs.update(mass_1=population.mass_1, mass_2=population.mass_2, sigma=population.sigma,
                               effective_samples=result.effective_samples[index],
                               support_fraction=result.support[index])
        handle.attrs.update(Tb=result.Tb, V0=result.v0, num_injections=result.num_injections,
                            num_accepted=result.num_accepted, source_prior=prior.name, sigma=SIGMA,
                            max_far=max_far, populations=[p.key for p in result.populations])
    return Path(path)


def _curves(result: Result, values: str, errors: str) -> list[Curve]:
    return [Curve(population.mass_1, population.mass_2, getattr(result, values)[index],
                  getattr(result, errors)[index]) for index, population in enumerate(result.populations)]


@click.command()
@node_options
@click.option("--background", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Aggregated background events (EventSet): the FARs.")
@click.option("--foreground", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Aggregated recovered injections (RecoveredInjectionSet).")
@click.option("--rejected", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Rejected test draws (RejectedSet); with the foreground they must make up num_injections.")
@click.option("--mass-combos", required=True,
              help="Comma-separated m1:m2 source-frame masses (Msun, m1 >= m2) of the log-normal target populations.")
@click.option("--source-prior", required=True, help="Name of the prior the test injections were drawn from.")
@click.option("--max-far", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Largest false-alarm rate of the curves, per year.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="sensitive_volume.h5 to write; the PNGs and found-missed tables go beside it.")
@click.option("--vetoed-injections", type=click.IntRange(min=0), default=0, show_default=True,
              help="Accepted injections aggregate dropped at vetoed moments (not in --foreground; by the plan).")
@device_option("Checked like every node's (cuda must exist); this node computes on the CPU.")
def main(background: Path, foreground: Path, rejected: Path, mass_combos: str, source_prior: str, max_far: float,
         output: Path, vetoed_injections: int, device: str) -> list[Path]:
    """Sensitive volume and distance against FAR for each mass population, with plots and the found-missed table."""
    require_device(device)
    populations = parse_populations(mass_combos)
    prior = get_prior(source_prior)
    v0 = astrophysical_volume(prior)
    events, injections, num_injections = _read_inputs(background, foreground, rejected, vetoed_injections)
    result = compute(events, injections, rejected, num_injections, prior, v0, populations, max_far, foreground,
                     vetoed_injections)
    _log_result(result, prior)

    directory = output.parent
    volume_png, distance_png, table_csv, table_hdf5 = (directory / name for name in SV_BESIDE)
    table = found_missed.columns(injections, events)
    note = gwtc3.comparison_note(None)  # this node is not told the background's source; the report is
    written = [
        plot_curves(volume_png, result.fars, _curves(result, "sv", "sv_err"), "sv",
                    f"aframe sensitive volume (Tb = {result.Tb / SECONDS_PER_YEAR:.3g} yr, prior {prior.name})", note),
        plot_curves(distance_png, result.fars, _curves(result, "distance", "distance_err"), "distance",
                    f"aframe sensitive distance (Tb = {result.Tb / SECONDS_PER_YEAR:.3g} yr, prior {prior.name})",
                    note),
        found_missed.write_csv(table_csv, table),
        found_missed.write_hdf5(table_hdf5, table, {"Tb": events.Tb, "ifos": events.ifos}),
    ]
    log.info("found-missed table: %d injections, %d with FAR <= %g/yr", len(injections),
             int(np.sum(table["far"] <= max_far)), max_far)
    return [write_result(output, result, prior, max_far), *written]

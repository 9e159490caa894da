"""`aframe-reference-filter`: the matched-filter reference over the test branches of one background file.

Each ``--branch SHIFT_INDEX:FILE`` is read as ``aframe-infer`` reads it (ifo ``k`` offset by ``i * shifts[k]`` s).
Before filtering, the node checks the branches against the plan: their background livetime summed must equal
``--expected-livetime`` and the accepted injections falling in them ``--expected-injections``, or it exits 2. Each
file's ifos are filtered once with every template of ``--bank`` (``executables.reference.search``); every branch's
coincidences are its background (shift > 0) or zero-lag (shift 0) events, and each injection gets its loudest
coincidence on the injected data. ``--output`` is written once, atomically, in ``aframe-infer``'s events format
(``executables.formats.events.write_node_events``), so ``aframe-aggregate`` and ``aframe-sv`` take it unchanged.

Runs in an environment with PyCBC (the ``reference`` extra; ``make`` builds ``.venv-reference``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import click

from executables.common.branches import (
    LIVETIME_TOLERANCE,
    checked_branches,
    parse_branch,
    parse_shifts,
    timeslid_injections,
)
from executables.common.cli import given_ifos, node_options
from executables.common.errors import InputError, PermanentError
from executables.formats.events import BranchRecord, EventSet, RecoveredInjectionSet, joined, write_node_events
from executables.formats.placement import select_injections

log = logging.getLogger("aframe-reference-filter")

def _pycbc():
    """The PyCBC-backed modules, or exit 2 saying where PyCBC is expected."""
    try:
        from executables.reference import search, templates
    except ImportError as exc:
        raise PermanentError(f"the matched-filter reference needs PyCBC ({exc}): run it from an environment with "
                             "aframe-dag[reference] (make builds .venv-reference), as [reference] environment "
                             "names") from None
    return search, templates


@click.command()
@node_options
@click.option("--bank", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Template bank (aframe-reference-bank, pycbc_brute_bank's format).")
@timeslid_injections
@click.option("--f-low", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Low frequency cutoff of the templates and the filter, Hz.")
@click.option("--psd-length", type=click.FloatRange(min=0), required=True,
              help="Seconds at each file's start the plan sets aside (not analysed, as aframe-infer).")
@click.option("--psd-segment", type=click.FloatRange(min=0, min_open=True), default=4.0, show_default=True,
              help="Welch segment of the background PSD, seconds.")
@click.option("--inverse-length", type=click.FloatRange(min=0, min_open=True), default=4.0, show_default=True,
              help="Length of the truncated inverse-PSD filter, seconds.")
@click.option("--snr-threshold", type=click.FloatRange(min=0), default=4.0, show_default=True,
              help="Single-detector |SNR| a trigger must exceed.")
@click.option("--trigger-window", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Each template's triggers are clustered over this many seconds.")
@click.option("--coincidence-margin", type=click.FloatRange(min=0), default=0.005, show_default=True,
              help="Seconds added to each ifo pair's light-travel time for coincidence.")
@click.option("--cluster-length", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Only the loudest event within this many seconds is kept (the network's).")
@checked_branches
def main(bank: Path, injections: Path, ifos: str, shifts: str, sample_rate: float, f_low: float, psd_length: float,
         psd_segment: float, inverse_length: float, snr_threshold: float, trigger_window: float,
         coincidence_margin: float, cluster_length: float, expected_livetime: float, expected_injections: int,
         output: Path, branch_specs: tuple[str, ...]) -> list[Path]:
    """Filter each file's ifos with the bank and write the branches' background, zero-lag and foreground events."""
    search, templates = _pycbc()
    names = given_ifos(ifos)
    settings = search.Settings(tuple(names), parse_shifts(shifts, names), sample_rate, f_low, psd_length,
                               psd_segment, inverse_length, snr_threshold, trigger_window, coincidence_margin,
                               cluster_length)
    specs = [parse_branch(spec) for spec in branch_specs]
    if len(set(specs)) != len(specs):
        raise click.BadParameter("a branch is given twice", param_hint="--branch")
    branches = [search.open_branch(path, index, settings) for index, path in specs]
    livetime = math.fsum(branch.livetime for branch in branches if branch.background)
    if abs(livetime - expected_livetime) > LIVETIME_TOLERANCE * max(1.0, expected_livetime):
        raise PermanentError(f"the branches' background livetime is {livetime:.9g} s, the plan expects "
                             f"{expected_livetime:.9g} s (--expected-livetime)")
    chosen = select_injections(injections, branches, names, sample_rate)
    count = sum(len(c.rows) for c in chosen if c is not None)
    if count != expected_injections:
        raise InputError(injections, "parameters/injection_time",
                         f"{count} accepted injections fall in these branches, the plan expects "
                         f"{expected_injections} (--expected-injections)")
    parameters = templates.read_bank(bank)
    windows = search.windows(names, coincidence_margin)
    segmenting = templates.Segmenting.of(parameters, f_low, inverse_length, cluster_length + 2 * float(windows.max()))
    filters = templates.FilterBank(parameters, sample_rate, segmenting.length, f_low)
    log.info("%d branches (%g s of background livetime), %d injections, %d templates, %g s segments", len(branches),
             livetime, count, len(filters), segmenting.length)
    records, background, zero_lag, foreground = [], [], [], []
    for path in dict.fromkeys(branch.path for branch in branches):
        mine = [k for k, branch in enumerate(branches) if branch.path == path]
        found = search.search_file(search.FileSearch(path, settings, filters, segmenting.pad),
                                   [branches[k] for k in mine], [chosen[k] for k in mine])
        for k, (events, recovered) in zip(mine, found, strict=True):
            branch = branches[k]
            (background if branch.background else zero_lag).append(events)
            if recovered is not None:
                foreground.append(recovered)
            records.append(BranchRecord(branch.label, branch.index, branch.livetime, branch.background,
                                        0 if recovered is None else len(recovered.detection_statistic)))
    write_node_events(output, records, joined(EventSet, background, names), joined(EventSet, zero_lag, names),
                      joined(RecoveredInjectionSet, foreground, names))
    log.info("wrote %s", output)
    return [output]

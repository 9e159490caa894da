"""``aframe-aggregate``: the fan-in of the infer nodes' event files into the three sets the SV stage reads.

Reads every ``--input`` (``write_node_events`` files; they are kept), checks each branch was analysed exactly once
and that the totals are the plan's, background livetime Tb = ``--expected-livetime`` (relative tolerance 1e-9) and
accepted injections = ``--expected-injections``, then writes ``--background`` (every background branch's events,
loudest first), ``--zero-lag`` (the unshifted branches') and ``--foreground`` (one row per accepted injection), each
atomically. A branch in two files (a retried branch counted twice) or a shortfall (a missing branch) is exit 2.

With ``--veto IFO:FILE`` (and the run's ``--shifts``) the sets lose what the vetoes remove
(``executables.infer.vetoes``): Tb is the live time left, and the seconds and injections removed must equal
``--expected-vetoed-livetime`` and ``--expected-vetoed-injections``, the plan's, or the node exits 2.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import click

from executables.common.cli import device_option, node_options, require_device, split
from executables.common.errors import InputError, PermanentError
from executables.formats.events import COUNT_RTOL, Detections, NodeEvents, RecoveredInjectionSet, read_node_events
from executables.infer.vetoes import VetoCheck, parse_veto

log = logging.getLogger("aframe-aggregate")

SetT = TypeVar("SetT", bound=Detections)


def read_inputs(inputs: Sequence[Path]) -> list[NodeEvents]:
    """Every node's events, checked: no file given twice, no branch label in two files, one list of ifos."""
    if not inputs:
        raise PermanentError("no --input files given")
    seen: dict[Path, Path] = {}
    for path in inputs:
        if path.resolve() in seen:
            raise InputError(path, None, f"given twice (also as {seen[path.resolve()]}); its events would be "
                                         "counted twice")
        seen[path.resolve()] = path
    owners: dict[str, Path] = {}
    nodes = []
    for path in inputs:
        node = read_node_events(path)
        for branch in node.branches:
            if branch.label in owners:
                raise InputError(path, "branches", f"branch {branch.label} is also in {owners[branch.label]}: a "
                                                   "retried branch would be counted twice")
            owners[branch.label] = path
        if nodes and node.background.ifos != nodes[0].background.ifos:
            raise InputError(path, "background/ifos", f"{node.background.ifos} differ from "
                                                      f"{nodes[0].background.ifos} in {inputs[0]}")
        nodes.append(node)
    return nodes


def check_totals(inputs: Sequence[Path], nodes: Sequence[NodeEvents], expected_livetime: float,
                 expected_injections: int) -> None:
    """Tb and the accepted injections must be the plan's: a shortfall is a missing branch, an excess a repeat."""
    livetime = math.fsum(node.background.Tb for node in nodes)
    if not math.isclose(livetime, expected_livetime, rel_tol=COUNT_RTOL):
        per_file = ", ".join(f"{path}: {node.background.Tb!r} s" for path, node in zip(inputs, nodes, strict=True))
        raise PermanentError(f"background livetime is {livetime!r} s, the plan expects {expected_livetime!r} s: "
                             f"{_gap(livetime, expected_livetime)} s (per file: {per_file})")
    injections = sum(len(node.foreground) for node in nodes)
    if injections != expected_injections:
        per_file = ", ".join(f"{path}: {len(node.foreground)}" for path, node in zip(inputs, nodes, strict=True))
        raise PermanentError(f"{injections} accepted injections were analysed, the plan expects "
                             f"{expected_injections}: {_gap(injections, expected_injections)} (per file: {per_file})")


def _gap(found: float, expected: float) -> str:
    """How a total falls short (a branch is missing) or exceeds the plan's (a branch counted twice)."""
    if found < expected:
        return f"a branch is missing, short by {expected - found:.12g}"
    return f"a branch is counted twice or is not the plan's, over by {found - expected:.12g}"

def combine(sets: Sequence[SetT], inputs: Sequence[Path], group: str) -> SetT:
    """The rows of every set in order, Tb and num_injections summed (empty sets add livetime, not rows)."""
    parts = [part for part in sets if len(part)] or list(sets[:1])
    try:
        combined = type(sets[0]).concatenate(parts)
    except (ValueError, InputError) as exc:
        raise PermanentError(f"the {group} sets of {', '.join(map(str, inputs))} do not merge: {exc}") from None
    combined.Tb = math.fsum(part.Tb for part in sets)
    combined.num_injections = sum(part.num_injections for part in sets)
    return combined


def aggregate(inputs: Sequence[Path], expected_livetime: float, expected_injections: int, background: Path,
              zero_lag: Path, foreground: Path, vetoes: VetoCheck | None = None) -> list[Path]:
    """Check every node's events, merge them (less what ``vetoes`` remove) and write the three sets; return paths."""
    nodes = read_inputs(inputs)
    check_totals(inputs, nodes, expected_livetime, expected_injections)
    merged_background = combine([node.background for node in nodes], inputs, "background")
    merged_zero_lag = combine([node.zero_lag for node in nodes], inputs, "zero-lag")
    merged_foreground: RecoveredInjectionSet = combine([node.foreground for node in nodes], inputs, "foreground")
    if vetoes is not None:
        branches = [branch for node in nodes for branch in node.branches]
        merged_background, merged_zero_lag, merged_foreground = vetoes.apply(
            branches, merged_background, merged_zero_lag, merged_foreground)
    merged_background = merged_background.sorted()
    outputs = [background, zero_lag, foreground]
    merged_background.write(background)
    merged_zero_lag.write(zero_lag)
    merged_foreground.write(foreground)
    log.info("%d files, %d branches: %d background events in Tb = %.6g s, %d zero-lag events in %.6g s, "
             "%d recovered injections", len(nodes), sum(len(node.branches) for node in nodes),
             len(merged_background), merged_background.Tb, len(merged_zero_lag), merged_zero_lag.Tb,
             len(merged_foreground))
    return outputs


@click.command(name="aframe-aggregate")
@node_options
@click.option("--expected-livetime", type=float, required=True,
              help="Seconds of background livetime the plan's branches add up to (Tb).")
@click.option("--expected-injections", type=click.IntRange(min=0), required=True,
              help="Accepted injections the plan's branches hold.")
@click.option("--background", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="EventSet of every background branch, loudest first.")
@click.option("--foreground", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="RecoveredInjectionSet of every accepted injection.")
@click.option("--zero-lag", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="EventSet of the unshifted branches.")
@device_option("Checked like every node's (cuda must exist); aggregation runs on the CPU.")
@click.option("--veto", "veto_specs", multiple=True,
              help="IFO:FILE, a veto segment file of one ifo (segwizard text or LIGO_LW XML); repeat per file.")
@click.option("--shifts", default=None, help="Timeslide step per ifo, seconds (needed with --veto).")
@click.option("--expected-vetoed-livetime", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds of the background livetime the plan's vetoes remove.")
@click.option("--expected-vetoed-injections", type=click.IntRange(min=0), default=0, show_default=True,
              help="Accepted injections at vetoed moments, by the plan.")
@click.option("--input", "inputs", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="An infer node's events file; repeat once per node.")
def main(expected_livetime: float, expected_injections: int, background: Path, foreground: Path, zero_lag: Path,
         device: str, veto_specs: tuple[str, ...], shifts: str | None, expected_vetoed_livetime: float,
         expected_vetoed_injections: int, inputs: tuple[Path, ...]) -> list[Path]:
    """Merge the infer nodes' events (inputs kept), less vetoed times, and check Tb and the injections against the
    plan."""
    if not (math.isfinite(expected_livetime) and expected_livetime > 0):
        raise click.BadParameter(f"must be > 0, got {expected_livetime}", param_hint="--expected-livetime")
    require_device(device)
    return aggregate(list(inputs), expected_livetime, expected_injections, background, zero_lag, foreground,
                     _veto_check(veto_specs, shifts, expected_vetoed_livetime, expected_vetoed_injections))


def _veto_check(specs: Sequence[str], shifts: str | None, seconds: float, injections: int) -> VetoCheck | None:
    """What ``--veto`` and ``--shifts`` ask for (None without vetoes); the files are read with the inputs."""
    if not specs:
        return None
    if shifts is None:
        raise click.BadParameter("--veto needs the run's --shifts", param_hint="--shifts")
    try:
        steps = tuple(float(step) for step in split(shifts))
    except ValueError:
        raise click.BadParameter(f"give numbers, comma-separated; got {shifts!r}", param_hint="--shifts") from None
    return VetoCheck([parse_veto(spec) for spec in specs], steps, seconds, injections)

"""What every search over the timeslid test set takes and names alike (``aframe-infer`` and the matched-filter
reference): its ``--branch SHIFT_INDEX:FILE`` and ``--shifts`` options, and the plan's label of a branch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import click

from executables.common.cli import split
from executables.common.shared import data_option

#: Livetime slack (s) between a node's branches and the plan: float round-off only.
LIVETIME_TOLERANCE = 1e-6


def parse_branch(value: str) -> tuple[int, Path]:
    """``SHIFT_INDEX:FILE`` -> (index, path)."""
    index, sep, path = value.partition(":")
    if not sep or not index.isdigit() or not path:
        raise click.BadParameter(f"expected SHIFT_INDEX:FILE, got {value!r}", param_hint="--branch")
    return int(index), Path(path)


def parse_shifts(value: str, ifos: Sequence[str]) -> tuple[float, ...]:
    """``--shifts``: one finite, non-negative step (s) per ifo."""
    try:
        steps = tuple(float(part) for part in split(value))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated seconds, got {value!r}", param_hint="--shifts") from None
    if len(steps) != len(ifos) or not all(math.isfinite(s) and s >= 0 for s in steps):
        raise click.BadParameter(f"need one finite step >= 0 per ifo ({','.join(ifos)}), got {value!r}",
                                 param_hint="--shifts")
    return steps


def _exact(value: float) -> str:
    """A GPS time or duration as the plan writes it: whole numbers without a decimal point."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def branch_label(t0: float, duration: float, index: int) -> str:
    """How the plan names a branch: ``T0-DURATION:SHIFT`` (``aframe_dag.timeslides.Branch.label``)."""
    return f"{_exact(t0)}-{_exact(duration)}:{index}"


class BranchNaming:
    """The label and role of a branch with ``t0``, ``duration`` and shift ``index``: zero-lag at shift 0, background
    otherwise (``aframe_dag.timeslides``)."""

    t0: float
    duration: float
    index: int

    @property
    def label(self) -> str:
        return branch_label(self.t0, self.duration, self.index)

    @property
    def background(self) -> bool:
        return self.index != 0


def checked_branches(body):
    """The options of a node that searches branches the plan counted: ``--expected-livetime``,
    ``--expected-injections`` (checked before any work), ``--output`` and one ``--branch`` per branch."""
    options = [
        click.option("--expected-livetime", type=click.FloatRange(min=0), required=True,
                     help="Background livetime (s) of the shifted branches, from the plan."),
        click.option("--expected-injections", type=click.IntRange(min=0), required=True,
                     help="Accepted injections in the branches, from the plan."),
        click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
                     help="Per-node events file to write."),
        click.option("--branch", "branch_specs", multiple=True, required=True,
                     help="SHIFT_INDEX:BACKGROUND_FILE, once per branch."),
    ]
    return _decorated(body, options)


def timeslid_injections(body):
    """The options of a node that adds the test injections to timeslid branches: ``--injections``, ``--ifos``,
    ``--shifts`` and ``--sample-rate`` (aframe-infer and the matched-filter reference alike)."""
    options = [
        click.option("--injections", type=click.Path(dir_okay=False, path_type=Path), required=True,
                     help="Merged test injections (ResponseSet with injection_time and shift)."),
        data_option("ifos", default="H1,L1", show_default=True, help="Comma-separated interferometers."),
        click.option("--shifts", default="0,1", show_default=True,
                     help="Timeslide step per ifo, seconds (shift index i moves ifo k by i x step k)."),
        data_option("sample_rate", positive=True, required=True),
    ]
    return _decorated(body, options)


def _decorated(body, options):
    """``body`` with ``options`` in the order given (the first shows first in --help)."""
    for option in reversed(options):
        body = option(body)
    return body

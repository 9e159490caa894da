"""``[reference] matched_filter``: the matched-filter search over the network's test set, as optional nodes.

A bank node (``aframe-reference-bank``: the injection prior's ranges, placed against the first test file's PSD), one
filter node per test background file carrying every branch (shift) the plan gave that file, so each file's ifos are
filtered once (``aframe-reference-filter``), then the network's own aggregate and sensitive-volume nodes on their
events (same vetoes, same expected Tb and injection count), writing under ``<results_dir>/reference/``. The bank and
filter programs run from ``[reference] environment`` (PyCBC's numpy pin may clash with this package's).
"""

from __future__ import annotations

import dataclasses
from itertools import groupby

from ..timeslides import Branch
from .analysis import aggregate_node, sv_node
from .arguments import options, repeated
from .layout import Layout
from .model import Node, Stage

#: Stages whose programs need PyCBC, so run from [reference] environment.
PYCBC_STAGES = ("reference-bank", "reference-filter")


def reference_layout(layout: Layout) -> Layout:
    """The run's layout with its results under ``<results>/reference``."""
    return dataclasses.replace(layout, results=f"{layout.results}/reference")


def bank_node(config, layout: Layout, background: str) -> Node:
    """The template bank for the injection prior."""
    reference, shared = config["reference"], config.shared()
    output = f"{reference_layout(layout).results}/bank.hdf5"
    arguments = options(
        prior=config["testing"]["prior"], background=background, ifos=shared["ifos"],
        sample_rate=shared["sample_rate"], psd_length=config["infer"]["psd_length"],
        approximant=reference["approximant"], minimal_match=reference["minimal_match"], f_low=reference["f_low"],
        mass1=reference["mass1"] or None, mass2=reference["mass2"] or None, spin=reference["spin"] or None,
        seed=config["run"]["seed"], output=output,
    )
    return Node("reference-bank", "reference-bank", arguments, (background,), (output,))


def filter_nodes(config, layout: Layout, bank: str, branches: list[Branch]) -> list[Node]:
    """One node per test file with all of its branches; each asserts the livetime and injections it holds."""
    reference, shared, ours = config["reference"], config.shared(), reference_layout(layout)
    common = options(
        bank=bank, injections=layout.injections, ifos=shared["ifos"], shifts=config["testing"]["shifts"],
        sample_rate=shared["sample_rate"], f_low=reference["f_low"], psd_length=config["infer"]["psd_length"],
        snr_threshold=reference["snr_threshold"], trigger_window=reference["trigger_window"],
        coincidence_margin=reference["coincidence_margin"], cluster_length=config["infer"]["cluster_length"],
    )
    files = [list(group) for _, group in groupby(branches, key=lambda b: (b.start, b.duration))]
    width = max(4, len(str(len(files) - 1)))
    nodes = []
    for index, mine in enumerate(files):
        name = f"reference-filter-{index:0{width}d}"
        path = layout.background("test", mine[0].start, mine[0].duration)
        arguments = common + options(
            expected_livetime=sum(b.livetime for b in mine if b.background),
            expected_injections=sum(b.injections for b in mine), output=ours.events(name),
        ) + repeated("branch", [f"{b.shift}:{path}" for b in mine])
        nodes.append(Node(name, "reference-filter", arguments, (bank, layout.injections, path), (ours.events(name),)))
    return nodes


def reference_nodes(config, layout: Layout, branches: list[Branch], livetime: float, injections: int,
                    vetoes: list[tuple[str, str]], vetoed: dict[str, float]) -> list[Node]:
    """Every reference node (none unless ``[reference] matched_filter``)."""
    if not config["reference"]["matched_filter"]:
        return []
    bank = bank_node(config, layout, layout.background("test", branches[0].start, branches[0].duration))
    filters = filter_nodes(config, layout, bank.outputs[0], branches)
    ours = reference_layout(layout)
    aggregate = aggregate_node(config, ours, filters, livetime, injections, vetoes, vetoed)
    sv = sv_node(config, ours, vetoed["vetoed_injections"])
    return [bank, *filters, aggregate._replace(name="reference-aggregate", stage="reference-aggregate"),
            sv._replace(name="reference-sv", stage="reference-sv")]


def in_environment(config, stage: Stage) -> Stage:
    """A PyCBC stage's program from ``[reference] environment``'s bin/ (when set); other stages as they are."""
    environment = config["reference"]["environment"]
    if stage.name not in PYCBC_STAGES or not environment:
        return stage
    return dataclasses.replace(stage, program=f"{environment.rstrip('/')}/bin/{stage.program}")

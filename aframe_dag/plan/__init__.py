"""Config -> Workflow: every node of the run, a pure function of the config (and the segment list)."""

from __future__ import annotations

import math

from ..bulk import without_cyclic_gc
from ..errors import ConfigError
from ..timeslides import Unreachable, bundle, plan_branches
from .analysis import aggregate_node, infer_nodes, summary_node, sv_node
from .data import background_nodes, injection_nodes, training_waveform_nodes, validation_waveform_nodes
from .layout import Layout
from .model import Node, Stage, Workflow, link
from .reference import in_environment, reference_nodes
from .segments import analysis_segments, chunks
from .stages import category_limits, make_stage
from .training import export_node, trained_model, training_nodes
from .vetoes import read_vetoes, veto_files

__all__ = ["plan", "Workflow", "Node", "Stage", "Layout"]


def _files(config, kind: str, available) -> list[tuple[int, int]]:
    data = config["data"]
    files = chunks(analysis_segments(config, kind, available), data["max_segment_length"],
                   data[f"min_{kind}_segment_length"])
    if not files:
        raise ConfigError(f"no {kind}ing segment is at least min_{kind}_segment_length long",
                          config.path, "data", f"min_{kind}_segment_length")
    return files


def _branches(config, test_files):
    data, testing = config["data"], config["testing"]
    vetoes = read_vetoes(config)
    try:
        return plan_branches(
            test_files, testing["shifts"], dead_time=config["infer"]["psd_length"],
            minimum=data["kernel_length"] + data["fduration"], Tb=testing["Tb"],
            num_injections=testing["num_injections"], spacing=testing["spacing"], buffer=testing["buffer"],
            vetoes=vetoes,
        )
    except Unreachable as exc:
        vetoed = " (live time: the vetoes' times left out)" if vetoes else ""
        raise ConfigError(f"Tb or num_injections cannot be reached with the testing data{vetoed}: {exc}; "
                          "lower them or lengthen the testing span", config.path, "testing") from None


@without_cyclic_gc
def plan(config, available=None) -> Workflow:
    """Plan the whole run; `available` is the segment list where real data exist (None for simulated noise)."""
    layout = Layout.from_config(config)
    training = config["train"]["model"] is None  # a reused model needs no training data and no training
    train_files = _files(config, "train", available) if training else []
    test_files = _files(config, "test", available)
    branches = _branches(config, test_files)
    train_backgrounds = [layout.background("train", *f) for f in train_files]

    nodes: list[Node] = []
    nodes += background_nodes(config, layout, "train", train_files)
    nodes += background_nodes(config, layout, "test", test_files)
    if training:
        nodes += training_waveform_nodes(config, layout)
        nodes += validation_waveform_nodes(config, layout, train_backgrounds[-1])
    nodes += injection_nodes(config, layout, branches)
    if training:
        nodes += training_nodes(config, layout, train_backgrounds)
    nodes.append(export_node(config, layout))
    infers = infer_nodes(config, layout, bundle(branches, config["infer"]["seconds_per_node"]))
    background = [b for b in branches if b.background]
    livetime = sum(b.livetime for b in background)
    injections = sum(b.injections for b in branches)
    vetoes = veto_files(config)
    vetoed = {"vetoes": len(vetoes), "vetoed": math.fsum(b.vetoed for b in background),
              "vetoed_injections": sum(b.vetoed_injections for b in branches)}
    nodes += infers
    nodes.append(aggregate_node(config, layout, infers, livetime, injections, vetoes, vetoed))
    nodes.append(sv_node(config, layout, vetoed["vetoed_injections"]))
    nodes += reference_nodes(config, layout, branches, livetime, injections, vetoes, vetoed)
    nodes.append(summary_node(config, layout, trained_model(config, layout).rpartition("/")[0]))

    stages = {name: in_environment(config, make_stage(config, name))
              for name in dict.fromkeys(node.stage for node in nodes)}
    totals = {
        "livetime": livetime, "injections": injections, **vetoed,
        "shifts": max(b.shift for b in branches if b.background),
        "train_files": len(train_files), "test_files": len(test_files),
    }
    return link(config["run"]["name"], layout.condor, stages, nodes, totals, category_limits(config))

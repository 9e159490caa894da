"""What a node that has not started waits for, in words (`why`): its unfinished parents, summarised when there are
many, or what the local executor says it waits for (a free worker, CPUs, memory, GPUs, room in its category)."""

from __future__ import annotations

from collections import Counter

from ..dagfile import Dag

NAMED = 5  # parents named one by one, at most
# the parents worth naming first: those that stop the node for good, then those nearest to finishing
URGENCY = ("failed", "futile", "held", "running", "post", "idle", "pre", "ready", "not-ready", "not-started")


def _by_stage(parents: list[str], nodes: dict) -> str:
    """`infer 12 running, 3 idle; merge 1 failed`: counts of parents by stage, then state."""
    stages: dict[str, Counter] = {}
    for parent in parents:
        stages.setdefault(nodes[parent].stage, Counter())[nodes[parent].status] += 1
    return "; ".join(f"{stage} " + ", ".join(f"{count} {state}" for state, count in counts.most_common())
                     for stage, counts in stages.items())


def parent_lines(dag: Dag, node: str, nodes: dict) -> list[str]:
    """The node's parents that are not done (`nodes`: name -> a state with .status and .stage): each named when
    there are few; else counted by stage and state, with the most urgent few named."""
    parents = dag.parents.get(node, [])
    unfinished = [parent for parent in parents if parent in nodes and nodes[parent].status != "done"]
    named = [f"{parent} ({nodes[parent].status})" for parent in unfinished]
    if len(unfinished) <= NAMED:
        return ["  waits for: " + ", ".join(named)] if unfinished else []
    rank = {state: index for index, state in enumerate(URGENCY)}
    first = sorted(range(len(unfinished)), key=lambda i: rank.get(nodes[unfinished[i]].status, len(URGENCY)))
    return [f"  waits for {len(unfinished)} of its {len(parents)} parents: {_by_stage(unfinished, nodes)}",
            "  among them: " + ", ".join(named[i] for i in first[:NAMED])
            + f" and {len(unfinished) - NAMED} more (`aframe-dag status --nodes` lists every node)"]


def ready_line(waits: str, local: bool) -> str:
    """A node whose parents are all done: what keeps it from starting, when the local executor says so."""
    if local and waits:
        return f"  its parents are done; `aframe-dag run` has not started it yet: it waits for {waits}"
    return "  nothing it depends on is missing: it runs as soon as DAGMan (or `aframe-dag run`) gets to it"

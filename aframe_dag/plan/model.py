"""The workflow model: stages, nodes with declared inputs and outputs, edges that follow from the files."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import NamedTuple

NODE_NAME = re.compile(r"[A-Za-z0-9_-]+")
RESERVED_NAMES = {"PARENT", "CHILD", "ALL_NODES"}  # DAGMan refuses them as node names, in any case


@dataclass(frozen=True)
class Stage:
    """What every node of one stage kind shares: program, resources, retry policy, submit template."""

    name: str
    program: str
    request_cpus: int
    request_memory: int
    request_disk: int
    request_gpus: int
    gpus_minimum_memory: int
    retries: int
    priority: int = 0
    template: str | None = None
    checkpoint: bool = False
    local: bool = False
    category: str | None = None
    transfer_inputs: tuple[str, ...] = ()  # files every job of the stage is sent in file-transfer mode

    @property
    def environment(self) -> dict[str, str]:
        """Threads match request_cpus, so a node computes the same bytes under HTCondor and locally."""
        threads = str(self.request_cpus)
        return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}


class Node(NamedTuple):
    """One DAG node: a program with explicit arguments, the files it reads and the files it writes.

    A tuple, not a frozen dataclass: a large plan makes each of its 100k nodes twice, at a third of the cost.
    """

    name: str
    stage: str
    arguments: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    salt: str = ""
    final: bool = False
    hash: str = ""

    def linked(self, digest: str) -> Node:
        """This node with its hash (dataclasses.replace costs three times as much, 100k times over)."""
        return Node(self.name, self.stage, self.arguments, self.inputs, self.outputs, self.salt, self.final, digest)


@dataclass
class Workflow:
    """A planned run: its stages and nodes in a topological order, parent edges and the plan's totals."""

    name: str
    condor_dir: str
    stages: dict[str, Stage]
    nodes: list[Node]
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)

    @property
    def final(self) -> Node | None:
        return next((node for node in self.nodes if node.final), None)

    def by_stage(self) -> dict[str, list[Node]]:
        """Nodes grouped by stage, in plan order."""
        groups: dict[str, list[Node]] = {}
        for node in self.nodes:
            groups.setdefault(node.stage, []).append(node)
        return groups


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def link(name: str, condor_dir: str, stages: dict[str, Stage], nodes: list[Node], totals: dict,
         limits: dict[str, int]) -> Workflow:
    """Edges from declared files (a node's parents produce its inputs) and each node's hash.

    A node's hash covers its program, arguments and its parents' hashes, so changing one stage's
    settings invalidates that stage and what depends on it, nothing upstream.
    """
    producer: dict[str, str] = {}
    for node in nodes:
        for output in node.outputs:
            if output in producer:
                raise ValueError(f"{output} is written by both {producer[output]} and {node.name}")
            producer[output] = node.name
    parents, hashes, linked = {}, {}, []
    for node in nodes:
        if not NODE_NAME.fullmatch(node.name) or node.name.upper() in RESERVED_NAMES:
            raise ValueError(f"node name {node.name!r} is one DAGMan refuses")
        if node.name in hashes:
            raise ValueError(f"node {node.name} is planned twice")
        ups = tuple(sorted({producer[i] for i in node.inputs if i in producer})) if node.inputs else ()
        missing = [up for up in ups if up not in hashes]
        if missing:
            raise ValueError(f"{node.name} is planned before its parents {missing}")
        hashes[node.name] = _digest(stages[node.stage].program, *node.arguments, node.salt,
                                    *[hashes[up] for up in ups])
        parents[node.name] = ups
        linked.append(node.linked(hashes[node.name]))
    return Workflow(name=name, condor_dir=condor_dir, stages=stages, nodes=linked, parents=parents, totals=totals,
                    limits=limits)

"""What status knows of a run: each node's state and the facts behind it, counted per stage and for the DAG."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..names import DAG_FILE
from .nodelog import Attempt

ACTIVE = ("pre", "idle", "running", "held", "post")
FINISHED = ("done", "failed", "stopped")
COUNTED = ("done", "running", "idle", "held", "failed")


@dataclass
class NodeState:
    """One node's state and the facts behind it."""

    name: str
    stage: str
    status: str = "not-started"
    source: str = "none"
    final: bool = False
    retries: int = 0
    max_retries: int = 0
    exit_code: int | None = None
    signal: int | None = None
    hold_reason: str | None = None
    removed_reason: str | None = None
    host: str | None = None
    gpus: str | None = None
    start: float | None = None  # the first attempt's start, over every run
    end: float | None = None  # the last attempt's end
    elapsed: float | None = None  # seconds its jobs ran, over every attempt and run
    details: str = ""
    job: str | None = None
    holds: int = 0
    pre_skipped: bool = False
    post_exit: int | None = None
    waits: str = ""  # what a ready node waits for, when the local executor's status file says
    marker: dict[str, Any] | None = field(default=None, repr=False)
    attempts: list[Attempt] = field(default_factory=list)  # its history, first job first (nodelog)


@dataclass
class StageSummary:
    """Counts of one stage's nodes (or of the whole DAG, stage "total")."""

    stage: str
    done: int = 0
    running: int = 0
    idle: int = 0
    held: int = 0
    failed: int = 0
    waiting: int = 0
    total: int = 0
    retries: int = 0
    elapsed: float | None = None  # wall-clock span from the first start to the last end (or now)


@dataclass
class RunStatus:
    """A run's state: the DAG's and every node's, with where it came from."""

    condor_dir: Path
    name: str | None
    dag_status: str
    nodes: dict[str, NodeState]
    updated: float | None = None  # when the node status file was written
    live: bool = False  # a schedd answered with the DAGMan job that runs this DAG
    rescue: Path | None = None
    notes: list[str] = field(default_factory=list)
    now: float = field(default_factory=time.time)
    dag: Path | None = None  # the DAG file (aframe.dag in the condor dir, or any DAG file given)

    @property
    def where(self) -> str:
        """How commands name this run: its condor dir, or the DAG file when it is not the dir's aframe.dag."""
        return where_of(self.dag or Path(self.condor_dir) / DAG_FILE)

    @property
    def finished(self) -> bool:
        return self.dag_status in FINISHED

    def stages(self) -> list[StageSummary]:
        """One row per stage, in DAG order (FINAL's stage last)."""
        rows: dict[str, list[NodeState]] = {}
        for node in sorted(self.nodes.values(), key=lambda n: n.final):
            rows.setdefault(node.stage, []).append(node)
        return [self._summary(stage, nodes) for stage, nodes in rows.items()]

    def totals(self) -> StageSummary:
        return self._summary("total", list(self.nodes.values()))

    def _summary(self, stage: str, nodes: list[NodeState]) -> StageSummary:
        row = StageSummary(stage, total=len(nodes))
        for node in nodes:
            if node.status in COUNTED:
                setattr(row, node.status, getattr(row, node.status) + 1)
            else:
                row.waiting += 1
            row.retries += node.retries
        starts = [n.start for n in nodes if n.start is not None]
        if starts:
            ends = [n.end if n.end is not None else self.now for n in nodes if n.start is not None]
            row.elapsed = max(ends) - min(starts)
        return row

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (paths as strings, times as Unix seconds)."""
        nodes = {}
        for name, node in self.nodes.items():
            record = asdict(node)
            record.pop("marker")
            nodes[name] = record
        return {
            "condor_dir": str(self.condor_dir), "name": self.name, "dag_status": self.dag_status,
            "finished": self.finished, "updated": self.updated, "live": self.live,
            "rescue": str(self.rescue) if self.rescue else None, "notes": self.notes,
            "totals": asdict(self.totals()), "stages": [asdict(row) for row in self.stages()], "nodes": nodes,
        }


def where_of(dag: Path) -> str:
    """A DAG as commands take it: its condor dir for an aframe.dag, else the DAG file itself."""
    return str(dag.parent) if dag.name == DAG_FILE else str(dag)

"""What every node of the run did, as `aframe-dag status` and `why` see it (node status file, nodes.log, rescue files,
done-markers, stderr), reduced to what summary.json and the report show."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from aframe_dag.condordir.dag import load_dag
from aframe_dag.dagfile import Dag
from aframe_dag.errors import UserError
from aframe_dag.status.merge import read_status
from aframe_dag.status.model import ACTIVE, NodeState, RunStatus
from aframe_dag.status.nodelog import outcomes, this_run
from aframe_dag.status.sources import valid_marker
from aframe_dag.status.why import STDERR_LINES, explain, job_description, tail
from executables.common.errors import InputError

#: Exit codes of the node contract, in words.
EXIT_MEANING = {1: "transient failure, retries used up", 2: "permanent failure: bad input or config",
                85: "checkpointed, not requeued"}
PROBLEMS = ("failed", "held")
#: Problem nodes explained at length (`aframe-dag why`, which parses the DAG again for each); the rest get a line.
EXPLAINED = 10
#: Which DAG node writes each kind of input the report reads; the first one the DAG has is the producer.
PRODUCERS = {"events": ("aggregate",), "sv": ("sv",), "train": ("train", "tune-select", "remote-train"),
             "injections": ("injections-merge",), "reference-events": ("reference-aggregate",),
             "reference-sv": ("reference-sv",)}


def reason(state: NodeState) -> str:
    """One line on why a node is not done: exit code, signal, hold or removal, or what DAGMan said."""
    if state.hold_reason:
        return f"held: {state.hold_reason}"
    if state.removed_reason:
        return f"removed: {state.removed_reason}"
    if state.signal is not None:
        return f"killed by signal {state.signal}"
    if state.exit_code is not None:
        return f"exit code {state.exit_code} ({EXIT_MEANING.get(state.exit_code, 'failure')})"
    return state.details or state.status


def settle(node: NodeState, marker: dict[str, Any] | None) -> None:
    """A node the files still call active, seen from the FINAL node (which DAGMan starts only once every other node
    has finished): the node status file lags behind (DAGMan rewrites it every 30 s), so its done-marker or the end
    of its last job in nodes.log (this run's, not an earlier run's) decides."""
    if marker is not None:
        node.status, node.source, node.marker = "done", "done-marker", marker
    elif this_run(node.attempts) and node.end is not None:
        node.status, node.source = ("done" if node.exit_code == 0 else "failed"), "nodes log"


def attempt_records(node: NodeState) -> list[dict[str, Any]]:
    """Each job the node ran, over every run: where, when, and how it ended in words."""
    words = outcomes(node.attempts, node.status in ACTIVE)
    return [{"job": attempt.job, "host": attempt.host, "gpus": attempt.gpus, "start": attempt.started,
             "end": attempt.ended, "outcome": outcome} for attempt, outcome in zip(node.attempts, words, strict=True)]


@dataclass
class RunState:
    """The run's nodes and stages, and the failed or held nodes with their stderr."""

    status: RunStatus
    dag: Dag

    @classmethod
    def read(cls, condor_dir: Path) -> RunState:
        """Read the condor dir (no schedd query: the FINAL node reads the files DAGMan and the executor wrote)."""
        try:
            dag = load_dag(condor_dir)
            status = read_status(condor_dir, schedd=False)
        except UserError as exc:
            raise InputError(Path(condor_dir) / "aframe.dag", None, f"cannot read the DAG: {exc}") from None
        for node in status.nodes.values():
            if not node.final and node.status in ACTIVE:
                settle(node, valid_marker(condor_dir, dag, node.name))
        return cls(status, dag)

    @property
    def nodes(self) -> dict[str, NodeState]:
        """Every node but the FINAL one (this program)."""
        return {name: node for name, node in self.status.nodes.items() if not node.final}

    def stages(self) -> dict[str, dict[str, Any]]:
        """Per stage: done / failed / held / running / waiting / total nodes, retries, wall span and node time."""
        rows = {}
        for row in self.status.stages():
            nodes = [node for node in self.nodes.values() if node.stage == row.stage]
            if not nodes:
                continue
            rows[row.stage] = {"done": row.done, "failed": row.failed, "held": row.held,
                               "running": row.running + row.idle, "waiting": row.waiting, "total": row.total,
                               "retries": row.retries, "elapsed": row.elapsed,
                               "node_seconds": sum(node.elapsed or 0.0 for node in nodes)}
        return rows

    def node_records(self) -> dict[str, dict[str, Any]]:
        """Per node: done, when it finished (done-marker), status, exit code, retries, timings and its jobs."""
        records = {}
        for name, node in self.nodes.items():
            records[name] = {"done": node.status == "done", "finished": (node.marker or {}).get("finished"),
                             "status": node.status, "stage": node.stage, "exit_code": node.exit_code,
                             "retries": node.retries, "host": node.host, "start": node.start, "end": node.end,
                             "elapsed": node.elapsed, "attempts": attempt_records(node)}
        return records

    @cached_property
    def problems(self) -> list[dict[str, Any]]:
        """Failed and held nodes: why, the end of their stderr and (the first few) the `aframe-dag why` text."""
        found = []
        for name, node in self.nodes.items():
            if node.status not in PROBLEMS:
                continue
            stderr = tail(job_description(self.status.condor_dir, self.dag, name)["error"], STDERR_LINES)
            why = explain(self.status.condor_dir, name, self.status) if len(found) < EXPLAINED else None
            found.append({"node": name, "stage": node.stage, "status": node.status, "reason": reason(node),
                          "exit_code": node.exit_code, "retries": node.retries, "stderr": stderr or [], "why": why})
        return found

    def producer(self, kind: str) -> str | None:
        """The DAG node that writes this kind of input (see ``PRODUCERS``), or None when the DAG has none."""
        return next((name for name in PRODUCERS[kind] if name in self.status.nodes), None)

    def blocked_by(self, node: str) -> list[str]:
        """The failed (or held) nodes upstream of ``node`` that kept it from running; [node] when it failed itself."""
        memo: dict[str, list[str]] = {}

        def visit(name: str) -> list[str]:
            if name not in memo:
                state = self.status.nodes.get(name)
                if state is None or state.status == "done":
                    memo[name] = []
                elif state.status in ("failed", "held"):
                    memo[name] = [name]
                else:
                    parents = self.dag.parents.get(name, [])
                    memo[name] = list(dict.fromkeys(c for parent in parents for c in visit(parent)))
            return memo[name]

        return visit(node)

    def why_missing(self, node: str | None) -> str:
        """Why a file that ``node`` writes is not there, in words."""
        if node is None:
            return "no node of this DAG writes it"
        state = self.status.nodes[node]
        if state.status == "done":
            return f"node {node} is done, yet the file is not there (moved or deleted since?)"
        if state.status in ("failed", "held"):
            return f"node {node} {state.status} ({reason(state)})"
        culprits = self.blocked_by(node)
        if culprits:
            return f"node {node} did not run: it needs {', '.join(culprits)}, which failed"
        return f"node {node} is {state.status}"

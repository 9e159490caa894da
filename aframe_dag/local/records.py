"""The files DAGMan's tools read, written the way DAGMan writes them: node status file, user log, rescue file."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..names import rescue_path

# Node states as DAGMan numbers them in NODE_STATUS_FILE.
NOT_READY, READY, PRERUN, SUBMITTED, POSTRUN, DONE, ERROR, FUTILE = range(8)
STATE_NAMES = ["STATUS_NOT_READY", "STATUS_READY", "STATUS_PRERUN", "STATUS_SUBMITTED", "STATUS_POSTRUN",
               "STATUS_DONE", "STATUS_ERROR", "STATUS_FUTILE"]
HOST = f"<127.0.0.1:0?alias={socket.gethostname()}>"
WAITS_ATTRIBUTE = "AframeWaitsFor"  # NodeStatus: why a ready node has not started (NodeRecord.waits)


@dataclass
class NodeRecord:
    """What the executor knows of one node, in the terms of DAGMan's node status file."""

    name: str
    state: int = NOT_READY
    details: str = ""
    retries: int = 0
    queued: int = 0
    waits: str = ""  # what a ready node waits for here (the executor's own attribute; DAGMan writes none)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _stamp(when: float) -> str:
    return f'{int(when)}; /* "{time.ctime(when)}" */'


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


def write_status_file(path: Path, dag_file: str, dag_state: int, nodes: list[NodeRecord],
                      next_update: float = 0) -> None:
    """NODE_STATUS_FILE: one DagStatus ad, one NodeStatus ad per node (DAG order, FINAL last), StatusEnd.

    next_update is when the file will be written again (0: never, the DAG has ended), as DAGMan writes it.
    """
    now = time.time()
    counts = [sum(1 for node in nodes if node.state == state) for state in range(8)]
    lines = ["[", '  Type = "DagStatus";', "  DagFiles = {", f"    {_quote(dag_file)}", "  };",
             f"  Timestamp = {_stamp(now)}",
             f'  DagStatus = {dag_state}; /* "{STATE_NAMES[dag_state]}" */',
             f"  NodesTotal = {len(nodes)};", f"  NodesDone = {counts[DONE]};", f"  NodesPre = {counts[PRERUN]};",
             f"  NodesQueued = {counts[SUBMITTED]};", f"  NodesPost = {counts[POSTRUN]};",
             f"  NodesReady = {counts[READY]};", f"  NodesUnready = {counts[NOT_READY]};",
             f"  NodesFutile = {counts[FUTILE]};", f"  NodesFailed = {counts[ERROR]};",
             "  JobProcsHeld = 0;", "  JobProcsIdle = 0; /* includes held */", "]"]
    for node in nodes:
        lines += ["[", '  Type = "NodeStatus";', f"  Node = {_quote(node.name)};",
                  f'  NodeStatus = {node.state}; /* "{STATE_NAMES[node.state]}" */',
                  f"  StatusDetails = {_quote(node.details)};", f"  RetryCount = {node.retries};",
                  f"  JobProcsQueued = {node.queued};", "  JobProcsHeld = 0;"]
        lines += [f"  {WAITS_ATTRIBUTE} = {_quote(node.waits)};"] if node.waits else []
        lines.append("]")
    upcoming = f"{_stamp(next_update)}" if next_update else '0; /* "none" */'
    lines += ["[", '  Type = "StatusEnd";', f"  EndTime = {_stamp(now)}", f"  NextUpdate = {upcoming}", "]"]
    _write_atomically(path, "\n".join(lines) + "\n")


@dataclass
class EventLog:
    """An HTCondor user log (the events htcondor2.JobEventLog reads), appended to one or more files."""

    paths: list[Path] = field(default_factory=list)

    def _write(self, code: int, job: tuple[int, int], text: str, body: list[str], extra: list[Path]) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        cluster, proc, subproc = (*job, 0)[:3]
        entry = "\n".join([f"{code:03d} ({cluster:03d}.{proc:03d}.{subproc:03d}) {stamp} {text}", *body, "..."]) + "\n"
        for path in [*self.paths, *extra]:
            with open(path, "a") as handle:
                handle.write(entry)

    def submitted(self, job, node: str, extra=(), noop: bool = False) -> None:
        host = "<dummy-submit-for-noop-job>" if noop else HOST  # what DAGMan writes for a NOOP node
        self._write(0, job, f"Job submitted from host: {host}", [f"    DAG Node: {node}"], list(extra))

    def executing(self, job, gpus: list[str], extra=()) -> None:
        body = [f"\tSlotName: local@{socket.gethostname()}"]
        if gpus:
            body.append(f'\tAssignedGPUs = "{",".join(gpus)}"')
        self._write(1, job, f"Job executing on host: {HOST}", body, list(extra))

    def terminated(self, job, returncode: int, resources: tuple[int, int, list[str]], extra=()) -> None:
        """Termination with the partitionable-resources table (CPUs, memory and assigned GPUs requested)."""
        if returncode >= 0:
            status = [f"\t(1) Normal termination (return value {returncode})"]
        else:
            status = [f"\t(0) Abnormal termination (signal {-returncode})", "\t(0) No core file"]
        usage = [f"\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  {kind} Usage"
                 for kind in ("Run Remote", "Run Local", "Total Remote", "Total Local")]
        transfer = [f"\t0  -  {kind} By Job" for kind in ("Run Bytes Sent", "Run Bytes Received",
                                                          "Total Bytes Sent", "Total Bytes Received")]
        cpus, memory, gpus = resources
        table = ["\tPartitionable Resources :    Usage  Request Allocated Assigned",
                 f"\t   Cpus                 :        0 {cpus:>8} {cpus:>9}",
                 f"\t   GPUs                 :          {len(gpus):>8} {len(gpus):>9} {','.join(gpus)}",
                 f"\t   Memory (MB)          :        0 {memory:>8} {memory:>9}"]
        self._write(5, job, "Job terminated.", status + usage + transfer + table, list(extra))

    def aborted(self, job, reason: str, extra=()) -> None:
        self._write(9, job, "Job was aborted.", [f"\t{reason}"], list(extra))

    def checkpointed(self, job, code: int, extra=()) -> None:
        self._write(8, job, f"Job exited with checkpoint_exit_code {code}: requeued", [], list(extra))

    def post_terminated(self, job, node: str, returncode: int) -> None:
        """DAGMan logs a POST script's end against the node's last job; a status reader takes its verdict."""
        status = (f"\t(1) Normal termination (return value {returncode})" if returncode >= 0
                  else f"\t(0) Abnormal termination (signal {-returncode})")
        self._write(16, job, "POST Script terminated.", [status, f"    DAG Node: {node}"], [])

    def pre_skip(self, number: int, node: str) -> None:
        """DAGMan logs a skipped node against no job: cluster 0, proc 2147483647, a running count."""
        self._write(34, (0, 2147483647, number), "PRE script return value is PRE_SKIP value",
                    [f"    DAG Node: {node}"], [])


def rescue_text(dag_file: str, nodes: list[NodeRecord], retries: dict[str, tuple[int, int | None]],
                failed: list[str]) -> str:
    """A DAGMan-format (partial) rescue file: DONE lines and every node's RETRY line."""
    lines = ["# Rescue DAG file, created after running", f"#   the {dag_file} DAG file (aframe-dag run)",
             f"# Created {time.strftime('%m/%d/%Y %H:%M:%S %Z')}", "# Rescue DAG version: 2.0.1 (partial)", "#",
             f"# Total number of Nodes: {len(nodes)}",
             f"# Nodes premarked DONE: {sum(node.state == DONE for node in nodes)}",
             f"# Nodes that failed: {len(failed)}", f"#   {','.join(failed)},<ENDLIST>", ""]
    for node in nodes:
        if node.name in retries:
            count, unless = retries[node.name]
            lines.append(f"RETRY {node.name} {count}" + (f" UNLESS-EXIT {unless}" if unless is not None else ""))
        if node.state == DONE:
            lines.append(f"DONE {node.name}")
    return "\n".join(lines) + "\n"


def next_rescue_path(dag_path: Path) -> Path:
    """aframe.dag.rescueNNN after the newest existing one."""
    number = 1
    while rescue_path(dag_path, number).exists():
        number += 1
    return rescue_path(dag_path, number)

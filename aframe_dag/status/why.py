"""`aframe-dag why NODE`: why a node is where it is, from its state, its attempts, its command and its stderr."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from ..condordir.dag import dag_path, load_dag
from ..condordir.descriptions import Descriptions, expand, node_dir, submit_source
from ..condordir.running import local_lock_holder
from ..dagfile import Dag
from ..errors import UserError, did_you_mean
from ..names import marker_path, node_error
from .merge import read_status
from .model import ACTIVE, NodeState, RunStatus
from .nodelog import EXIT_WORDS, Attempt, marker_finished, outcomes
from .sources import changed_output, continue_command
from .text import clock, duration
from .waiting import parent_lines, ready_line

STDERR_LINES = 30
POST_LINES = 10


def _htcondor_args(text: str) -> list[str]:
    """HTCondor `arguments` as words: the new syntax ("..." with '...' grouping) or the old (plain words)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        inner = text[1:-1].replace('""', '"')
        try:
            return shlex.split(inner.replace("''", "'\"'\"'"))
        except ValueError:
            return inner.split()
    return text.split()


def job_description(condor_dir, dag: Dag, node: str) -> dict[str, str]:
    """The node's executable, arguments and error file, expanded from its submit description as DAGMan would."""
    condor_dir = Path(condor_dir)
    described: dict[str, str] = {}
    try:
        submit = Descriptions(condor_dir, moved=True).describe(dag.nodes[node], {"JOB": node})
        described = {key: expand(submit, key) for key in ("executable", "arguments", "error") if expand(submit, key)}
    except Exception:  # a missing or odd submit file: fall back to what the DAG says
        pass
    words = _htcondor_args(described.get("arguments", "")) if "arguments" in described else \
        shlex.split(dag.nodes[node].variables.get("nodeargs", ""))
    if "executable" in described:
        described["command"] = shlex.join([described["executable"], *words])
    else:
        source = submit_source(dag.nodes[node], condor_dir) or "its submit description"
        described["command"] = (f"(executable unknown: {source} cannot be read) "
                                + shlex.join(words)).rstrip()
    error = described.get("error") or node_error(node)
    base = node_dir(dag.nodes[node], condor_dir)
    described["error"] = str(Path(error) if Path(error).is_absolute() else base / error)
    return described


def tail(path, lines: int = STDERR_LINES) -> list[str] | None:
    """The last lines of a text file, or None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    return text.splitlines()[-lines:]


def explain(condor_dir, node: str, run: RunStatus | None = None) -> str:
    """Why NODE is where it is: for a failed or held node the exit code or hold reason, retries, command line,
    host and GPUs, and the end of its stderr; for a done node when; for a waiting node what it waits for."""
    dag_file = dag_path(condor_dir)
    condor_dir = dag_file.parent
    dag = load_dag(dag_file)
    if node not in dag.nodes:
        raise UserError(f"{condor_dir}: no node '{node}' in {dag_file.name}{did_you_mean(node, dag.nodes)}")
    run = run or read_status(dag_file)
    state, dag_node = run.nodes[node], dag.nodes[node]
    source = "nothing recorded yet" if state.source == "none" else f"from the {state.source}"
    lines = [f"{node}: {state.status} (stage {state.stage}; {source})"]
    changed = changed_output(condor_dir, dag, node, content=True)
    if changed is not None:
        lines.append(f"  runs again when the DAG is resumed: {changed}")
    if state.status == "done":
        return "\n".join(lines + _done_lines(state, run))
    if state.status in ("not-started", "not-ready", "ready", "futile"):
        waiting = parent_lines(dag, node, run.nodes)
        lines += waiting
        if any(run.nodes[parent].status in ("failed", "futile") for parent in dag.parents.get(node, [])
               if parent in run.nodes):
            lines.append(f"  it cannot run until they succeed: fix them, then `{continue_command(dag_file)}`")
        elif dag_node.final and not waiting:
            lines.append("  the FINAL node runs when every other node has finished or the DAG stops")
        elif not waiting:
            lines.append(ready_line(state.waits, local_lock_holder(dag_file) is not None))
        return "\n".join(lines + _attempt_lines(state))
    if state.details and state.details not in ("idle", "not_idle"):
        lines.append(f"  DAGMan: {state.details}")
    if state.hold_reason:
        lines.append(f"  hold reason: {state.hold_reason}" + ("" if state.status == "held" else " (before it ended)"))
    if state.removed_reason:
        lines.append(f"  removed: {state.removed_reason}")
    if state.exit_code is not None:
        permanent = dag_node.unless_exit is not None and state.exit_code == dag_node.unless_exit
        meaning = EXIT_WORDS.get(state.exit_code, "failure")
        lines.append(f"  exit code: {state.exit_code} ({meaning})"
                     + (f"; RETRY ... UNLESS-EXIT {dag_node.unless_exit}: not retried" if permanent else ""))
    if state.signal is not None:
        lines.append(f"  killed by signal {state.signal}")
    if state.post_exit is not None:
        lines.append(f"  POST script exit code: {state.post_exit}")
        lines += _post_output_lines(dag_node, condor_dir)
    lines.append(f"  retries: {state.retries} of {state.max_retries} used")
    job = job_description(condor_dir, dag, node)
    lines.append(f"  command: {job['command']}")
    where = [f"host {state.host}" if state.host else "host unknown", f"GPUs {state.gpus}" if state.gpus else "no GPU"]
    if state.job:
        where.append(f"job {state.job}")
    lines.append("  ran on: " + ", ".join(where))
    lines += _timing_lines(state) + _attempt_lines(state)
    if state.status == "idle":
        lines.append(f"  idle: if it stays so, `condor_q -better-analyze {state.job or ''}`".rstrip())
    stderr = tail(job["error"])
    if stderr is None:
        lines.append(f"  stderr: {job['error']} does not exist (yet)")
    else:
        lines.append(f"  stderr ({job['error']}, last {len(stderr)} lines):")
        lines += [f"    {line}" for line in stderr]
    return "\n".join(lines)


def _post_output_lines(dag_node, condor_dir: Path) -> list[str]:
    """The end of what the POST script printed, where its SCRIPT line keeps it (DEBUG file STDOUT|STDERR|ALL)."""
    if dag_node.post is None or dag_node.post.debug is None:
        return []
    path = node_dir(dag_node, condor_dir) / dag_node.post.debug[0]
    output = tail(path, POST_LINES)
    if not output:
        return []
    return [f"  POST script output ({path}, last {len(output)} lines):"] + [f"    {line}" for line in output]


def _timing_lines(state: NodeState) -> list[str]:
    """When the node's first job started, when its last ended, and how long its jobs ran (every run's)."""
    if state.start is None:
        return []
    ended = f", ended {clock(state.end)}" if state.end is not None else ""
    return [f"  started {clock(state.start)}{ended} ({duration(state.elapsed)} running)"]


def _attempt_line(number: int, attempt: Attempt, outcome: str) -> str:
    where = f"job {attempt.job}" + (f" on {attempt.host}" if attempt.host else "")
    line = f"    attempt {number} ({where}): {outcome}"
    if attempt.started is not None:
        line += f"; started {clock(attempt.started)}"
        if attempt.ended is not None:
            line += f", ran {duration(attempt.ended - attempt.started)}"
    return line


def _attempt_lines(state: NodeState) -> list[str]:
    """Every job the node ran, with how it ended, once there is more to tell than its last job's end: an earlier
    job, a hold, or a job before the node went back to waiting."""
    attempts, waiting = state.attempts, state.status in ("not-started", "not-ready", "ready", "futile")
    if len(attempts) < (1 if waiting or state.holds else 2):
        return []
    words = outcomes(attempts, state.status in ACTIVE)
    return ["  attempts:"] + [_attempt_line(number, attempt, outcome)
                              for number, (attempt, outcome) in enumerate(zip(attempts, words, strict=True), start=1)]


def _marker_time(marker: dict[str, Any]) -> str:
    """A done-marker's finishing time on this machine's clock."""
    finished = marker_finished(marker)
    return clock(finished) if finished is not None else str(marker.get("finished", "at an unknown time"))


def _done_lines(state: NodeState, run: RunStatus) -> list[str]:
    lines = []
    if state.marker:
        lines.append(f"  finished {_marker_time(state.marker)} on {state.marker.get('host', 'an unknown host')}"
                     f" (done-marker {marker_path(run.condor_dir, state.name)})")
    elif state.end is not None:
        lines.append(f"  finished {clock(state.end)}" + (f" on {state.host}" if state.host else ""))
    if state.pre_skipped:
        lines.append("  its PRE script skipped it: its outputs were already done")
    if state.retries:
        lines.append(f"  it needed {state.retries} of {state.max_retries} retries")
    if state.holds:
        lines.append(f"  it was held {state.holds} time(s) and released")
    return lines + _timing_lines(state) + _attempt_lines(state)

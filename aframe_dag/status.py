"""What a run is doing, from its files: `status`, `why` and `resubmit` (no click here).

Works the same for a DAG run by DAGMan and one run by the local executor, because both write the same files into the
condor dir: the node status file (`aframe.status`, DAGMan's NODE_STATUS_FILE ClassAds), the node log
(`aframe.dag.nodes.log`, an HTCondor user log whose submit events carry `DAG Node: NAME`), each submit file's own
log (`logs/STAGE.log`, kept across runs: aframe_dag.nodelog), rescue files (`aframe.dag.rescueNNN`) and the nodes'
own done-markers (`done/NODE.json`). A schedd, when one answers, adds what is happening right now.

Which source wins, node by node (later rules override earlier ones):

1. Nothing known: the node is `not-started`.
2. The newest rescue file: its DONE nodes are `done` — used only for nodes the node status file does not list
   (no status file at all, or a node added by `build --force` after that file was written).
3. The node status file (DAGMan's own view): the node's state, its retry count and DAGMan's StatusDetails; its
   DagStatus ad gives the DAG's state. For a submitted node it cannot tell idle from running reliably (and it says
   "idle" for a held job), so:
4. the node log (this run's jobs) decides idle / running / held for a node the status file calls submitted (or when
   there is no status file); a node whose PRE script skipped it (event 034) is `done`. The node log and the submit
   files' logs together give every attempt of every run: its exit code or signal, hold and removal reasons, host,
   GPUs and start/end times (a done-marker closes a last job whose end no log has).
5. A valid done-marker (readable, and with the node hash the DAG passes the node, its outputs still in place —
   what the PRE script checks) makes the node `done`, even when the status file is stale or absent, unless the
   node is active right now (pre / idle / running / held / post) in a live DAG.
6. The schedd, when reachable: the node jobs of the DAGMan job that runs this condor dir's aframe.dag (found by
   the DAG file it runs, wherever it was submitted from: aframe_dag.running) are the live truth for idle /
   running / held and for each node's current job and retries, and a DAGMan job in the queue means the DAG is
   running.

The DAG's state: the schedd's DAGMan job or a held local-executor lock means `running`; otherwise the status
file's DagStatus (`running`, `done`, `failed`, ...); with no status file, a rescue file means `failed`, all nodes
done means `done`, else `not-started`. A status file that says running while the schedd answers without a DAGMan
job, no DAGMan holds aframe.dag.lock and no local executor holds its lock is `stopped` (DAGMan was removed or
killed).
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .condordir.dag import dag_path, load_dag
from .condordir.descriptions import Descriptions, expand, node_dir, submit_source
from .condordir.names import (
    DAG_FILE,
    DAGMAN_OUT,
    LOCAL_LOCK,
    LOCK,
    NODES_LOG,
    RESOLVED,
    default_status_file,
    marker_path,
    node_error,
)
from .dagfile import Dag, rescue_done, rescue_files
from .errors import UserError, did_you_mean
from .local.records import WAITS_ATTRIBUTE
from .local.state import holder_words
from .nodecheck import read_done_marker, why_not_done
from .nodelog import (
    EXIT_WORDS,
    Attempt,
    close_by_marker,
    marker_finished,
    node_logs,
    outcomes,
    ran_for,
    read_history,
    this_run,
)
from .running import (
    dagman_file,
    dagman_jobs,
    dagman_lock_held,
    local_lock_holder,
    schedd_jobs,
)
from .waiting import parent_lines, ready_line

STDERR_LINES = 30
STALE_AFTER = 120.0  # seconds past the status file's NextUpdate before we call it stale

# DAGMan's node status codes (NODE_STATUS_FILE NodeStatus, and DagStatus for the whole DAG)
NODE_STATUS = {0: "not-ready", 1: "ready", 2: "pre", 3: "submitted", 4: "post", 5: "done", 6: "failed", 7: "futile"}
DAG_STATUS = {0: "not-started", 1: "running", 2: "running", 3: "running", 4: "running", 5: "done", 6: "failed",
              7: "failed"}
ACTIVE = ("pre", "idle", "running", "held", "post")
FINISHED = ("done", "failed", "stopped")
COUNTED = ("done", "running", "idle", "held", "failed")
# HTCondor JobStatus
SCHEDD_STATES = {1: "idle", 2: "running", 5: "held", 6: "running", 7: "running"}

_STATUS_EXIT = re.compile(r"failed with status (-?\d+)")
_STATUS_SIGNAL = re.compile(r"failed with signal (\d+)")


# -- model ------------------------------------------------------------------------------------------------------------


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


# -- reading the files ------------------------------------------------------------------------------------------------


def run_name(condor_dir) -> str | None:
    """The run's name (its DAG's batch name) from run.ini.resolved, or None when there is none."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(Path(condor_dir) / RESOLVED, encoding="utf-8")
    except (OSError, configparser.Error):
        return None
    return parser.get("run", "name", fallback=None) or None


def in_condor_dir(condor_dir: Path, name: str | None, default: str) -> Path:
    """A file the DAG names (absolute, or relative to the DAG's dir); a moved condor dir falls back to its own copy."""
    if not name:
        return condor_dir / default
    path = Path(name) if Path(name).is_absolute() else condor_dir / name
    return path if path.exists() or not (condor_dir / path.name).exists() else condor_dir / path.name


def read_status_file(path) -> tuple[dict, dict[str, dict], dict] | None:
    """The node status file as (DagStatus ad, {node: NodeStatus ad}, StatusEnd ad); None when absent/unreadable."""
    import classad2

    try:
        text = Path(path).read_text()
        ads = [dict(ad.items()) for ad in classad2.parseAds(text)]
    except (OSError, ValueError, RuntimeError):
        return None
    dag = next((ad for ad in ads if ad.get("Type") == "DagStatus"), {})
    end = next((ad for ad in ads if ad.get("Type") == "StatusEnd"), {})
    nodes = {ad["Node"]: ad for ad in ads if ad.get("Type") == "NodeStatus" and "Node" in ad}
    if not dag and not nodes:
        return None
    return dag, nodes, end


def _node_hash(dag: Dag, node: str) -> str | None:
    words = shlex.split(dag.nodes[node].variables.get("nodeargs", ""))
    return words[words.index("--node-hash") + 1] if "--node-hash" in words[:-1] else None


def valid_marker(condor_dir, dag: Dag, node: str) -> dict[str, Any] | None:
    """A node's done-marker when it shows the node done: the PRE script's test when the DAG gives a hash, with the
    outputs' sizes and modification times standing in for their digests (status looks at every node)."""
    marker = read_done_marker(marker_path(condor_dir, node))
    if marker is None:
        return None
    expected = _node_hash(dag, node)
    if expected is not None and why_not_done(condor_dir, node, expected, content=False) is not None:
        return None
    return marker


def changed_output(condor_dir, dag: Dag, node: str, content: bool = False) -> str | None:
    """Why a finished node runs again because an output of it changed since (None when none did)."""
    expected = _node_hash(dag, node)
    reason = why_not_done(condor_dir, node, expected, content) if expected is not None else None
    return reason if reason is not None and reason.startswith("its output") else None


# -- putting it together ---------------------------------------------------------------------------------------------


def _submitted_state(ad: dict, attempt: Attempt | None) -> str:
    """A node the status file calls submitted: the node log tells idle, running or held; a job that has ended since
    DAGMan last wrote the file (every 30 s) leaves the node done or failed as its exit says (a retry, if any, shows
    up in the log as a new attempt within seconds)."""
    if attempt is not None and attempt.state in ("idle", "running", "held"):
        return attempt.state
    if attempt is not None and attempt.state in ("exited", "removed"):
        return "done" if attempt.exit_code == 0 else "failed"
    if ad.get("JobProcsHeld"):
        return "held"
    return "running" if ad.get("StatusDetails") == "not_idle" else "idle"


def _log_state(attempts: list[Attempt], skipped: bool) -> str | None:
    """A node's state from the node log alone (no status file line for it)."""
    if skipped:
        return "done"
    if not attempts:
        return None
    last = attempts[-1]
    if last.state in ("idle", "running", "held"):
        return last.state
    return "done" if last.exit_code == 0 else "failed"


def _apply_attempts(state: NodeState, attempts: list[Attempt]) -> None:
    """The facts of the node's last job, and its history: an earlier run's job still tells where and how long."""
    state.attempts = attempts
    if not attempts:
        return
    last = attempts[-1]
    state.job, state.host, state.gpus = last.job, last.host, last.gpus
    state.exit_code, state.signal = last.exit_code, last.signal
    state.holds = sum(attempt.holds for attempt in attempts)
    if last.state == "held":
        state.hold_reason = last.hold_reason
    if last.state == "removed":
        state.removed_reason = last.removed_reason or "removed from the queue"
        state.hold_reason = last.hold_reason if last.holds else None
    starts = [a.started for a in attempts if a.started is not None]
    state.start = min(starts) if starts else None
    state.end = last.ended if last.state in ("exited", "removed") else None


def _apply_schedd(state: NodeState, job: dict[str, Any], attempts: list[Attempt]) -> None:
    """The node's job in the queue is its current attempt: it beats a status file line up to 30 s old, and the
    attempts the node log shows before it are the retries so far."""
    live = SCHEDD_STATES.get(int(job.get("JobStatus", 0)))
    if live is None:
        return
    state.status, state.source = live, "schedd"
    state.job, state.end = f"{job.get('ClusterId')}.{job.get('ProcId', 0)}", None
    logged = [attempt.job for attempt in attempts]
    if state.job in logged:
        state.retries = max(state.retries, logged.index(state.job))
    else:  # not in the node log yet: a retry of every attempt logged so far
        state.retries, state.exit_code, state.signal = max(state.retries, len(logged)), None, None
    state.hold_reason = (str(job.get("HoldReason", "")) or state.hold_reason) if live == "held" else None
    if live == "running":
        host = job.get("RemoteHost")
        state.host = str(host) if host else state.host
        state.start = state.start or job.get("JobCurrentStartDate")
        if job.get("AssignedGPUs"):
            state.gpus = str(job["AssignedGPUs"])


def _node_from_files(state: NodeState, attempts: list[Attempt], ad: dict | None, rescued: bool) -> None:
    """Rules 2-4 of the module docstring: rescue file, node status file, node log (this run's attempts decide the
    state; every run's give the facts)."""
    _apply_attempts(state, attempts)
    current = this_run(attempts)
    if ad is None:
        from_log = _log_state(current, state.pre_skipped)
        if from_log is not None:
            state.status, state.source = from_log, "nodes log"
            state.retries = max(0, len(current) - 1)
        elif rescued:
            state.status, state.source = "done", "rescue file"
        return
    code = NODE_STATUS.get(int(ad.get("NodeStatus", 0)), "not-ready")
    state.status = _submitted_state(ad, current[-1] if current else None) if code == "submitted" else code
    # the file is up to 30 s old: a retry the node log already shows counts
    state.source, state.retries = "status file", max(int(ad.get("RetryCount", 0)), len(current) - 1)
    state.details, state.waits = str(ad.get("StatusDetails", "") or ""), str(ad.get(WAITS_ATTRIBUTE, "") or "")
    if state.status == "failed" and state.exit_code is None and state.signal is None:
        found = _STATUS_EXIT.search(state.details)
        state.exit_code = int(found.group(1)) if found else None
        found = _STATUS_SIGNAL.search(state.details)
        state.signal = int(found.group(1)) if found else None


def where_of(dag: Path) -> str:
    """A DAG as commands take it: its condor dir for an aframe.dag, else the DAG file itself."""
    return str(dag.parent) if dag.name == DAG_FILE else str(dag)


def continue_command(place) -> str:
    """The command that continues a stopped run: the local executor's for a run it last ran, else resubmission
    (`condor_submit_dag` for a DAG that `build` did not write; DAGMan takes its newest rescue file by itself)."""
    dag = dag_path(place)
    local, dagman = dag.parent / LOCAL_LOCK, dagman_file(dag, DAGMAN_OUT)
    if local.exists() and (not dagman.exists() or local.stat().st_mtime >= dagman.stat().st_mtime):
        return f"aframe-dag run {where_of(dag)}"
    return f"aframe-dag resubmit {dag.parent}" if dag.name == DAG_FILE else f"condor_submit_dag {dag}"


def _stopped_reason(dag: Path, end_ad: dict, jobs, now: float) -> str | None:
    """Why a status file that says "running" is no longer true, or None when it may well be."""
    if (dag.parent / LOCAL_LOCK).exists() and not dagman_file(dag, LOCK).exists():
        return "the local executor that ran it is gone (its lock is free); `aframe-dag run` continues it"
    next_update = end_ad.get("NextUpdate") or 0
    if next_update and now > next_update + STALE_AFTER and jobs is not None and not dagman_lock_held(dag):
        return "DAGMan was removed or killed (no DAGMan job runs it); `aframe-dag resubmit` continues it"
    return None


def _dag_state(dag: Path, file: tuple | None, states: dict[str, NodeState], rescue: Path | None, jobs,
               local, now: float, notes: list[str]) -> str:
    """The DAG's state (see the module docstring for the order of the sources)."""
    if local is not None:
        return "running"
    if dagman_jobs(jobs):
        held = [job for job in dagman_jobs(jobs) if job.get("JobStatus") == 5]
        if held:
            notes.append(f"the DAGMan job {held[0].get('ClusterId')} is held: {held[0].get('HoldReason', '')}")
        return "running"
    if file is not None:
        dag_ad, _, end_ad = file
        state = DAG_STATUS.get(int(dag_ad.get("DagStatus", 3)), "running")
        if state != "running":
            return state
        stopped = _stopped_reason(dag, end_ad, jobs, now)
        if stopped:
            notes.append(f"the node status file says running, but {stopped}")
            return "stopped"
        next_update = end_ad.get("NextUpdate") or 0
        if next_update and now > next_update + STALE_AFTER:
            notes.append(f"the node status file has not been updated since {_clock(dag_ad.get('Timestamp'))}: "
                         "is DAGMan still running? (condor_q -dag)")
        return state
    if rescue is not None:
        return "failed"
    if states and all(s.status == "done" for s in states.values()):
        return "done"
    return "not-started"


def _elapsed(state: NodeState, now: float) -> float | None:
    """Seconds the node's jobs ran (nodelog.ran_for), or, for an active job no log shows yet, since the schedd's
    start."""
    active = state.status in ACTIVE
    ran = ran_for(state.attempts, now if active else None)
    return now - state.start if ran is None and active and state.start is not None else ran


def read_status(condor_dir, *, schedd: bool = True, now: float | None = None) -> RunStatus:
    """Every node's state, from the files of the condor dir's DAG or of any DAG file (and the schedd when `schedd`
    and one answers)."""
    dag_file = dag_path(condor_dir)
    condor_dir = dag_file.parent
    dag = load_dag(dag_file)
    now = time.time() if now is None else now
    name = run_name(condor_dir)
    notes: list[str] = []
    file = read_status_file(in_condor_dir(condor_dir, dag.status_file, default_status_file(dag_file)))
    file_nodes = file[1] if file else {}
    logs = node_logs(dag, Descriptions(condor_dir, moved=True))
    attempts, skipped, post = read_history(dagman_file(dag_file, NODES_LOG), logs)
    rescues = rescue_files(dag_file)
    rescue = rescues[-1] if rescues else None
    from_rescue = rescue_done(rescue) if rescue else set()
    jobs = schedd_jobs(dag_file) if schedd else None
    local = local_lock_holder(dag_file)
    live_dag = local is not None or bool(dagman_jobs(jobs)) or (
        file is not None and DAG_STATUS.get(int(file[0].get("DagStatus", 3))) == "running")

    states: dict[str, NodeState] = {}
    for node_name, node in dag.nodes.items():
        state = NodeState(node_name, node.stage, final=node.final, max_retries=node.retries)
        state.pre_skipped, state.post_exit = node_name in skipped, post.get(node_name)
        _node_from_files(state, attempts.get(node_name, []), file_nodes.get(node_name), node_name in from_rescue)
        if not (live_dag and state.status in ACTIVE):
            state.marker = valid_marker(condor_dir, dag, node_name)
            if state.marker is not None and state.status != "done":
                state.status, state.source = "done", "done-marker"
        states[node_name] = state

    for job in jobs or []:
        node_name = job.get("DAGNodeName")
        if node_name in states:
            _apply_schedd(states[node_name], job, this_run(attempts.get(node_name, [])))
    dag_status = _dag_state(dag_file, file, states, rescue, jobs, local, now, notes)
    if dag_status == "stopped":  # nothing is active any more: a marker the node wrote before the end counts
        for state in states.values():
            state.marker = state.marker or valid_marker(condor_dir, dag, state.name)
            if state.marker is not None and state.status in ACTIVE:
                state.status, state.source = "done", "done-marker"
    for state in states.values():
        changed = changed_output(condor_dir, dag, state.name) if state.status == "done" and not state.marker \
            else None
        if changed is not None:
            notes.append(f"{state.name} finished, but {changed}: it runs again when the DAG is resumed")
        if state.status == "done" and close_by_marker(state.attempts, marker_finished(state.marker)):
            state.end = state.attempts[-1].ended
        state.elapsed = _elapsed(state, now)
    updated = file[0].get("Timestamp") if file else None
    if local is not None:
        notes.append(f"the local executor runs this DAG ({holder_words(local)})")
    return RunStatus(condor_dir, name, dag_status, states, updated=updated, live=bool(dagman_jobs(jobs)),
                     rescue=rescue, notes=notes, now=now, dag=dag_file)


# -- text -------------------------------------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """1h02m, 3m05s, 12s; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        return f"{hours // 24}d{hours % 24:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _clock(timestamp) -> str:
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(timestamp)))


def progress_bar(run: RunStatus, width: int = 40) -> str:
    """`[#####.....] 12/40 done (30%)` with what runs and what failed."""
    totals = run.totals()
    share = totals.done / totals.total if totals.total else 0.0
    filled = int(round(share * width))
    extra = [f"{getattr(totals, key)} {key}" for key in ("running", "idle", "held", "failed") if getattr(totals, key)]
    return (f"[{'#' * filled}{'.' * (width - filled)}] {totals.done}/{totals.total} done ({share:.0%})"
            + (" · " + ", ".join(extra) if extra else ""))


def _node_line(node: NodeState) -> str:
    facts = []
    if node.exit_code is not None and node.status != "done":
        facts.append(f"exit {node.exit_code}")
    if node.signal is not None:
        facts.append(f"signal {node.signal}")
    if node.hold_reason and node.status == "held":
        facts.append(f"hold: {node.hold_reason}")
    if node.retries or node.status == "failed":
        facts.append(f"{node.retries} of {node.max_retries} retries")
    if node.host and node.status in ("running", "failed", "held"):
        facts.append(f"on {node.host}")
    if node.elapsed is not None and node.status in ("running", "failed", "held", "done"):
        facts.append(duration(node.elapsed))
    if node.holds and node.status != "held":
        facts.append(f"held {node.holds}x before")
    if node.pre_skipped:
        facts.append("skipped by its PRE script")
    return f"  {node.name:<32} {node.status:<11} " + ", ".join(facts)


def format_status(run: RunStatus, every_node: bool = False, limit: int = 10) -> str:
    """The per-stage table, the totals, then the nodes that need a look (every node with `every_node`)."""
    title = f'run "{run.name}"' if run.name else "run"
    updated = f", status file of {_clock(run.updated)}" if run.updated else ""
    live = ", live from the schedd" if run.live else ""
    lines = [f"{title} in {run.where}: {run.dag_status}{updated}{live}", ""]
    header = f"  {'stage':<16} {'done':>6} {'running':>7} {'idle':>6} {'held':>5} {'failed':>6} {'waiting':>7}" \
             f" {'total':>6} {'retries':>7} {'elapsed':>8}"
    lines.append(header)
    for row in [*run.stages(), run.totals()]:
        if row.stage == "total":
            lines.append("  " + "-" * (len(header) - 2))
        lines.append(f"  {row.stage:<16} {row.done:>6} {row.running:>7} {row.idle:>6} {row.held:>5} {row.failed:>6}"
                     f" {row.waiting:>7} {row.total:>6} {row.retries:>7} {duration(row.elapsed):>8}")
    lines += ["", progress_bar(run)]
    nodes = list(run.nodes.values())
    if every_node:
        lines += ["", "nodes:"] + [_node_line(node) for node in nodes]
    else:
        for status in ("failed", "held", "futile", "running", "idle", "pre", "post"):
            chosen = [node for node in nodes if node.status == status]
            if chosen:
                lines += ["", f"{status}:"] + [_node_line(node) for node in chosen[:limit]]
                if len(chosen) > limit:
                    lines.append(f"  ... and {len(chosen) - limit} more (--nodes lists them all)")
    lines += [f"note: {note}" for note in run.notes]
    failed = [node.name for node in nodes if node.status in ("failed", "held")]
    if failed:
        lines.append(f"\nwhy: aframe-dag why {failed[0]} {run.where}")
    if run.finished and run.dag_status != "done":
        lines.append(f"continue once fixed: {continue_command(run.dag or run.condor_dir)}")
    return "\n".join(lines)


def watch(condor_dir, show: Callable[[RunStatus], None], interval: float = 5.0,
          sleep: Callable[[float], None] = time.sleep) -> RunStatus:
    """Show the run's status every `interval` seconds until the DAG has finished; returns the last status."""
    while True:
        run = read_status(condor_dir)
        show(run)
        if run.finished:
            return run
        sleep(interval)


# -- why --------------------------------------------------------------------------------------------------------------


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


def _timing_lines(state: NodeState) -> list[str]:
    """When the node's first job started, when its last ended, and how long its jobs ran (every run's)."""
    if state.start is None:
        return []
    ended = f", ended {_clock(state.end)}" if state.end is not None else ""
    return [f"  started {_clock(state.start)}{ended} ({duration(state.elapsed)} running)"]


def _attempt_line(number: int, attempt: Attempt, outcome: str) -> str:
    where = f"job {attempt.job}" + (f" on {attempt.host}" if attempt.host else "")
    line = f"    attempt {number} ({where}): {outcome}"
    if attempt.started is not None:
        line += f"; started {_clock(attempt.started)}"
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
    return _clock(finished) if finished is not None else str(marker.get("finished", "at an unknown time"))


def _done_lines(state: NodeState, run: RunStatus) -> list[str]:
    lines = []
    if state.marker:
        lines.append(f"  finished {_marker_time(state.marker)} on {state.marker.get('host', 'an unknown host')}"
                     f" (done-marker {marker_path(run.condor_dir, state.name)})")
    elif state.end is not None:
        lines.append(f"  finished {_clock(state.end)}" + (f" on {state.host}" if state.host else ""))
    if state.pre_skipped:
        lines.append("  its PRE script skipped it: its outputs were already done")
    if state.retries:
        lines.append(f"  it needed {state.retries} of {state.max_retries} retries")
    if state.holds:
        lines.append(f"  it was held {state.holds} time(s) and released")
    return lines + _timing_lines(state) + _attempt_lines(state)

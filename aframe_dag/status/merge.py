"""What a run is doing, from its files: every source merged node by node into one RunStatus (no click here).

Works the same for a DAG run by DAGMan and one run by the local executor, because both write the same files into the
condor dir: the node status file (`aframe.status`, DAGMan's NODE_STATUS_FILE ClassAds), the node log
(`aframe.dag.nodes.log`, an HTCondor user log whose submit events carry `DAG Node: NAME`), each submit file's own
log (`logs/STAGE.log`, kept across runs: status.nodelog), rescue files (`aframe.dag.rescueNNN`) and the nodes'
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
   the DAG file it runs, wherever it was submitted from: status.running) are the live truth for idle /
   running / held and for each node's current job and retries, and a DAGMan job in the queue means the DAG is
   running.

The DAG's state: the schedd's DAGMan job or a held local-executor lock means `running`; otherwise the status
file's DagStatus (`running`, `done`, `failed`, ...); with no status file, a rescue file means `failed`, all nodes
done means `done`, else `not-started`. A status file that says running while the schedd answers without a DAGMan
job, no DAGMan holds aframe.dag.lock and no local executor holds its lock is `stopped` (DAGMan was removed or
killed).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..condordir.dag import dag_path, load_dag
from ..condordir.descriptions import Descriptions
from ..condordir.running import (
    dagman_file,
    dagman_jobs,
    dagman_lock_held,
    holder_words,
    local_lock_holder,
    schedd_jobs,
)
from ..dagfile import rescue_done, rescue_files
from ..local.records import WAITS_ATTRIBUTE
from ..names import LOCAL_LOCK, LOCK, NODES_LOG, default_status_file
from .model import ACTIVE, NodeState, RunStatus
from .nodelog import Attempt, close_by_marker, marker_finished, node_logs, ran_for, read_history, this_run
from .sources import DAG_STATUS, NODE_STATUS, changed_output, in_condor_dir, read_status_file, run_name, valid_marker
from .text import clock

STALE_AFTER = 120.0  # seconds past the status file's NextUpdate before we call it stale
# HTCondor JobStatus
SCHEDD_STATES = {1: "idle", 2: "running", 5: "held", 6: "running", 7: "running"}

_STATUS_EXIT = re.compile(r"failed with status (-?\d+)")
_STATUS_SIGNAL = re.compile(r"failed with signal (\d+)")


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
    if last.post_exit is not None:  # a POST script decides the node's result, whatever the job's exit code
        return "done" if last.post_exit == 0 else "failed"
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
            notes.append(f"the node status file has not been updated since {clock(dag_ad.get('Timestamp'))}: "
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


def watch(condor_dir, show: Callable[[RunStatus], None], interval: float = 5.0,
          sleep: Callable[[float], None] = time.sleep) -> RunStatus:
    """Show the run's status every `interval` seconds until the DAG has finished; returns the last status."""
    while True:
        run = read_status(condor_dir)
        show(run)
        if run.finished:
            return run
        sleep(interval)

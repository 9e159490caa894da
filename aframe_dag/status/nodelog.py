"""Every node's attempts over every run of its DAG, from HTCondor user logs (no click, no schedd here).

DAGMan truncates its node log (`aframe.dag.nodes.log`) when it starts, and the local executor does the same, so that
log tells only the current run. Each node's submit file names its own `log =` (one per stage in a DAG `build` writes),
which HTCondor appends to across runs and the local executor writes alike; both logs get the same events, and a
submit event carries `DAG Node: NAME`. Reading both gives the history a resume would otherwise lose.

An attempt is one job of a node (a retry is a new job; a hold and release stay the same job). It is known by its
node, job id and submit time, not its job id alone: the local executor has numbered its jobs from 1 in every run.
"""

from __future__ import annotations

import calendar
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ..condordir.descriptions import Descriptions, expand, node_dir
from ..dagfile import JOIN_NODE_PREFIX, Dag, DagNode
from ..holds import removal_words

_NODE_NOTE = re.compile(r"DAG Node:\s*(\S+)")
_WITH_DAGMAN = re.compile(r"OtherJobRemoveRequirements = DAGManJobId =\?= (\d+)")

#: The node contract's exit codes (DESIGN §5), in words.
EXIT_WORDS = {0: "success", 1: "transient failure", 2: "permanent failure: bad input or config",
              85: "checkpointed, to be requeued"}


@dataclass
class Attempt:
    """One job of a node, as the logs tell it."""

    job: str
    submitted: float | None = None
    started: float | None = None
    ended: float | None = None
    state: str = "idle"  # idle, running, held, exited, removed; marked: ended when its done-marker was written
    exit_code: int | None = None
    signal: int | None = None
    hold_reason: str | None = None
    hold_code: int | None = None
    host: str | None = None
    gpus: str | None = None
    holds: int = 0
    held_at: float | None = None  # when its last hold began
    removed_reason: str | None = None
    post_exit: int | None = None  # the POST script that ran after it: DAGMan's verdict on the node then
    this_run: bool = False  # in the node log, so submitted by the DAG's current (or last) run

    @property
    def key(self) -> tuple[str, float | None]:
        """What tells two attempts of one node apart across logs and runs."""
        return self.job, self.submitted


# -- reading one user log ---------------------------------------------------------------------------------------------


def _event_node(event) -> str | None:
    for key in ("LogNotes", "SkipEventLogNotes"):
        match = _NODE_NOTE.search(str(event.get(key, "") or ""))
        if match:
            return match.group(1)
    name = event.get("DAGNodeName")
    return str(name) if name else None


def _host(event) -> str | None:
    slot = event.get("SlotName")
    if slot:
        return str(slot)
    address = str(event.get("ExecuteHost", "") or "")
    alias = re.search(r"alias=([^&>]+)", address)
    if alias:
        return alias.group(1)
    return address.strip("<>").split("?")[0] or None


def _execute_gpus(event) -> str | None:
    """GPUs of an execute event: AssignedGPUs / CUDA_VISIBLE_DEVICES (the local executor), or the slot's GPU ids."""
    props = event.get("ExecuteProps")
    props = dict(props.items()) if props is not None and hasattr(props, "items") else {}
    for source in (event, props):
        for key in ("AssignedGPUs", "CUDA_VISIBLE_DEVICES"):
            value = source.get(key)
            if value not in (None, ""):
                return str(value)
    if not props.get("GPUs"):
        return None
    ids = [str(ad.get("Id")) for key, ad in props.items()
           if key.startswith("GPUs_") and hasattr(ad, "get") and ad.get("Id")]
    return ",".join(ids) or None


def _removal(event) -> str | None:
    """Why a job was removed, in words: the schedd's own wording when DAGMan's removal took the job with it."""
    reason = str(event.get("Reason", "") or "") or None
    dagman = _WITH_DAGMAN.search(reason or "")
    return f"its DAGMan job {dagman.group(1)} was removed (condor_rm of the DAG)" if dagman else reason


def _events(path) -> list:
    """A user log's events; a damaged event ends the reading, and what came before it still counts."""
    import htcondor2

    events = []
    try:
        with htcondor2.JobEventLog(str(path)) as log:
            for event in log.events(stop_after=0):
                events.append(event)
    except Exception:  # the bindings raise plain exceptions for a torn or odd event
        pass
    return events


def _terminated(attempt: Attempt, event, when: float) -> None:
    attempt.state, attempt.ended = "exited", when
    if event.get("TerminatedNormally", True) and "ReturnValue" in event:
        attempt.exit_code = int(event["ReturnValue"])
    elif "TerminatedBySignal" in event:
        attempt.signal = int(event["TerminatedBySignal"])
    if event.get("RequestGPUs") and event.get("AssignedGPUs"):
        attempt.gpus = str(event["AssignedGPUs"])
    elif event.get("RequestGPUs") == 0 and "AssignedGPUs" in event:
        attempt.gpus = None  # the slot had a GPU, the job asked for none


def _apply(attempt: Attempt, code: int, event, when: float) -> None:
    """One job event (after its submit event) on the attempt it belongs to."""
    if code == 1:
        attempt.started = attempt.started or when
        attempt.state, attempt.ended, attempt.exit_code, attempt.signal = "running", None, None, None
        attempt.host = _host(event) or attempt.host
        attempt.gpus = _execute_gpus(event) or attempt.gpus
    elif code == 5:
        _terminated(attempt, event, when)
    elif code in (4, 13):  # evicted (back to idle), released
        attempt.state = "idle"
    elif code == 12:
        attempt.state, attempt.holds, attempt.held_at = "held", attempt.holds + 1, when
        attempt.hold_reason = str(event.get("HoldReason", "") or "") or None
        attempt.hold_code = int(event["HoldReasonCode"]) if "HoldReasonCode" in event else None
    elif code == 9:
        held_for = when - attempt.held_at if attempt.state == "held" and attempt.held_at is not None else None
        attempt.state, attempt.ended = "removed", when
        attempt.removed_reason = removal_words(_removal(event), held_for) or _removal(event)
    elif code == 2:  # executable error: the job could not start
        attempt.state, attempt.ended = "exited", when


def read_user_log(path) -> tuple[dict[str, list[Attempt]], set[str], dict[str, int]]:
    """A user log as ({node: attempts in order}, nodes skipped by PRE_SKIP, {node: POST script exit code})."""
    attempts: dict[str, list[Attempt]] = {}
    by_job: dict[tuple[int, int], Attempt] = {}
    skipped: set[str] = set()
    post: dict[str, int] = {}
    if not Path(path).is_file():
        return attempts, skipped, post
    for event in _events(path):
        code, key, when = int(event.type), (event.cluster, event.proc), float(event.timestamp)
        node = _event_node(event)
        if code == 34 and node:  # PRE script exit matched PRE_SKIP: the node is done without a job
            skipped.add(node)
        elif code == 16 and node and "ReturnValue" in event:  # POST script terminated
            post[node] = int(event["ReturnValue"])
            if attempts.get(node):
                attempts[node][-1].post_exit = post[node]
        elif code == 0:
            by_job.pop(key, None)  # a job id seen again is a new job
            if node and not node.startswith(JOIN_NODE_PREFIX):
                by_job[key] = Attempt(f"{event.cluster}.{event.proc}", submitted=when)
                attempts.setdefault(node, []).append(by_job[key])
        elif code not in (16, 34) and key in by_job:
            _apply(by_job[key], code, event, when)
    return attempts, skipped, post


# -- each node's own log, and the history -----------------------------------------------------------------------------


def _log_of(submit, node: DagNode, dag_dir: Path) -> Path | None:
    """The node's `log`, relative to its initialdir (relative, in turn, to the node's DIR)."""
    log = expand(submit, "log")
    return node_dir(node, dag_dir) / (expand(submit, "initialdir") or "") / log if log else None


def node_logs(dag: Dag, descriptions: Descriptions) -> dict[str, Path]:
    """Each node's own user log, from its submit description (expanded with its VARS and $(JOB), as DAGMan does):
    a description many nodes share is parsed once, and expanded once when its `log` and `initialdir` use no macro."""
    fixed: dict[object, Path | None] = {}
    logs: dict[str, Path] = {}
    for name, node in dag.nodes.items():
        key = descriptions.key(node)
        if key in fixed:
            log = fixed[key]
        else:
            try:
                submit = descriptions.describe(node, {"JOB": name})
            except Exception:  # a missing or unparsable submit file: that node has no log of its own
                fixed[key] = None
                continue
            log = _log_of(submit, node, descriptions.dag_dir)
            given = {"log", "initialdir"} & {variable.lower() for variable in node.variables}
            if not given and "$(" not in str(submit.get("log", "")) + str(submit.get("initialdir", "")):
                fixed[key] = log
        if log is not None:
            logs[name] = log
    return logs


def merge(own: list[Attempt], current: list[Attempt]) -> list[Attempt]:
    """A node's attempts from its own log and from this run's node log, each once, in the order they were submitted
    (an attempt in both is this run's copy; the later of two same-keyed attempts in its own log is this run's)."""
    merged = list(own)
    for attempt in current:
        same = [index for index, seen in enumerate(merged) if seen.key == attempt.key and not seen.this_run]
        if same:
            merged[same[-1]] = attempt
        else:
            merged.append(attempt)
    return sorted(merged, key=lambda attempt: attempt.submitted or 0.0)


def this_run(attempts: list[Attempt]) -> list[Attempt]:
    """The attempts of the DAG's current (or last) run: they, not an earlier run's, say where the node is now."""
    return [attempt for attempt in attempts if attempt.this_run]


def read_history(nodes_log: Path, logs: dict[str, Path]) -> tuple[dict[str, list[Attempt]], set[str],
                                                                  dict[str, int]]:
    """({node: its attempts over every run}, nodes this run's PRE scripts skipped, {node: POST exit code}) from
    this run's node log and each node's own log (`logs`, from node_logs); each log is read once."""
    current, skipped, post = read_user_log(nodes_log)
    for attempt in (attempt for attempts in current.values() for attempt in attempts):
        attempt.this_run = True
    shared = os.path.realpath(nodes_log)
    own = {path: read_user_log(path)[0] for path in set(logs.values()) if os.path.realpath(path) != shared}
    history = {}
    for name in set(current) | set(logs):
        mine = own[logs[name]].get(name, []) if logs.get(name) in own else []
        history[name] = merge(mine, current.get(name, []))
    return history, skipped, post


def marker_finished(marker: dict | None) -> float | None:
    """When a done-marker says its node finished (Unix seconds; markers write UTC, ISO 8601), or None."""
    try:
        return float(calendar.timegm(time.strptime(str((marker or {}).get("finished")), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def close_by_marker(attempts: list[Attempt], finished: float | None) -> bool:
    """A done node whose last job's end no log has (its executor was killed while it ran, the job finished alone)
    ended when its done-marker was written; True when that closed it."""
    last = attempts[-1] if attempts else None
    if finished is None or last is None or last.ended is not None or last.started is None or finished < last.started:
        return False
    last.state, last.ended = "marked", finished
    return True


# -- in words and seconds ---------------------------------------------------------------------------------------------


def ran_for(attempts: list[Attempt], now: float | None) -> float | None:
    """Seconds the node's jobs ran, summed over its attempts (the gap between two runs does not count); the last
    attempt, when it has not ended, counts up to `now` (None: the node is not active, its end was never logged)."""
    spans = [attempt.ended - attempt.started for attempt in attempts
             if attempt.started is not None and attempt.ended is not None]
    last = attempts[-1] if attempts else None
    if now is not None and last is not None and last.started is not None and last.ended is None:
        spans.append(now - last.started)
    return sum(spans) if spans else None


def _signal_words(number: int) -> str:
    try:
        return f"killed by signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"killed by signal {number}"


def _end_words(attempt: Attempt, over: bool) -> str:
    if attempt.state == "removed":
        return f"removed: {attempt.removed_reason or 'from the queue'}"
    if attempt.signal is not None:
        return _signal_words(attempt.signal)
    if attempt.exit_code is not None:
        return f"exit {attempt.exit_code} ({EXIT_WORDS.get(attempt.exit_code, 'failure')})"
    if attempt.state == "exited":
        return "its executable could not be started"
    if attempt.state == "marked":
        return "done (its done-marker says when; no log has its end)"
    if over:
        return "no end in the logs (what ran it stopped first: a killed executor or DAGMan)"
    return "waiting in the queue" if attempt.state == "idle" else attempt.state


def _outcome(attempt: Attempt, over: bool) -> str:
    """How an attempt ended, in words ("exit 1 (transient failure)", "killed by signal 9 (SIGKILL)",
    "held: <reason>, released; exit 0 (success)"); `over` says it is over even when no end was logged."""
    if attempt.state == "held":
        return f"held: {attempt.hold_reason or 'no reason given'}"
    if not attempt.holds:
        return _end_words(attempt, over)
    times = f" {attempt.holds} times" if attempt.holds > 1 else ""
    released = "" if attempt.state == "removed" else ", released"
    return f"held{times}: {attempt.hold_reason or 'no reason given'}{released}; {_end_words(attempt, over)}"


def outcomes(attempts: list[Attempt], active: bool) -> list[str]:
    """Each attempt's end in words: every one but an active node's last is over, logged end or not."""
    last = len(attempts) - 1
    return [_outcome(attempt, index < last or not active) for index, attempt in enumerate(attempts)]

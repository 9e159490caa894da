"""Who runs a condor dir's DAG right now, in words: the local executor, or a DAGMan job (no click here).

`resubmit`, `invalidate`, `build --force` and `clean` change what a running DAG reads, so they all ask
`running_reason` first, and `status` takes its live jobs from `schedd_jobs`. A DAGMan job is found by the DAG file it
runs, not by where it was submitted from or by its batch name: `condor_submit_dag /abs/condor/aframe.dag` run
elsewhere, `aframe-dag resubmit` and a user's `-batch-name` all give other Iwds and names. What HTCondor 25.0 records
(seen on the personal pool): the DAGMan job (JobUniverse 7) has `Arguments` "... -Lockfile <dag>.lock -Dag <dag> ...",
both paths as typed, relative to its `Iwd` (the submitting shell's cwd), and `UserLog` "<Iwd>/<dag>.dagman.log";
its node jobs carry `DAGManJobId` (its ClusterId), `DAGNodeName` and `DAGManNodesLog`, and have the same Iwd.
DAGMan keeps a POSIX write lock on its empty `<dag>.lock` while it runs and deletes the file when it exits; its
cluster id is in its own user log, `<dag>.dagman.log`. That lock is the answer when no schedd does.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..names import DAGMAN_LOG, LOCAL_LOCK, LOCK, beside
from .dag import dag_path

SCHEDD_TIMEOUT = 5.0
DAGMAN_UNIVERSE = 7  # the scheduler universe DAGMan runs in
DAGMAN_PROJECTION = ["ClusterId", "ProcId", "JobStatus", "JobUniverse", "JobBatchName", "Iwd", "Arguments", "Args",
                     "UserLog", "HoldReason"]
NODE_PROJECTION = ["ClusterId", "ProcId", "JobStatus", "JobUniverse", "JobBatchName", "DAGNodeName", "DAGManJobId",
                   "Iwd", "HoldReason", "HoldReasonCode", "RemoteHost", "EnteredCurrentStatus",
                   "JobCurrentStartDate", "AssignedGPUs"]
DAGMAN_STATES = {1: "not started yet", 3: "being removed", 5: "held"}  # JobStatus words beside "running"

_SUBMIT_EVENT = re.compile(r"^000 \((\d+)\.", re.MULTILINE)


# -- the schedd -------------------------------------------------------------------------------------------------------


def _same_path(a, b) -> bool:
    try:
        return os.path.realpath(str(a)) == os.path.realpath(str(b))
    except (OSError, ValueError):
        return False


def _words(arguments: str) -> list[str]:
    """A job ad's arguments as words (HTCondor's new syntax groups with '...', as a shell does)."""
    try:
        return shlex.split(arguments)
    except ValueError:
        return arguments.split()


def dag_paths(job: dict[str, Any]) -> list[str]:
    """The DAG files a DAGMan job runs, absolute: its `-Dag` arguments (else its UserLog less `.dagman.log`) are
    as typed where condor_submit_dag ran, so they are taken relative to its Iwd."""
    words = _words(str(job.get("Arguments") or job.get("Args") or ""))
    dags = [value for flag, value in zip(words, words[1:], strict=False) if flag.lower() == "-dag"]
    log = str(job.get("UserLog") or "")
    if not dags and log.endswith(DAGMAN_LOG):
        dags = [log.removesuffix(DAGMAN_LOG)]
    return [os.path.join(str(job.get("Iwd") or ""), dag) for dag in dags]


def dagmans_running(dag, ads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The DAGMan jobs among `ads` that run the DAG file `dag`, wherever they were submitted from."""
    return [job for job in ads if job.get("JobUniverse") == DAGMAN_UNIVERSE
            and any(_same_path(path, dag) for path in dag_paths(job))]


def _plain(ad) -> dict[str, Any]:
    record = {}
    for key in ad.keys():
        try:
            value = ad.get(key)
        except Exception:  # an attribute that does not evaluate is simply absent
            value = None
        if value is not None:
            record[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return record


def _query(dag: Path) -> list[dict[str, Any]]:
    """Two schedd queries: the DAGMan jobs (JobUniverse 7) that run `dag`, then their node jobs."""
    import htcondor2

    schedd = htcondor2.Schedd()
    ads = schedd.query(constraint=f"JobUniverse == {DAGMAN_UNIVERSE}", projection=DAGMAN_PROJECTION)
    dagmans = dagmans_running(dag, [_plain(ad) for ad in ads])
    if not dagmans:
        return []
    ids = " || ".join(f"DAGManJobId == {job['ClusterId']}" for job in dagmans)
    return dagmans + [_plain(ad) for ad in schedd.query(constraint=ids, projection=NODE_PROJECTION)]


def schedd_jobs(condor_dir, timeout: float = SCHEDD_TIMEOUT) -> list[dict[str, Any]] | None:
    """The DAGMan jobs running condor_dir's DAG (or a DAG file) and their node jobs, as plain dicts; None when no
    schedd answers (the queries run in a background thread, given up after `timeout` seconds)."""
    result: dict[str, Any] = {}

    def query() -> None:
        try:
            result["jobs"] = _query(dag_path(Path(condor_dir).absolute()))
        except Exception:  # no pool, no schedd, no permission: all mean "no live view"
            result["jobs"] = None

    thread = threading.Thread(target=query, name="aframe-schedd-query", daemon=True)
    thread.start()
    thread.join(timeout)
    return result.get("jobs")


def dagman_jobs(jobs: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [job for job in jobs or [] if job.get("JobUniverse") == DAGMAN_UNIVERSE]


def dagman_file(place, suffix: str) -> Path:
    """One of the files DAGMan keeps beside a DAG (<dag>.lock, <dag>.dagman.log, <dag>.nodes.log, ...)."""
    return beside(dag_path(place), suffix)


# -- the locks --------------------------------------------------------------------------------------------------------


def lock_record(condor_dir: Path) -> dict:
    """What the lock file says about its last holder ({"pid", "host", "started"}), read without touching the lock
    itself."""
    try:
        record = json.loads((Path(condor_dir) / LOCAL_LOCK).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _clock(when: float) -> str:
    """12:03 today, 2026-12-01 12:03 another day."""
    day = "" if time.strftime("%Y-%m-%d") == time.strftime("%Y-%m-%d", time.localtime(when)) else "%Y-%m-%d "
    return time.strftime(f"{day}%H:%M", time.localtime(when))


def holder_words(record: dict) -> str:
    """A lock record as people say it: "pid 1234 on host x, started 12:03" (what it lacks is left out)."""
    words = f"pid {record['pid']}" if record.get("pid") else "an unknown process"
    if record.get("host"):
        words += f" on host {record['host']}"
    if isinstance(record.get("started"), (int, float)):
        words += f", started {_clock(record['started'])}"
    return words


def local_lock_holder(condor_dir) -> dict[str, Any] | None:
    """The local executor's lock record ({"pid", "host"}) while an executor holds it; None when none runs."""
    directory = dag_path(condor_dir).parent
    try:
        handle = open(directory / LOCAL_LOCK)
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return lock_record(directory)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def dagman_lock_held(condor_dir) -> bool:
    """Whether a DAGMan holds the DAG's lock file: it keeps a POSIX write lock on it while it runs, so a read lock
    is refused (seen for a DAGMan on this host; over NFS only where the lock manager passes locks on)."""
    try:
        descriptor = os.open(dagman_file(condor_dir, LOCK), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(descriptor)  # also lets go of our read lock
    return False


def _logged_dagman(condor_dir: Path) -> str | None:
    """The newest DAGMan job of this DAG, from DAGMan's own user log."""
    try:
        found = _SUBMIT_EVENT.findall(dagman_file(condor_dir, DAGMAN_LOG).read_text(errors="replace"))
    except OSError:
        return None
    return str(int(found[-1])) if found else None


# -- in words ---------------------------------------------------------------------------------------------------------


def _dagman_words(job: dict[str, Any]) -> str:
    cluster = job.get("ClusterId")
    facts = [DAGMAN_STATES[job.get("JobStatus")]] if job.get("JobStatus") in DAGMAN_STATES else []
    facts += [f"submitted from {job['Iwd']}"] if job.get("Iwd") else []
    facts += [f"batch name {job['JobBatchName']}"] if job.get("JobBatchName") else []
    return f"DAGMan job {cluster} is running this DAG ({', '.join(facts)}): wait for it or condor_rm {cluster} first"


def running_reason(condor_dir, notes: list[str] | None = None) -> str | None:
    """Who runs the DAG in condor_dir now, and what to do about it: the local executor holding its lock, the
    schedd's DAGMan job for this DAG, or a DAGMan holding aframe.dag.lock; None when nobody does. With `notes`, a
    lock file that no schedd can confirm is noted."""
    condor_dir, lock = Path(condor_dir), dagman_file(condor_dir, LOCK)
    local = local_lock_holder(condor_dir)
    if local is not None:
        return (f"the local executor ({holder_words(local)}) is running this DAG: "
                f"wait for it or `aframe-dag stop {condor_dir}` first")
    jobs = schedd_jobs(condor_dir)
    running = dagman_jobs(jobs)
    if running:
        return _dagman_words(running[0])
    if dagman_lock_held(condor_dir):
        cluster = _logged_dagman(condor_dir)
        job = f"job {cluster}" if cluster else "its job"
        log = lock.name.removesuffix(LOCK) + DAGMAN_LOG
        return f"a DAGMan ({job} in {log}) holds {lock}: wait for it or condor_rm {cluster or 'it'} first"
    if jobs is None and lock.exists() and notes is not None:
        notes.append(f"{lock.name} exists and no schedd answered: if DAGMan still runs this DAG elsewhere, "
                     "wait for it (or condor_rm it) before submitting")
    return None


def refuse_while_running(condor_dir, action: str, notes: list[str] | None = None) -> None:
    """UserError when anything runs the DAG in condor_dir: `action` must never change what a running DAG reads."""
    reason = running_reason(condor_dir, notes)
    if reason:
        raise UserError(f"{condor_dir}: cannot {action} while the DAG is still running: {reason}; nothing changed")

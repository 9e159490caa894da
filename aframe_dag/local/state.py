"""The executor's own state in the condor dir: one executor per run (a lock), and its nodes' process groups."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import NamedTuple

from ..condordir.running import holder_words, lock_record
from ..errors import UserError
from ..names import LOCAL_LOCK, PROCESS_GROUPS

PROBE_PATIENCE = 1.0


class RunLock:
    """An flock on <condor dir>/.aframe-run/lock held while an executor runs; the file says who holds it."""

    def __init__(self, condor_dir: Path):
        self.path = Path(condor_dir) / LOCAL_LOCK
        self.handle = None

    def acquire(self, patience: float = PROBE_PATIENCE) -> None:
        """Take the lock, or refuse with who holds it. A reader that only probes the lock (status, attach, stop)
        holds it for an instant: trying again for `patience` seconds keeps such a probe from refusing a run."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    holder = holder_words(lock_record(self.path.parent.parent))
                    raise UserError(f"{self.path.parent.parent}: another `aframe-dag run` is using this run "
                                    f"({holder}); watch it with `aframe-dag status`") from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


class Leftover(NamedTuple):
    """A node's job that a killed executor left running, ended by its successor."""

    node: str
    job: int | None
    logs: list[Path]


class ProcessGroups:
    """Each running node's process group, recorded on disk so a restarted executor can end leftovers."""

    def __init__(self, condor_dir: Path):
        self.directory = Path(condor_dir) / PROCESS_GROUPS
        self.directory.mkdir(parents=True, exist_ok=True)

    def record(self, node: str, pgid: int, job: int | None = None, logs=()) -> None:
        """Write down the node's group and when its leader started (a pid is reused once its group has ended), with
        its job id and user logs, so a successor can log the job's end."""
        lines = [f"{pgid} {_started(pgid) or '-'} {job or '-'}", *map(str, logs)]
        (self.directory / node).write_text("\n".join(lines))

    def forget(self, node: str) -> None:
        (self.directory / node).unlink(missing_ok=True)

    def end_leftovers(self, grace: float = 10.0) -> list[Leftover]:
        """End the groups a killed executor left running (SIGTERM, then SIGKILL); returns those whose group still
        ran and was still theirs (not a node that ended meanwhile, nor a reused pid)."""
        ended = []
        for record in sorted(self.directory.iterdir()):
            first, *logs = record.read_text().strip().splitlines() or [""]
            pgid, started, job = (first.split() + ["-", "-"])[:3]
            if pgid.isdigit() and _still_theirs(int(pgid), None if started == "-" else started):
                terminate(int(pgid), grace)
                ended.append(Leftover(record.name, int(job) if job.isdigit() else None, [Path(p) for p in logs]))
            record.unlink()
        return ended


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), or None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _started(pid: int) -> str | None:
    """When a process started (clock ticks after boot): with its pid, it names one process."""
    fields = _stat(pid)
    return fields[19] if fields else None


def _still_theirs(pgid: int, started: str | None) -> bool:
    """Whether the recorded group still runs and is the recorded one: its leader, while it exists, is the process
    that started then (once the leader has gone, its pid is not reused while the group still has members)."""
    leader = _started(pgid)
    return alive(pgid) and (leader is None or leader == started)


def alive(pgid: int) -> bool:
    """Whether any process of the group still runs: a zombie (ended, not reaped by its parent) does not."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc").is_dir():  # no process table to read (not Linux): the group exists
        return True
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def terminate(pgid: int, grace: float) -> None:
    """SIGTERM a process group, SIGKILL it if it outlives the grace period."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass

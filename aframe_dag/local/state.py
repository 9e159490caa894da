"""The executor's own state in the condor dir: one executor per run (a lock), and its nodes' process groups."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import time
from pathlib import Path

from ..errors import UserError

STATE_DIR = ".aframe-run"
LOG_NAME = "aframe-run.log"  # a detached run's output, in the condor dir
PROBE_PATIENCE = 1.0


def lock_record(condor_dir: Path) -> dict:
    """What the lock file says about its last holder ({"pid", "host"}), read without touching the lock itself."""
    try:
        record = json.loads((Path(condor_dir) / STATE_DIR / "lock").read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


class RunLock:
    """An flock on <condor dir>/.aframe-run/lock held while an executor runs; the file says who holds it."""

    def __init__(self, condor_dir: Path):
        self.path = Path(condor_dir) / STATE_DIR / "lock"
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
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    handle.close()
                    raise UserError(f"{self.path.parent.parent}: another `aframe-dag run` is using this run "
                                    f"({holder}); watch it with `aframe-dag status`") from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


class ProcessGroups:
    """Each running node's process group, recorded on disk so a restarted executor can end leftovers."""

    def __init__(self, condor_dir: Path):
        self.directory = Path(condor_dir) / STATE_DIR / "groups"
        self.directory.mkdir(parents=True, exist_ok=True)

    def record(self, node: str, pgid: int) -> None:
        (self.directory / node).write_text(str(pgid))

    def forget(self, node: str) -> None:
        (self.directory / node).unlink(missing_ok=True)

    def end_leftovers(self, grace: float = 10.0) -> list[str]:
        """End the groups a killed executor left running (SIGTERM, then SIGKILL); returns their nodes."""
        ended = []
        for record in sorted(self.directory.iterdir()):
            try:
                pgid = int(record.read_text())
            except ValueError:
                record.unlink()
                continue
            if alive(pgid):
                terminate(pgid, grace)
                ended.append(record.name)
            record.unlink()
        return ended


def alive(pgid: int) -> bool:
    """Whether any process of the group still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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

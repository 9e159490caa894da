"""`aframe-dag stop` and `attach`: the two ways to reach a local run started with `aframe-dag run --detach`.

The run is found through the executor's lock (`.aframe-run/lock`, with its pid and host), so both also work for a
run started in another terminal without --detach. `stop` sends the executor SIGTERM, which is its clean stop: it
ends its nodes' process groups (SIGKILL after a grace period), writes the rescue file and releases the lock.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ..condordir.running import local_lock_holder, running_reason
from ..dagfile import rescue_files
from ..errors import UserError
from ..names import DAG_FILE, RUN_LOG
from ..status.merge import read_status
from ..status.text import format_status
from ..status.why import tail

STOP_TIMEOUT = 60.0
LOG_LINES = 15


class StillRunning(UserError):
    """The executor did not stop in time; it may still be ending its nodes."""

    exit_code = 1


def _holder(condor_dir: Path, what: str) -> dict:
    """The lock record of the executor running this condor dir, on this host; UserError when there is none."""
    holder = local_lock_holder(condor_dir)
    if holder is None:
        other = running_reason(condor_dir)
        hint = f"; {other}" if other else ""
        raise UserError(f"{condor_dir}: no `aframe-dag run` is in progress here; nothing to {what}{hint}")
    if holder.get("host") not in (None, socket.gethostname()):
        raise UserError(f"{condor_dir}: the run's executor (pid {holder.get('pid')}) is on host {holder['host']}; "
                        f"{what} it from there")
    return holder


def stop(condor_dir, timeout: float = STOP_TIMEOUT, poll: float = 0.2) -> str:
    """Stop the local run in condor_dir cleanly and wait until its executor has let go of the run."""
    condor_dir = Path(condor_dir).absolute()
    holder = _holder(condor_dir, "stop")
    pid = int(holder.get("pid", 0))
    before = set(rescue_files(condor_dir / DAG_FILE))
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while local_lock_holder(condor_dir) is not None:
        if time.monotonic() > deadline:
            raise StillRunning(f"{condor_dir}: the executor (pid {pid}) still holds the run {timeout:g} s after "
                               f"SIGTERM; `kill -KILL {pid}` ends it at once (the next `aframe-dag run` ends any "
                               "node it leaves running)")
        time.sleep(poll)
    written = sorted(set(rescue_files(condor_dir / DAG_FILE)) - before)
    rescue = f"; wrote {written[-1].name}" if written else ""
    return (f"stopped the run in {condor_dir} (executor pid {pid}){rescue}; "
            f"`aframe-dag run {condor_dir} --detach` resumes it")


def attach_view(condor_dir: Path, lines: int = LOG_LINES) -> str:
    """The run's status table and the end of its log, as one screen."""
    view = format_status(read_status(condor_dir, schedd=False))
    log = condor_dir / RUN_LOG
    logged = tail(log, lines)
    if logged is None:
        return view + f"\n\n(no {RUN_LOG}: the run was not started with --detach, its log is in its terminal)"
    return view + f"\n\n{log} (last {len(logged)} lines):\n" + "\n".join(f"  {line}" for line in logged)


def attach(condor_dir, show: Callable[[str], None], interval: float = 2.0,
           sleep: Callable[[float], None] = time.sleep) -> int:
    """Show the local run's status and log every `interval` seconds until it ends; returns the executor's pid.
    Ctrl-C (KeyboardInterrupt) reaches only this process: the run, in its own session, goes on."""
    condor_dir = Path(condor_dir).absolute()
    pid = int(_holder(condor_dir, "attach to").get("pid", 0))
    while True:
        running = local_lock_holder(condor_dir) is not None
        show(attach_view(condor_dir))
        if not running:
            return pid
        sleep(interval)

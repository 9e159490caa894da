"""The executor's own state: who holds a run's lock, in words, and which leftover node groups a restarted executor
really ends (DESIGN §12: a node never runs twice at once, and the message about it is true)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from aframe_dag.errors import UserError
from aframe_dag.local.state import ProcessGroups, RunLock
from aframe_dag.names import STATE_DIR


def test_a_refused_run_names_the_lock_holder_in_words(tmp_path):
    lock = RunLock(tmp_path)
    lock.acquire()
    try:
        with pytest.raises(UserError) as refused:
            RunLock(tmp_path).acquire(patience=0)
    finally:
        lock.release()
    said = str(refused.value)
    assert re.search(f"\\(pid {os.getpid()} on host {re.escape(socket.gethostname())}, started \\d\\d:\\d\\d\\)", said)
    assert "{" not in said and '"' not in said


def zombie() -> subprocess.Popen:
    """A process group whose only process has ended and is not reaped yet (as a killed executor's node is)."""
    process = subprocess.Popen(["true"], start_new_session=True)
    while "Z" not in Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]:
        time.sleep(0.01)
    return process


def test_only_groups_that_still_run_as_recorded_are_ended(tmp_path):
    groups = ProcessGroups(tmp_path)
    running = subprocess.Popen(["sleep", "30"], start_new_session=True)
    reused = subprocess.Popen(["sleep", "30"], start_new_session=True)
    ended = zombie()
    try:
        groups.record("running", running.pid, 17, [tmp_path / "logs" / "stage.log"])
        groups.record("ended", ended.pid)
        (groups.directory / "reused").write_text(f"{reused.pid} 1")  # its pid once led another node's group
        assert groups.end_leftovers(grace=5) == [("running", 17, [tmp_path / "logs" / "stage.log"])]
        assert running.wait(timeout=5) < 0 and reused.poll() is None
        assert not list((tmp_path / STATE_DIR / "groups").iterdir())
    finally:
        for process in (running, reused, ended):
            process.kill()
            process.wait()

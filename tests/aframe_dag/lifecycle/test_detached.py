"""`aframe-dag stop` and `attach` against real detached runs of fake-but-real nodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aframe_dag.condordir.running import local_lock_holder
from aframe_dag.dagfile import rescue_files
from aframe_dag.local.state import alive  # a node leads its own process group
from tests.fixtures.fake_dag import Spec, make_run, runs

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))


def aframe_dag(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([AFRAME_DAG, *map(str, args)], capture_output=True, text=True, timeout=90, **kwargs)


def wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def test_attach_then_ctrl_c_leaves_the_run_going_and_stop_ends_it_cleanly(tmp_path):
    condor = make_run(tmp_path, [Spec("slow", behaviour=["--sleep", "120"]), Spec("after", ["slow"])])
    started = aframe_dag("run", condor, "--detach")
    assert started.returncode == 0 and f"aframe-dag stop {condor}" in started.stdout
    wait_for(lambda: runs(tmp_path, "slow"), "the slow node runs")
    node_pid = int(runs(tmp_path, "slow")[0].split("pid=")[1].split()[0])

    attached = subprocess.Popen([AFRAME_DAG, "attach", str(condor), "--interval", "0.3"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    attached.send_signal(signal.SIGINT)
    out, err = attached.communicate(timeout=30)
    assert attached.returncode == 0, err
    assert "slow" in out and "running" in out and "aframe-run.log (last" in out and "slow: started" in out
    assert "detached: the run goes on" in out
    assert local_lock_holder(condor) is not None and alive(node_pid)  # Ctrl-C reached attach only

    stopped = aframe_dag("stop", condor)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped the run" in stopped.stdout and "wrote aframe.dag.rescue001" in stopped.stdout
    assert local_lock_holder(condor) is None and not alive(node_pid)
    assert [path.name for path in rescue_files(condor / "aframe.dag")] == ["aframe.dag.rescue001"]
    assert not runs(tmp_path, "after")

    for command in ("stop", "attach"):
        again = aframe_dag(command, condor)
        assert again.returncode == 2
        assert f"{condor}: no `aframe-dag run` is in progress here; nothing to" in again.stderr


def test_attach_follows_a_run_to_its_end(tmp_path):
    condor = make_run(tmp_path, [Spec("quick", behaviour=["--sleep", "4"])])
    assert aframe_dag("run", condor, "--detach").returncode == 0  # it returns once the run holds its lock
    followed = aframe_dag("attach", condor, "--interval", "0.3")
    assert followed.returncode == 0, followed.stderr
    assert "has ended" in followed.stdout and "done" in followed.stdout
    assert runs(tmp_path, "quick") and runs(tmp_path, "summary")


def test_stop_defaults_to_the_environment_and_names_a_missing_run(tmp_path):
    condor = make_run(tmp_path, [Spec("a")])
    result = aframe_dag("stop", env={**os.environ, "AFRAME_CONDOR_DIR": str(condor)})
    assert result.returncode == 2 and f"{condor}: no `aframe-dag run` is in progress here" in result.stderr

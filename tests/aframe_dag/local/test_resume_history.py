"""The local executor truncates its node log when it starts, as DAGMan does: an interrupted run resumed keeps every
node's timings and attempts through the stage logs (`status`, `why`, summary.json)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from aframe_dag.local.executor import Executor
from aframe_dag.status.merge import read_status
from aframe_dag.status.why import explain
from executables.analysis.runstate import RunState
from tests.fixtures.fake_dag import Spec, make_run, runs

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))


def chain(directory: Path) -> Path:
    """first, flaky (exit 1, then done), slow (1 s), last and the FINAL summary."""
    return make_run(directory, [Spec("first"), Spec("flaky", ["first"], behaviour=["--fail-times", "1"]),
                                Spec("slow", ["flaky"], behaviour=["--sleep", "1"]), Spec("last", ["slow"]),
                                Spec("summary", final=True)])


def interrupt_while_slow_runs(directory: Path, how: signal.Signals) -> Path:
    """Run the chain with `aframe-dag run` and stop the executor with `how` once slow's job has started."""
    condor = chain(directory)
    executor = subprocess.Popen([AFRAME_DAG, "run", str(condor)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
    deadline = time.monotonic() + 30
    while not runs(directory, "slow"):
        assert time.monotonic() < deadline and executor.poll() is None, executor.stderr.read()
        time.sleep(0.02)
    executor.send_signal(how)
    assert executor.wait(timeout=30) in (128 + how, -how), executor.stderr.read()
    return condor


def test_nodes_done_before_an_interruption_keep_their_history(tmp_path):
    condor = interrupt_while_slow_runs(tmp_path, signal.SIGINT)
    assert Executor(condor, poll=0.01).run() == 0
    assert "DAG Node: first" not in (condor / "aframe.dag.nodes.log").read_text()  # the second run truncated it
    run = read_status(condor, schedd=False)
    for name in ["first", "flaky", "slow", "last"]:
        node = run.nodes[name]
        assert node.status == "done" and None not in (node.start, node.end, node.elapsed, node.host), node
    flaky, slow = run.nodes["flaky"], run.nodes["slow"]
    assert [(attempt.exit_code, attempt.this_run) for attempt in flaky.attempts] == [(1, False), (0, False)]
    assert [(attempt.state, attempt.this_run) for attempt in slow.attempts] == [("removed", False), ("exited", True)]
    assert slow.elapsed >= 1
    assert ": exit 1 (transient failure)" in explain(condor, "flaky", run)
    assert "attempt 1 (job " in explain(condor, "slow", run)
    assert ": removed: stopped by aframe-dag run" in explain(condor, "slow", run)

    state = RunState.read(condor)
    records = state.node_records()
    assert records["first"]["elapsed"] is not None and records["first"]["start"] is not None
    assert [attempt["outcome"] for attempt in records["flaky"]["attempts"]] == ["exit 1 (transient failure)",
                                                                                "exit 0 (success)"]
    assert state.stages()["s-slow"]["node_seconds"] >= 1  # its first job (stopped) and its second


def test_a_node_that_finished_after_its_executor_was_killed(tmp_path, caplog):
    """kill -9 of the executor: slow's job goes on alone and finishes, unlogged; the resumed run does not claim to
    end it, skips it by its done-marker, and the marker tells when it ended."""
    condor = interrupt_while_slow_runs(tmp_path, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (condor / "done" / "slow.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.2)  # the job exits right after writing its marker
    assert Executor(condor, poll=0.01).run() == 0
    assert "left running" not in caplog.text
    slow = read_status(condor, schedd=False).nodes["slow"]
    assert slow.status == "done" and len(runs(tmp_path, "slow")) == 1
    assert [attempt.state for attempt in slow.attempts] == ["marked"] and slow.elapsed >= 1
    why = explain(condor, "slow")
    assert "  started " in why and "s running)" in why

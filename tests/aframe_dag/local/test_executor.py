"""The local executor against small DAGs of fake-but-real nodes rendered with aframe-dag's own templates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import classad2
import pytest

from aframe_dag.errors import UserError
from aframe_dag.local.executor import Executor
from aframe_dag.local.state import RunLock
from tests.fixtures.fake_dag import Spec, make_run, runs

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))


def statuses(condor: Path) -> tuple[int, dict[str, tuple[int, int]]]:
    """(DagStatus, {node: (NodeStatus, RetryCount)}) from the node status file, parsed as DAGMan's."""
    ads = list(classad2.parseAds((condor / "aframe.status").read_text()))
    nodes = {ad["Node"]: (ad["NodeStatus"], ad["RetryCount"]) for ad in ads if ad["Type"] == "NodeStatus"}
    return ads[0]["DagStatus"], nodes


def run(condor, workers=1, gpus=(), only=None) -> int:
    return Executor(condor, workers, list(gpus), only, poll=0.01).run()


def test_order_outputs_and_status(tmp_path):
    specs = [Spec("a"), Spec("b", ["a"]), Spec("c", ["a"]), Spec("d", ["b", "c"]), Spec("summary", final=True)]
    condor = make_run(tmp_path, specs)
    assert run(condor) == 0
    assert (tmp_path / "out" / "d.txt").read_text() == "a.txt\nb.txt\na.txt\nc.txt\nd.txt\n"
    assert all(len(runs(tmp_path, n)) == 1 for n in "abcd")
    assert "dag_status=0 failed=0" in runs(tmp_path, "summary")[0]
    dag_status, nodes = statuses(condor)
    assert dag_status == 5 and set(nodes.values()) == {(5, 0)} and list(nodes)[-1] == "summary"
    assert not list(condor.glob("aframe.dag.rescue*"))


def test_workers_bound_concurrency(tmp_path):
    condor = make_run(tmp_path, [Spec(f"n{k}", behaviour=["--sleep", "0.4"]) for k in range(4)])
    start = time.monotonic()
    assert run(condor, workers=2) == 0
    starts = sorted(float(runs(tmp_path, f"n{k}")[0].split()[0]) for k in range(4))
    assert starts[2] - starts[0] >= 0.35  # the third waited for a free worker
    assert time.monotonic() - start < 4


def test_gpus_are_handed_out_and_cpu_nodes_see_none(tmp_path):
    specs = [Spec("one", gpus=1, behaviour=["--sleep", "0.3"]), Spec("other", gpus=1, behaviour=["--sleep", "0.3"]),
             Spec("both", ["one", "other"], gpus=2), Spec("cpu")]
    condor = make_run(tmp_path, specs)
    assert run(condor, workers=3, gpus=["0", "1"]) == 0
    seen = {name: runs(tmp_path, name)[0].split("gpus=")[1].split()[0] for name in ["one", "other", "both"]}
    assert sorted([seen["one"], seen["other"]]) == ["0", "1"] and seen["both"] == "0,1"
    assert "gpus= " in runs(tmp_path, "cpu")[0]  # CUDA_VISIBLE_DEVICES set and empty
    assert "threads=1" in runs(tmp_path, "cpu")[0]


def test_impossible_requests_fail_at_once(tmp_path):
    condor = make_run(tmp_path, [Spec("greedy", gpus=3), Spec("fat", cpus=4096)])
    start = time.monotonic()
    assert run(condor, gpus=["0", "1"]) == 1
    assert time.monotonic() - start < 5
    _, nodes = statuses(condor)
    assert nodes["greedy"][0] == 6 and nodes["fat"][0] == 6
    assert not runs(tmp_path, "greedy")


def test_retries_then_success_and_retries_exhausted(tmp_path):
    condor = make_run(tmp_path, [Spec("flaky", behaviour=["--fail-times", "2"]),
                                 Spec("broken", behaviour=["--fail-times", "9"])])
    assert run(condor) == 1
    assert len(runs(tmp_path, "flaky")) == 3 and len(runs(tmp_path, "broken")) == 3
    _, nodes = statuses(condor)
    assert nodes["flaky"] == (5, 2) and nodes["broken"] == (6, 2)


def test_unless_exit_2_is_not_retried(tmp_path):
    condor = make_run(tmp_path, [Spec("bad", behaviour=["--permanent"]), Spec("orphan", ["bad"]),
                                 Spec("summary", final=True)])
    assert run(condor) == 1
    assert len(runs(tmp_path, "bad")) == 1 and not runs(tmp_path, "orphan")
    assert "dag_status=2 failed=1" in runs(tmp_path, "summary")[0]
    _, nodes = statuses(condor)
    assert nodes["bad"] == (6, 0) and nodes["orphan"] == (0, 0) and nodes["summary"][0] == 6
    assert "told to fail permanently" in (condor / "logs" / "bad.err").read_text()


def test_checkpoint_exit_requeues_without_counting_a_retry(tmp_path):
    condor = make_run(tmp_path, [Spec("train", behaviour=["--checkpoints", "3"], retries=0)])
    assert run(condor) == 0
    assert len(runs(tmp_path, "train")) == 4
    assert statuses(condor)[1]["train"] == (5, 0)


def test_finished_nodes_are_skipped_by_their_pre_script(tmp_path):
    condor = make_run(tmp_path, [Spec("a"), Spec("b", ["a"]), Spec("summary", final=True)])
    assert run(condor) == 0
    assert run(condor) == 0
    assert len(runs(tmp_path, "a")) == 1 and len(runs(tmp_path, "b")) == 1
    assert len(runs(tmp_path, "summary")) == 2  # FINAL always runs
    log = (condor / "aframe.dag.nodes.log").read_text()
    assert log.count("PRE script return value is PRE_SKIP value") == 2


def test_rescue_file_is_written_and_honoured(tmp_path):
    specs = [Spec("a"), Spec("once", ["a"], behaviour=["--fail-times", "1"], retries=0), Spec("c", ["once"]),
             Spec("summary", final=True)]
    condor = make_run(tmp_path, specs)
    assert run(condor) == 1
    rescue = (condor / "aframe.dag.rescue001").read_text()
    assert "DONE a\n" in rescue and "DONE once" not in rescue and "RETRY once 0" not in rescue
    (condor / "done" / "a.json").unlink()  # DONE in the rescue file is enough, as for DAGMan
    assert run(condor) == 0
    assert len(runs(tmp_path, "a")) == 1 and len(runs(tmp_path, "once")) == 2 and len(runs(tmp_path, "c")) == 1


def test_priorities_order_ready_nodes(tmp_path):
    condor = make_run(tmp_path, [Spec("low"), Spec("high", priority=10), Spec("mid", priority=5)])
    assert run(condor, workers=1) == 0
    started = sorted((float(runs(tmp_path, n)[0].split()[0]), n) for n in ["low", "high", "mid"])
    assert [n for _, n in started] == ["high", "mid", "low"]


def test_only_runs_the_named_nodes(tmp_path):
    condor = make_run(tmp_path, [Spec("a"), Spec("b", ["a"]), Spec("summary", final=True)])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("by hand\n")
    assert run(condor, only=["b"]) == 0
    assert not runs(tmp_path, "a") and len(runs(tmp_path, "b")) == 1 and not runs(tmp_path, "summary")
    with pytest.raises(UserError, match="no node"):
        Executor(condor, only=["nope"])


def test_a_second_executor_is_refused(tmp_path):
    condor = make_run(tmp_path, [Spec("a")])
    lock = RunLock(condor)
    lock.acquire()
    try:
        with pytest.raises(UserError, match="another `aframe-dag run` is using this run"):
            run(condor)
    finally:
        lock.release()


def start_executor(condor: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([AFRAME_DAG, "run", str(condor), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def chain() -> list[Spec]:
    return [Spec("first"), Spec("slow", ["first"], behaviour=["--sleep", "30"]), Spec("last", ["slow"]),
            Spec("summary", final=True)]


def test_sigint_stops_children_and_writes_a_rescue_file(tmp_path):
    condor = make_run(tmp_path, chain())
    executor = start_executor(condor)
    wait_for(lambda: runs(tmp_path, "slow"))
    executor.send_signal(signal.SIGINT)
    assert executor.wait(timeout=20) == 130
    pid = int(runs(tmp_path, "slow")[0].split("pid=")[1].split()[0])
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=5)
    assert "DONE first" in (condor / "aframe.dag.rescue001").read_text()
    assert not (tmp_path / "out" / "slow.txt").exists()


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    specs = [Spec("first"), Spec("slow", ["first"], behaviour=["--sleep", "3"]), Spec("last", ["slow"]),
             Spec("summary", final=True)]
    clean = make_run(tmp_path / "clean", specs)
    assert run(clean) == 0
    condor = make_run(tmp_path / "killed", specs)
    executor = start_executor(condor)
    wait_for(lambda: runs(tmp_path / "killed", "slow"))
    executor.kill()
    executor.wait()
    pid = int(runs(tmp_path / "killed", "slow")[0].split("pid=")[1].split()[0])
    assert Path(f"/proc/{pid}").exists()  # the node outlived its executor...
    result = start_executor(condor)
    assert result.wait(timeout=60) == 0, result.stderr.read()
    assert "ended 1 node(s) a previous executor left running: slow" in result.stderr.read()
    assert "ended by aframe-dag run: the executor that started it had been killed" in \
        (condor / "logs" / "s-slow.log").read_text()  # the node's own log says why its first job ended
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert len(runs(tmp_path / "killed", "first")) == 1  # ...and nothing DONE ran again
    for name in ["first", "slow", "last"]:
        assert (tmp_path / "killed" / "out" / f"{name}.txt").read_bytes() == \
            (tmp_path / "clean" / "out" / f"{name}.txt").read_bytes()


def test_detach_outlives_the_command(tmp_path):
    condor = make_run(tmp_path, [Spec("a", behaviour=["--sleep", "0.5"]), Spec("summary", final=True)])
    result = subprocess.run([AFRAME_DAG, "run", str(condor), "--detach"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "running in the background" in result.stdout
    wait_for(lambda: (condor / "aframe.status").exists() and statuses(condor)[0] == 5, timeout=30)
    assert "summary: done" in (condor / "aframe-run.log").read_text()


def test_dry_run_lists_without_running(tmp_path):
    condor = make_run(tmp_path, [Spec("a"), Spec("b", ["a"])])
    result = subprocess.run([AFRAME_DAG, "run", str(condor), "--dry-run"], capture_output=True, text=True)
    assert result.returncode == 0 and "runs: no done-marker" in result.stdout
    assert not runs(tmp_path, "a")


def test_run_without_a_dag_is_a_user_error(tmp_path):
    result = subprocess.run([AFRAME_DAG, "run", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "no DAG here" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []

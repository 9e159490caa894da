"""Parity: the same rendered DAG run by real DAGMan and by `aframe-dag run` ends the same way (issue 8).

The DAG has a node that succeeds, one that fails once and is retried, one that fails permanently (exit 2,
UNLESS-EXIT) with a child that therefore never runs, one whose outputs exist already (PRE_SKIP), a GPU node,
and the FINAL node that sees $(DAG_STATUS). Differences that cannot be removed are listed in
docs/design-notes.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import classad2
import pytest

from aframe_dag.dagfile import JOIN_NODE_PREFIX, rescue_files
from aframe_dag.local.executor import Executor
from tests.fixtures.fake_dag import Spec, make_run, runs
from tests.fixtures.pool import Pool

pytestmark = pytest.mark.condor

SPECS = [
    Spec("ok"),
    Spec("flaky", ["ok"], behaviour=["--fail-times", "1"]),
    Spec("bad", behaviour=["--permanent"]),
    Spec("orphan", ["bad"]),
    Spec("done-before"),
    Spec("gpu", ["ok"], gpus=1),
    Spec("summary", final=True),
]


def prepare(directory: Path) -> Path:
    """The parity DAG, with `done-before` already finished by hand (so its PRE script skips it)."""
    condor = make_run(directory, SPECS)
    subprocess.run(["bash", str(condor / "run_local.sh"), "done-before"], check=True, capture_output=True)
    (directory / "out" / "done-before.txt.runs").unlink()
    return condor


def outcome(directory: Path, condor: Path, exit_code: int) -> dict:
    """Everything parity compares: run counts, FINAL's view, exit code, rescue DONE/RETRY, status file."""
    (rescue,) = rescue_files(condor / "aframe.dag")
    lines = [line for line in rescue.read_text().splitlines() if line and not line.startswith("#")]
    ads = list(classad2.parseAds((condor / "aframe.status").read_text()))
    return {
        "runs": {spec.name: len(runs(directory, spec.name)) for spec in SPECS},
        "final": runs(directory, "summary")[0].split("dag_status=")[1],
        "exit": exit_code,
        "done": sorted(line.split()[1] for line in lines if line.startswith("DONE") and JOIN_NODE_PREFIX not in line),
        "retry": sorted(line for line in lines if line.startswith("RETRY")),
        "dag_status": ads[0]["DagStatus"],
        "nodes": {ad["Node"]: (ad["NodeStatus"], ad["RetryCount"]) for ad in ads if ad["Type"] == "NodeStatus"},
    }


def test_local_executor_matches_dagman(condor_pool: Pool, pool_dir: Path, tmp_path: Path) -> None:
    condor_pool.run([sys.executable, "-c", "pass"])  # opens the way to this Python for the pool's user
    pool_condor = prepare(pool_dir)
    condor_pool.own(pool_dir)
    condor_pool.submit_dag(pool_condor / "aframe.dag")
    dagman = outcome(pool_dir, pool_condor, condor_pool.wait_dag(pool_condor / "aframe.dag", timeout=150))

    local_condor = prepare(tmp_path)
    local = outcome(tmp_path, local_condor, Executor(local_condor, workers=2, gpus=["0"], poll=0.01).run())

    assert dagman["runs"] == {"ok": 1, "flaky": 2, "bad": 1, "orphan": 0, "done-before": 0, "gpu": 1, "summary": 1}
    assert local == dagman


def rm_specs(*slow: str) -> list[Spec]:
    """first -> slow, other -> last, and FINAL; `slow` behaves as told."""
    return [Spec("first"), Spec("slow", ["first"], behaviour=list(slow)), Spec("other", ["first"]),
            Spec("last", ["slow", "other"]), Spec("summary", final=True)]


def test_condor_rm_mid_run_then_resubmit_gives_the_same_outputs(condor_pool: Pool, pool_dir: Path,
                                                                 tmp_path: Path) -> None:
    specs = rm_specs("--sleep", "8", "--sleep-once")  # only the start that condor_rm ends is slow
    condor_pool.run([sys.executable, "-c", "pass"])
    condor = make_run(pool_dir, specs)
    condor_pool.own(pool_dir)
    cluster = condor_pool.submit_dag(condor / "aframe.dag")
    deadline = time.monotonic() + 90
    while not runs(pool_dir, "slow"):
        assert time.monotonic() < deadline, condor_pool.dagman_out_tail(condor / "aframe.dag")
        time.sleep(0.5)
    condor_pool.run(["condor_rm", str(cluster)])
    condor_pool.wait_dag(condor / "aframe.dag", timeout=90, cluster=cluster)
    assert not (pool_dir / "out" / "slow.txt").exists()  # killed mid-run, and nothing partial left
    assert rescue_files(condor / "aframe.dag")

    condor_pool.submit_dag(condor / "aframe.dag")
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=120) == 0
    assert len(runs(pool_dir, "first")) == 1 and len(runs(pool_dir, "slow")) == 2

    clean = make_run(tmp_path, rm_specs())  # what a node writes does not depend on how long it slept
    assert Executor(clean, workers=2, poll=0.01).run() == 0
    for name in ["first", "slow", "other", "last"]:
        assert (pool_dir / "out" / f"{name}.txt").read_bytes() == (tmp_path / "out" / f"{name}.txt").read_bytes()

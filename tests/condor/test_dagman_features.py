"""DAGMan features of the rendered files, checked on the real schedd: MAXJOBS, accounting, explicit environment,
a POST script's output kept for `why`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aframe_dag.local.executor import Executor
from aframe_dag.status.why import explain
from tests.aframe_dag.local.test_transfer import job
from tests.fixtures.fake_dag import Spec, make_run, runs
from tests.fixtures.pool import Pool

pytestmark = pytest.mark.condor


def test_maxjobs_gpu_category_serializes_gpu_nodes(condor_pool: Pool, pool_dir: Path) -> None:
    """The pool has two GPUs, so only MAXJOBS gpu 1 keeps the three GPU nodes from overlapping."""
    condor_pool.run([sys.executable, "-c", "pass"])
    specs = [Spec(f"gpu{k}", gpus=1, behaviour=["--sleep", "2"]) for k in range(3)]
    condor = make_run(pool_dir, specs, max_gpu_jobs=1)
    assert "MAXJOBS gpu 1" in (condor / "aframe.dag").read_text()
    condor_pool.own(pool_dir)
    condor_pool.submit_dag(condor / "aframe.dag")
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=120) == 0
    spans = sorted((float(runs(pool_dir, s.name)[0].split()[0]), (pool_dir / "out" / f"{s.name}.txt").stat().st_mtime)
                   for s in specs)
    assert all(later[0] >= earlier[1] - 0.05 for earlier, later in zip(spans, spans[1:], strict=False))
    assert all("gpus=GPU-" in runs(pool_dir, s.name)[0] for s in specs)


def test_accounting_and_explicit_environment_reach_the_job(condor_pool: Pool, pool_dir: Path) -> None:
    condor_pool.run([sys.executable, "-c", "pass"])
    condor = make_run(pool_dir, [Spec("a")], accounting_group="group_aframe.test", accounting_group_user="tester")
    condor_pool.own(pool_dir)
    cluster = condor_pool.submit_dag(condor / "aframe.dag")
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=90) == 0
    history = condor_pool.run(["condor_history", "-constraint", f"DAGManJobId == {cluster}", "-af", "DAGNodeName",
                               "AcctGroup", "AcctGroupUser", "Env", "Environment"]).stdout
    line = next(line for line in history.splitlines() if line.startswith("a "))
    assert "group_aframe.test tester" in line
    assert "OMP_NUM_THREADS=1" in line and "PYTHONUNBUFFERED=1" in line
    assert "threads=1" in runs(pool_dir, "a")[0]


def post_failing(directory: Path) -> Path:
    """A job that succeeds and a POST script (as the transfer mode's landing check) that says why it fails it."""
    post = directory / "bin" / "post.sh"
    node = job(directory, "a", "echo made > x.hdf5", "transfer_output_files = x.hdf5")
    post.write_text("#!/bin/sh\necho \"x.hdf5 came back with 5 bytes, the job recorded 7\" >&2\nexit 1\n")
    post.chmod(0o755)
    (directory / "logs").mkdir(exist_ok=True)
    (directory / "t.dag").write_text(node + f"SCRIPT DEBUG logs/a.post ALL POST a {post} $RETURN\n")
    return directory / "t.dag"


def test_why_shows_what_the_post_script_said(condor_pool: Pool, pool_dir: Path, tmp_path: Path) -> None:
    """DAGMan keeps a POST script's output only in its SCRIPT DEBUG file; `why` shows it, under DAGMan and locally."""
    condor_pool.run([sys.executable, "-c", "pass"])
    pool_dag = post_failing(pool_dir)
    condor_pool.own(pool_dir)
    condor_pool.submit_dag(pool_dag)
    assert condor_pool.wait_dag(pool_dag, timeout=60) != 0
    local_dag = post_failing(tmp_path)
    assert Executor(local_dag, workers=1, poll=0.01).run() != 0
    for dag in (pool_dag, local_dag):
        text = explain(dag, "a")
        assert "POST script exit code: 1" in text, text
        assert "POST script output" in text and "x.hdf5 came back with 5 bytes, the job recorded 7" in text, text

"""A running DAG is never touched (issue 18): a DAG submitted with `condor_submit_dag /abs/path/aframe.dag` from
another directory, under a batch name of the user's own, is found by the DAG file its DAGMan job runs. While it
runs, `resubmit`, `invalidate`, `run`, `build --force` and `clean` refuse with exit code 2 naming the DAGMan job, and
`status` shows its running node live from the schedd."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from aframe_dag.init.init import run_directories
from tests.fixtures.fake_dag import Spec, make_run
from tests.fixtures.pool import REPO_ROOT, Pool

pytestmark = pytest.mark.condor

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))
BATCH = "someone-elses-name"


def _status(pool: Pool, condor: Path) -> dict:
    return json.loads(pool.run([AFRAME_DAG, "status", condor, "--json"], timeout=30).stdout)


def _wait_running(pool: Pool, condor: Path, node: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while (state := _status(pool, condor))["nodes"][node]["status"] != "running":
        if time.monotonic() > deadline:
            raise AssertionError(f"{node} never ran: {json.dumps(state)[:2000]}\n"
                                 + pool.dagman_out_tail(condor / "aframe.dag"))
        time.sleep(1)
    return state


def _micro_ini(directory: Path) -> tuple[Path, dict[str, str]]:
    """The micro config and the AFRAME_* variables run.sh would set for it, all under `directory`."""
    shutil.copy(REPO_ROOT / "tests" / "data" / "train_micro.yaml", directory / "train.yaml")
    ini = Path(shutil.copy(REPO_ROOT / "tests" / "data" / "micro.ini", directory / "run.ini"))
    return ini, run_directories(directory, None)


def test_every_change_is_refused_while_dagman_runs_the_dag_from_another_directory(condor_pool: Pool,
                                                                                  pool_dir: Path) -> None:
    condor = make_run(pool_dir, [Spec("slow", behaviour=["--sleep", "60"])])
    elsewhere, rebuild = pool_dir / "elsewhere", pool_dir / "rebuild"
    elsewhere.mkdir()
    rebuild.mkdir()
    ini, variables = _micro_ini(rebuild)
    condor_pool.own(pool_dir)
    condor_pool.run([AFRAME_DAG, "--version"])  # opens the way to this virtualenv for the pool's user (PRE scripts)
    submitted = condor_pool.run(["condor_submit_dag", "-batch-name", BATCH, condor / "aframe.dag"], cwd=elsewhere)
    cluster = int(re.search(r"submitted to cluster (\d+)", submitted.stdout).group(1))
    try:
        state = _wait_running(condor_pool, condor, "slow")
        assert state["live"] and state["dag_status"] == "running" and state["nodes"]["slow"]["source"] == "schedd"
        node_job = state["nodes"]["slow"]["job"].split(".")[0]
        assert condor_pool.run(["condor_q", node_job, "-af", "DAGManJobId"]).stdout.split() == [str(cluster)]

        dag, done = (condor / "aframe.dag").read_bytes(), sorted((condor / "done").iterdir())
        expected = (f"DAGMan job {cluster} is running this DAG (submitted from {elsewhere}, batch name {BATCH}): "
                    f"wait for it or condor_rm {cluster} first")
        for command in (["resubmit", condor], ["invalidate", "slow", condor], ["run", condor],
                        ["build", ini, "--outdir", condor, "--force"], ["clean", condor, "--shards", "--yes"]):
            refused = condor_pool.run([AFRAME_DAG, *command], check=False, env=variables)
            assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
            assert refused.stderr.startswith("aframe-dag: error: ") and refused.stderr.count("\n") == 1, command
            assert expected in refused.stderr, (command, refused.stderr)
        assert (condor / "aframe.dag").read_bytes() == dag and sorted((condor / "done").iterdir()) == done
        assert not list(condor.glob("aframe.dag.rescue*")) and not (condor / "run.ini.resolved").exists()
        queue = condor_pool.run(["condor_q", "-constraint", "JobUniverse == 7", "-af", "ClusterId"]).stdout.split()
        assert queue == [str(cluster)]  # no second DAGMan was submitted
    finally:
        condor_pool.run(["condor_rm", str(cluster)], check=False)
    condor_pool.wait_dag(condor / "aframe.dag", timeout=60, cluster=cluster)

"""DAGs that `aframe-dag build` did not write, under real DAGMan: the local executor must end the same way, and
`status`/`why` must read them (issue 18).

With ``AFRAME_DAG_RECORD_FIXTURES=1`` the DAGMan runs are copied into ``tests/data/dagman/idiom/`` and
``tests/data/dagman/subdag/``, which tests/aframe_dag/test_status_any_dag.py reads without a pool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aframe_dag.dagfile import JOIN_NODE_PREFIX, read_dag, rescue_files
from aframe_dag.errors import UserError
from aframe_dag.local.executor import Executor
from aframe_dag.status.merge import read_status
from tests.aframe_dag.test_dagfile import LANGUAGE
from tests.fixtures.idiom_dag import RUNS, attempts, make_idiom_dag, outputs
from tests.fixtures.pool import REPO_ROOT, Pool

pytestmark = pytest.mark.condor

RECORDED = REPO_ROOT / "tests" / "data" / "dagman"
DAGMAN_FILES = (".nodes.log", ".dagman.out", ".rescue001", ".metrics")


def outcome(dag: Path, exit_code: int) -> dict:
    """Everything parity compares: job attempts (arguments), output files, scripts, exit code, rescue DONE lines,
    and the per-node states `aframe-dag status` reads from the run's files."""
    directory = dag.parent
    rescue = rescue_files(dag)[-1].read_text().splitlines()
    return {
        "attempts": attempts(directory),
        "outputs": outputs(directory),
        "scripts": (directory / "records" / "scripts.txt").read_text(),
        "exit": exit_code,
        "done": sorted(line.split()[1] for line in rescue if line.startswith("DONE ")
                       and JOIN_NODE_PREFIX not in line),
        "status": {name: node.status for name, node in read_status(dag).nodes.items()},
    }


def record(directory: Path, name: str, files: list[str]) -> None:
    """Copy what DAGMan wrote into tests/data/dagman/<name>/ (only with AFRAME_DAG_RECORD_FIXTURES=1)."""
    if os.environ.get("AFRAME_DAG_RECORD_FIXTURES") != "1":
        return
    target = RECORDED / name
    for file in files:
        (target / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(directory / file, target / file)


def test_the_executor_ends_a_dagman_idiom_dag_as_dagman_does(condor_pool: Pool, pool_dir: Path,
                                                             tmp_path: Path) -> None:
    condor_pool.run([sys.executable, "-c", "pass"])  # opens the way to this Python for the pool's user
    pool_dag = make_idiom_dag(pool_dir)
    condor_pool.own(pool_dir)
    condor_pool.submit_dag(pool_dag)
    dagman = outcome(pool_dag, condor_pool.wait_dag(pool_dag, timeout=150))

    local_dag = make_idiom_dag(tmp_path)
    local = outcome(local_dag, Executor(local_dag, workers=2, gpus=["0"], poll=0.01).run())

    assert {node: len(dagman["attempts"].get(node, [])) for node in RUNS} == RUNS
    assert dagman["attempts"]["summary"] == ["summary 0 final dag_status=2 failed=1"]
    assert dagman["status"]["bad"] == "failed" and dagman["status"]["orphan"] in ("not-ready", "not-started")
    assert local == dagman
    record(pool_dir, "idiom", ["idiom.dag", "node.sub", "pair.dag", "more.dag", "idiom.status",
                               *(f"idiom.dag{suffix}" for suffix in DAGMAN_FILES),
                               *(f"logs/{p.name}" for p in (pool_dir / "logs").glob("*.err"))])


SUBDAG_OUTER = """\
JOB first node.sub
SPLICE pair pair.dag
SUBDAG EXTERNAL inner inner.dag
PARENT first CHILD pair
PARENT pair CHILD inner
VARS first mode="ok" gpus="0" extra=""
NODE_STATUS_FILE outer.status 5
"""
SUBDAG_INNER = """\
JOB x node.sub
JOB y node.sub
VARS ALL_NODES mode="ok" gpus="0" extra=""
PARENT x CHILD y
NODE_STATUS_FILE inner.status 5
"""


def test_a_subdag_is_one_node_whose_own_dag_status_reads(condor_pool: Pool, pool_dir: Path) -> None:
    condor_pool.run([sys.executable, "-c", "pass"])
    make_idiom_dag(pool_dir)  # for its node program, node.sub and pair.dag
    (pool_dir / "outer.dag").write_text(SUBDAG_OUTER)
    (pool_dir / "inner.dag").write_text(SUBDAG_INNER)
    condor_pool.own(pool_dir)
    condor_pool.submit_dag(pool_dir / "outer.dag")
    assert condor_pool.wait_dag(pool_dir / "outer.dag", timeout=150) == 0

    outer = read_status(pool_dir / "outer.dag")
    assert {name: node.status for name, node in outer.nodes.items()} == {
        "first": "done", "pair+left": "done", "pair+right": "done", "inner": "done"}
    inner = read_status(pool_dir / "inner.dag")
    assert {name: node.status for name, node in inner.nodes.items()} == {"x": "done", "y": "done"}
    with pytest.raises(UserError, match=r"outer.dag:3: SUBDAG EXTERNAL inner: only DAGMan runs it"):
        Executor(pool_dir / "outer.dag")
    record(pool_dir, "subdag", ["outer.dag", "inner.dag", "pair.dag", "node.sub", "outer.status", "inner.status",
                                *(f"outer.dag{suffix}" for suffix in DAGMAN_FILES[:2]),
                                *(f"inner.dag{suffix}" for suffix in DAGMAN_FILES[:2])])


def test_our_reader_counts_what_condor_dag_checker_counts(condor_pool: Pool, tmp_path: Path) -> None:
    """HTCondor's own parser (condor_dag_checker) and ours agree on the nodes, splices and sub-DAGs of a DAG that
    uses the whole language."""
    (tmp_path / "part.dag").write_text("JOB included a.sub\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.dag").write_text("JOB X ../a.sub\nJOB Y ../a.sub\nPARENT X CHILD Y\n")
    (tmp_path / "x.dag").write_text(LANGUAGE.replace("REJECT\n", ""))
    checker = shutil.which("condor_dag_checker", path=condor_pool.env["PATH"])
    result = subprocess.run([checker, "-json", "x.dag"], cwd=tmp_path, env=condor_pool.command_env(),
                            capture_output=True, text=True, timeout=60)
    (report,) = json.loads(result.stdout)
    assert not report.get("Errors"), report
    dag = read_dag(tmp_path / "x.dag")
    assert report["TotalNodes"] == len(dag.nodes)
    assert report["NumSplices"] == len(dag.splices) and report["FinalNode"] == dag.final.name
    assert report["NumSubDAGs"] == sum(node.kind == "subdag" for node in dag.nodes.values())
    assert report["NumArcs"] == sum(len(parents) for parents in dag.parents.values())

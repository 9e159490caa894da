"""What `aframe-dag build` renders, run by the real DAGMan of a personal pool (DESIGN §8).

Most tests here mark nodes finished the way a node does (outputs + done-marker) and let DAGMan's PRE script skip
them, or make one fail: that exercises the DAG file, the submit files the schedd accepts, node-check + PRE_SKIP,
UNLESS-EXIT 2, the rescue file, resubmission and FINAL with $(DAG_STATUS), in seconds. The last one runs the
session's short run after training (``small_run``: test data, export of the micro run's model, two infer nodes,
aggregate, sv and the FINAL report) for real under DAGMan and holds its results to the local executor's run of the
same config. (Training under HTCondor, with its requeues, is test_train_requeue.py's.)"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import classad2
import numpy as np
import pytest

from aframe_dag.config import load_config
from aframe_dag.dagfile import JOIN_NODE_PREFIX, read_dag, rescue_files
from aframe_dag.plan import plan
from executables.common.markers import write_done_marker
from tests.fixtures.micro import SMALL, headline
from tests.fixtures.pool import REPO_ROOT, Pool

pytestmark = pytest.mark.condor

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))
DAG_TIMEOUT = 120.0
NODE_DONE = 5


def build_micro(pool: Pool, directory: Path, data_from: Path | None = None, *overrides: str) -> Path:
    """Build the micro run as the pool's user, with every directory under `directory` (the data and training
    directories under `data_from` when given); returns the condor dir."""
    text = (REPO_ROOT / "tests" / "data" / "micro.ini").read_text()
    for name in ["TRAIN_DATA_DIR", "TEST_DATA_DIR", "TRAIN_RUN_DIR", "CONDOR_DIR", "RESULTS_DIR", "TMPDIR"]:
        shared = data_from is not None and name in ("TRAIN_DATA_DIR", "TEST_DATA_DIR", "TRAIN_RUN_DIR")
        text = text.replace(f"$AFRAME_{name}", str((data_from if shared else directory) / name.lower()))
    (directory / "run.ini").write_text(text)
    (directory / "train.yaml").write_text((REPO_ROOT / "tests" / "data" / "train_micro.yaml").read_text())
    pool.own(directory)
    pool.run([AFRAME_DAG, "build", directory / "run.ini", *(f"--set={item}" for item in overrides)], cwd=directory)
    return directory / "condor_dir"


def finish(condor: Path, pool: Pool, skip: set[str] = frozenset()) -> None:
    """Do what each planned node does when it succeeds: write its declared outputs, then its done-marker."""
    for node in plan(load_config(condor / "run.ini.resolved")).nodes:
        if node.final or node.name in skip:
            continue
        for output in map(Path, node.outputs):
            if output.suffix:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_bytes(node.name.encode())
            else:  # a directory output, such as the model repository
                (output / "1").mkdir(parents=True, exist_ok=True)
                (output / "1" / "model.onnx").write_bytes(b"onnx")
        write_done_marker(condor / "done" / f"{node.name}.json", node.name, node.outputs, node.hash)
    pool.own(condor.parent)


def statuses(condor: Path) -> dict[str, int]:
    """NodeStatus of every node in DAGMan's node status file."""
    ads = classad2.parseAds((condor / "aframe.status").read_text())
    return {ad["Node"]: ad["NodeStatus"] for ad in ads if ad.get("Type") == "NodeStatus"}


def submitted_jobs(condor: Path) -> int:
    """How many real jobs DAGMan submitted in its last run (DAGMan's own no-op join nodes do not count)."""
    lines = (condor / "aframe.dag.nodes.log").read_text().splitlines()
    return sum(1 for line in lines if line.startswith("000 (") and "dummy-submit-for-noop-job" not in line)


def test_finished_run_submitted_by_build_skips_every_node_and_summarizes(condor_pool: Pool, pool_dir: Path) -> None:
    """`aframe-dag build --submit` submits with the htcondor2 bindings (CONDOR_CONFIG names the pool), and DAGMan's
    PRE scripts skip every finished node: only FINAL runs."""
    condor = build_micro(condor_pool, pool_dir)
    finish(condor, condor_pool)
    result = condor_pool.run([AFRAME_DAG, "build", pool_dir / "run.ini", "--submit"], cwd=pool_dir)
    assert "unchanged" in result.stdout
    match = re.search(r"submitted: DAGMan job (\d+)", result.stdout)
    assert match, result.stdout
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=DAG_TIMEOUT, cluster=int(match.group(1))) == 0
    history = condor_pool.run(["condor_history", match.group(1), "-af", "JobBatchName"]).stdout.split()
    assert history == ["micro"]
    assert set(statuses(condor).values()) == {NODE_DONE}
    assert submitted_jobs(condor) == 1  # only FINAL ran: every other node was skipped by its PRE script
    summary = json.loads((pool_dir / "results_dir" / "summary.json").read_text())
    assert summary["dag_status"] == 0 and all(node["done"] for node in summary["nodes"].values())


def test_permanent_failure_leaves_a_rescue_file_and_resubmission_completes(condor_pool: Pool, pool_dir: Path) -> None:
    condor = build_micro(condor_pool, pool_dir)
    finish(condor, condor_pool, skip={"sv"})
    condor_pool.submit_dag(condor / "aframe.dag", "-batch-name", "micro")
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=DAG_TIMEOUT) != 0
    assert "not a readable HDF5 file" in (condor / "logs" / "sv.err").read_text()  # the stand-in events
    assert submitted_jobs(condor) == 2  # sv once (exit 2: UNLESS-EXIT, no retry) and FINAL
    summary = json.loads((pool_dir / "results_dir" / "summary.json").read_text())
    assert summary["dag_status"] != 0 and summary["nodes"]["sv"]["done"] is False
    (rescue,) = rescue_files(condor / "aframe.dag")
    done = {line.split()[1] for line in rescue.read_text().splitlines() if line.startswith("DONE ")}
    # DAGMan adds no-op join nodes for many-to-many PARENT/CHILD lines and lists them too
    assert {name for name in done if name.startswith("_condor_join_node")}
    done = {name for name in done if not name.startswith("_condor_join_node")}
    assert done == {node for node in read_dag(condor / "aframe.dag").nodes if node not in ("sv", "summary")}

    finish(condor, condor_pool)  # the cause is fixed: sv's outputs now exist
    resubmitted = condor_pool.run([AFRAME_DAG, "resubmit", condor]).stdout  # through the htcondor2 bindings
    assert "aframe.dag.rescue001" in resubmitted
    cluster = int(re.search(r"DAGMan job (\d+)", resubmitted).group(1))
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=DAG_TIMEOUT, cluster=cluster) == 0
    assert submitted_jobs(condor) == 1
    assert "Found rescue DAG number 1" in (condor / "aframe.dag.dagman.out").read_text()


def test_a_run_reusing_another_s_data_and_training_starts_at_export(condor_pool: Pool, pool_dir: Path) -> None:
    """`[run] reuse`: the done-markers of the first run's data and training nodes are copied at build, so DAGMan's
    PRE scripts skip them; export is the first job (and fails here on the stand-in model, exit 2)."""
    (first := pool_dir / "first").mkdir()
    (second := pool_dir / "second").mkdir()
    old = build_micro(condor_pool, first)
    finish(old, condor_pool)
    condor = build_micro(condor_pool, second, first, f"run.reuse={old}", f"train.config={first / 'train.yaml'}")
    reused = {path.stem for path in (condor / "done").glob("*.json")}
    assert "train" in reused and "export" not in reused and not any(name.startswith("infer") for name in reused)
    condor_pool.submit_dag(condor / "aframe.dag", "-batch-name", "micro-reuse")
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=DAG_TIMEOUT) != 0
    dagman = statuses(condor)
    assert all(dagman[name] == NODE_DONE for name in reused)
    assert dagman["export"] == 6 and submitted_jobs(condor) == 2  # export and FINAL: nothing reused ran


def test_small_run_under_dagman_ends_with_the_local_run_s_results(condor_pool: Pool, pool_dir: Path,
                                                                    small_run) -> None:
    """The session's short run after training under the real DAGMan: every node done, the report written, and the
    headline numbers bit-equal to the local executor's run of the same config (both give each node OMP/MKL threads =
    request_cpus)."""
    model = Path(shutil.copy(small_run.model, pool_dir / "model.pt"))  # where the pool's user can read it
    condor = build_micro(condor_pool, pool_dir, None, *SMALL, f"train.model={model}")
    condor_pool.submit_dag(condor / "aframe.dag", "-batch-name", "micro")
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=600) == 0, condor_pool.dagman_out_tail(
        condor / "aframe.dag")
    dagman = statuses(condor)
    assert {"export", "infer-0000", "infer-0001", "aggregate", "sv", "summary"} <= dagman.keys()
    ours = json.loads(condor_pool.run([AFRAME_DAG, "status", condor, "--json"]).stdout)["nodes"]
    for name, state in dagman.items():
        if name.startswith(JOIN_NODE_PREFIX):  # DAGMan's own no-op nodes are not ours to report
            assert name not in ours
            continue
        assert (name, state, ours[name]["status"]) == (name, NODE_DONE, "done")
    assert submitted_jobs(condor) == len(ours)  # every node ran as a job: none was done before
    assert condor_pool.run([AFRAME_DAG, "check", condor, "--local"]).returncode == 0
    results = pool_dir / "results_dir"
    assert json.loads((results / "summary.json").read_text())["dag_status"] == 0
    assert (results / "report.html").stat().st_size > 0
    theirs, local = headline(results), small_run.headline
    assert theirs.keys() == local.keys()
    for key, value in local.items():
        np.testing.assert_array_equal(theirs[key], value, err_msg=key)

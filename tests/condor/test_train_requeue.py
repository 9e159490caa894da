"""aframe-train's exit 85 under a real HTCondor: the rendered train submit file requeues it until it completes.

The micro run is built with ``[train] max_wallclock`` set, so its train node gets ``--max-wallclock`` and stops after
one training step of each start (saving ``last.ckpt``, exiting 85). A one-node DAG holds the ``train`` node exactly
as ``aframe.dag`` has it; its inputs are small synthetic files at the paths the plan expects. HTCondor sees
``checkpoint_exit_code = 85``, so each such exit puts the job back in the queue (no DAGMan retry is spent) and the
next start resumes from ``last.ckpt`` until ``model.pt`` is written. (HTCondor 25 restarts such a job in its slot: the
user log shows one execution and one termination, the job ad counts ``CheckpointNumber``.)
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import classad2
import htcondor2
import pytest
import torch
import yaml

from aframe_dag.config import load_config
from aframe_dag.plan import plan
from tests.executables.train.conftest import TINY_CONFIG, write_inputs
from tests.fixtures.pool import REPO_ROOT, Pool

pytestmark = pytest.mark.condor

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))
BATCHES = 2  # one epoch of two batches: the node is started three times (85, 85, 0)
CONFIG = {**TINY_CONFIG, "data": {**TINY_CONFIG["data"], "batches_per_epoch": BATCHES, "batch_size": 8},
          "trainer": {**TINY_CONFIG["trainer"], "max_epochs": 1}}


def is_train_line(tokens: list[str]) -> bool:
    """aframe.dag's CONFIG line and the lines that describe the train node itself (not its edges)."""
    if tokens[:1] == ["CONFIG"]:
        return True
    if tokens[:1] == ["SCRIPT"]:  # PRE, and in file-transfer mode the POST script that lands the outputs
        kind = next(k for k, token in enumerate(tokens) if token in ("PRE", "POST"))
        return tokens[kind + 1: kind + 2] == ["train"]
    return tokens[:1] in (["JOB"], ["VARS"], ["RETRY"], ["PRE_SKIP"]) and tokens[1:2] == ["train"]


def build_train_only(pool: Pool, directory: Path, *overrides: str) -> Path:
    """Build the micro run with a tiny wall-clock budget and write the train node alone into train.dag."""
    text = (REPO_ROOT / "tests" / "data" / "micro.ini").read_text()
    for name in ["TRAIN_DATA_DIR", "TEST_DATA_DIR", "TRAIN_RUN_DIR", "CONDOR_DIR", "RESULTS_DIR", "TMPDIR"]:
        text = text.replace(f"$AFRAME_{name}", str(directory / name.lower()))
    (directory / "run.ini").write_text(text + "\n[train]\nmax_wallclock = 0.001\n")
    (directory / "train.yaml").write_text(yaml.safe_dump(CONFIG))
    pool.own(directory)
    pool.run([AFRAME_DAG, "build", directory / "run.ini", *(f"--set={item}" for item in overrides)], cwd=directory)
    condor = directory / "condor_dir"
    config = load_config(condor / "run.ini.resolved")
    (node,) = [node for node in plan(config).nodes if node.name == "train"]
    waveforms, validation, first, *others, _config = map(Path, node.inputs)  # the train.yaml is read as is
    scratch = directory / "synthetic"
    write_inputs(scratch, count=16, sample_rate=config["data"]["sample_rate"],
                 names={"waveforms": waveforms, "validation": validation}, planned=[first, *others])
    lines = (condor / "aframe.dag").read_text().splitlines()
    mine = [line for line in lines if is_train_line(line.split())]
    (condor / "train.dag").write_text("\n".join(mine) + "\n")
    pool.own(directory)
    return condor


def test_exit_85_is_requeued_by_htcondor_and_training_completes_from_last_ckpt(condor_pool: Pool,
                                                                                 pool_dir: Path) -> None:
    condor = build_train_only(condor_pool, pool_dir)
    assert "--max-wallclock 0.001" in (condor / "train.dag").read_text()
    assert "checkpoint_exit_code = 85" in (condor / "train.sub").read_text()
    condor_pool.submit_dag(condor / "train.dag", "-batch-name", "requeue")
    assert condor_pool.wait_dag(condor / "train.dag", timeout=300) == 0, condor_pool.dagman_out_tail(
        condor / "train.dag")

    run_dir = pool_dir / "train_run_dir"
    assert (run_dir / "model.pt").is_file() and (run_dir / "best.ckpt").is_file()
    last = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == BATCHES
    with open(run_dir / "metrics.csv", newline="") as handle:
        validated = [row["epoch"] for row in csv.DictReader(handle) if row.get("valid_auroc")]
    assert validated == ["0"]  # the one epoch was validated once, although its last step ended a start
    events = list(htcondor2.JobEventLog(str(condor / "logs" / "train.log")).events(0))
    kinds = [event.type for event in events]
    assert kinds.count(htcondor2.JobEventType.JOB_TERMINATED) == 1, kinds  # requeued in place, not retried
    ad = classad2.parseOne(condor_pool.run(["condor_history", str(events[0].cluster), "-l"]).stdout)
    # HTCondor counted the exits with checkpoint_exit_code as checkpoints and restarted the job in its slot
    assert ad["SuccessCheckpointExitCode"] == 85 and ad["CheckpointNumber"] >= 1 and ad["ExitCode"] == 0, ad
    starts = (condor / "logs" / "train.err").read_text()
    assert starts.count("exiting 85 to be started again") == BATCHES
    assert starts.count("aframe-train: resuming from") == BATCHES
    nodes_log = (condor / "train.dag.nodes.log").read_text()
    assert nodes_log.count("Job submitted from host") == 1  # DAGMan submitted it once: no RETRY was spent

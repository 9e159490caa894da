"""The micro run built with ``[tune] enabled = true``: its tune-trial and tune-select nodes run by ``aframe-dag run``.

The data nodes are not run: small synthetic inputs are written at the paths the plan gives the trials (the data stage
has its own end-to-end test). Two trials run at once, as `[tune] max_parallel` allows. Trial 1 is killed (SIGKILL)
mid-training; the executor's RETRY starts it again and it continues its own Optuna trial's parameters from
``last.ckpt``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from optuna.trial import TrialState

from aframe_dag.builder.build import build
from aframe_dag.init.init import run_directories
from executables.train.study import DAG_TRIAL, storage

from .conftest import TINY_CONFIG, write_inputs

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))
DATA = Path(__file__).resolve().parents[2] / "data"
TRIALS = 3
EPOCHS = 2
CONFIG = {**TINY_CONFIG, "data": {**TINY_CONFIG["data"], "batches_per_epoch": 4, "batch_size": 8}}


def node_pid(arguments: list[str]) -> int | None:
    """The process whose command line holds ``arguments`` in a row (a node the executor started), if running."""
    wanted = "\0".join(arguments) + "\0"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if wanted in (entry / "cmdline").read_text() and "aframe-tune-trial" in (entry / "cmdline").read_text():
                    return int(entry.name)
            except OSError:
                continue
    return None


@pytest.fixture
def tune_run(tmp_path, monkeypatch):
    """The micro run with tune on (3 trials of 2 epochs, two at a time on one CPU each), built, with synthetic inputs
    where the plan wants them."""
    for variable, value in run_directories(tmp_path, None).items():
        monkeypatch.setenv(variable, value)
    shutil.copy(DATA / "micro.ini", tmp_path / "micro.ini")
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(CONFIG))
    result = build(tmp_path / "micro.ini", [
        "tune.enabled=true", f"tune.num_trials={TRIALS}", f"tune.max_epochs={EPOCHS}", "tune.sampler=random",
        "train.checkpoint_minutes=0.0001",  # last.ckpt after every step, so the kill lands mid-training
        "tune.max_parallel=2", "stage:tune-trial.request_cpus=1",  # two trials share the journal at once
        "tune.space=optimizer.learning_rate: loguniform(1e-4, 1e-2)\ndata.waveform_prob: uniform(0.3, 0.7)"])
    trial = next(node for node in result.workflow.nodes if node.stage == "tune-trial")
    waveforms, validation, first, *others, _config = map(Path, trial.inputs)  # the train.yaml is read as is
    rate = float(trial.arguments[trial.arguments.index("--sample-rate") + 1])
    write_inputs(tmp_path / "synthetic", count=16, sample_rate=rate,
                 names={"waveforms": waveforms, "validation": validation}, planned=[first, *others])
    return result


def test_three_trials_one_killed_and_resumed_then_select(tune_run):
    condor = tune_run.condor_dir
    trials = [f"tune-trial-{k:03d}" for k in range(TRIALS)]
    runs = {node.name: Path(node.outputs[0]).parent for node in tune_run.workflow.nodes if node.name in trials}
    only = [item for name in trials for item in ("--only", name)]
    command = [AFRAME_DAG, "run", str(condor), "--workers", "2", *only]
    executor = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        deadline = time.monotonic() + 300
        while killed is None and executor.poll() is None and time.monotonic() < deadline:
            if (runs["tune-trial-001"] / "last.ckpt").exists():
                killed = node_pid(["--trial", "1"])
                if killed is not None:
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        _, stderr = executor.communicate(timeout=600)
    finally:
        if executor.poll() is None:
            executor.kill()
            executor.wait()
    assert killed is not None, "trial 1 finished before it could be killed"
    assert executor.returncode == 0, stderr
    assert stderr.count("tune-trial-001: started") == 2, stderr  # the kill, then the executor's retry

    study = optuna.load_study(study_name="micro", storage=storage(condor / "tune" / "study.journal"))
    by_node = {k: [trial for trial in study.trials if trial.user_attrs.get(DAG_TRIAL) == k] for k in range(TRIALS)}
    assert [trial.state for trial in by_node[1]][0] == TrialState.FAIL  # the killed attempt's trial
    assert len({json.dumps(trial.params, sort_keys=True) for trial in by_node[1]}) == 1  # its continuation: same
    ended = [trials_of_node[-1] for trials_of_node in by_node.values()]
    assert all(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in ended)
    assert all(len(trials_of_node) == 1 for k, trials_of_node in by_node.items() if k != 1)
    assert len({json.dumps(trial.params, sort_keys=True) for trial in ended}) == TRIALS
    last = torch.load(runs["tune-trial-001"] / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["hyper_parameters"]["config"]["data"]["waveform_prob"] == pytest.approx(
        by_node[1][0].params["data.waveform_prob"])
    if ended[1].state == TrialState.COMPLETE:
        assert last["global_step"] == EPOCHS * CONFIG["data"]["batches_per_epoch"]

    select = subprocess.run([AFRAME_DAG, "run", str(condor), "--only", "tune-select"], capture_output=True,
                            text=True, timeout=300)
    assert select.returncode == 0, select.stderr
    (node,) = [node for node in tune_run.workflow.nodes if node.name == "tune-select"]
    model = Path(node.outputs[0])
    summary = json.loads((model.parent / "tune-summary.json").read_text())
    best = max((trial for trial in ended if trial.state == TrialState.COMPLETE), key=lambda trial: trial.value)
    assert summary["best"]["number"] == best.number
    assert model.read_bytes() == (runs[f"tune-trial-{best.user_attrs[DAG_TRIAL]:03d}"] / "model.pt").read_bytes()
    assert (model.parent / "batch.hdf5").is_file() and (condor / "done" / "tune-select.json").is_file()


@pytest.mark.parametrize("tune", [False, True])
def test_max_wallclock_reaches_every_training_node_only_when_set(tmp_path, monkeypatch, tune):
    for variable, value in run_directories(tmp_path, None).items():
        monkeypatch.setenv(variable, value)
    shutil.copy(DATA / "micro.ini", tmp_path / "micro.ini")
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(CONFIG))
    for limit, expected in (("0", None), ("600", "600")):
        workflow = build(tmp_path / "micro.ini", [f"tune.enabled={str(tune).lower()}", f"train.max_wallclock={limit}"],
                         dry_run=True).workflow
        nodes = [node for node in workflow.nodes if node.stage in ("train", "tune-trial")]
        assert len(nodes) == (2 if tune else 1)
        for node in nodes:
            arguments = list(node.arguments)
            given = arguments[arguments.index("--max-wallclock") + 1] if "--max-wallclock" in arguments else None
            assert given == expected, node.name

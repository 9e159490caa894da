"""Reuse end to end (issue 13): a second run that exports the same model and reuses the first run's testing data.

The first run is the session's ``small_run`` (the micro run's model over 400 s of new test data). The second one
runs nothing but export and what follows it, and its detection statistics equal the first run's bit for bit.
"""

from __future__ import annotations

import subprocess

import h5py
import numpy as np
import pytest

from aframe_dag.builder.build import build
from aframe_dag.init.init import run_directories
from tests.fixtures.micro import AFRAME_DAG, RUN_TIMEOUT, copy_micro_config

pytestmark = pytest.mark.slow

AFTER_TRAINING = {"export", "infer", "aggregate", "sv", "summary"}


def detection_statistics(path) -> np.ndarray:
    with h5py.File(path) as events:
        return events["parameters/detection_statistic"][:]


def test_a_reused_model_and_data_rerun_only_inference(small_run, tmp_path, monkeypatch):
    first = small_run.environment
    own = run_directories(tmp_path, None)
    for variable in ("AFRAME_CONDOR_DIR", "AFRAME_RESULTS_DIR", "AFRAME_TMPDIR"):
        first[variable] = own[variable]
    for variable, value in first.items():
        monkeypatch.setenv(variable, value)
    result = build(copy_micro_config(tmp_path), [*small_run.overrides, f"run.reuse={small_run.condor}"])
    assert {node.stage for node in result.workflow.nodes} == {"background", "injections", "merge"} | AFTER_TRAINING
    assert any(line.startswith("background: 1 of 1 nodes done in") for line in result.reused)

    run = subprocess.run([AFRAME_DAG, "run", str(result.condor_dir), "--workers", "2"], capture_output=True,
                         text=True, timeout=RUN_TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    stages = {node.name: node.stage for node in result.workflow.nodes}
    ran = {path.stem for path in (result.condor_dir / "logs").glob("*.out")}
    assert "export" in ran and {stages[name] for name in ran} <= AFTER_TRAINING, sorted(ran)
    for name in ("background", "foreground"):
        before = detection_statistics(small_run.events[name])
        after = detection_statistics(tmp_path / "results" / f"{name}.hdf5")
        assert before.dtype == after.dtype and before.tobytes() == after.tobytes(), name
